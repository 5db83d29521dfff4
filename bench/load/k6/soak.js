// soak: a moderate rate for 15 minutes; no errors. Memory per service is
// judged from Prometheus by bench/load/analyze (or chat-load's samples).
import { loginDemoUsers, overrides, sendMessage } from './common/auth.js';

const o = overrides({ duration: 900, rate: 200, vus: 10 });

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: o.rate,
      timeUnit: '1s',
      duration: `${o.duration}s`,
      preAllocatedVUs: o.vus,
      maxVUs: o.vus * 10,
    },
  },
  thresholds: { http_req_failed: ['rate==0'] },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
