// warmup: a low constant rate for 2 minutes; no errors allowed.
import { loginDemoUsers, overrides, sendMessage } from './common/auth.js';

const o = overrides({ duration: 120, rate: 50, vus: 5 });

export const options = {
  scenarios: {
    warmup: {
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
