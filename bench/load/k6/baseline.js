// baseline: the steady rate for 5 minutes.
import { loginDemoUsers, overrides, sendMessage } from './common/auth.js';

const o = overrides({ duration: 300, rate: 500, vus: 20 });

export const options = {
  scenarios: {
    baseline: {
      executor: 'constant-arrival-rate',
      rate: o.rate,
      timeUnit: '1s',
      duration: `${o.duration}s`,
      preAllocatedVUs: o.vus,
      maxVUs: o.vus * 10,
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<200', 'p(99)<500'],
    http_req_failed: ['rate<0.005'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
