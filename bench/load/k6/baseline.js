// baseline: the steady rate for 5 minutes.
import {
  SUMMARY_TREND_STATS,
  constantRate,
  loginDemoUsers,
  overrides,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 300, rate: 500, vus: 20 });

export const options = {
  scenarios: {
    baseline: constantRate(o),
  },
  thresholds: {
    http_req_duration: ['p(95)<200', 'p(99)<500'],
    http_req_failed: ['rate<0.005'],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
