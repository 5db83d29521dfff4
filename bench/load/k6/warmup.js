// warmup: a low constant rate for 2 minutes; no errors allowed.
import {
  SUMMARY_TREND_STATS,
  constantRate,
  loginDemoUsers,
  overrides,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 120, rate: 50, vus: 5 });

export const options = {
  scenarios: {
    warmup: constantRate(o),
  },
  thresholds: { http_req_failed: ['rate==0'] },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
