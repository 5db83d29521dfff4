// soak: a moderate rate for 15 minutes; no errors. Memory per service is
// judged from Prometheus by bench/load/analyze (or chat-load's samples).
import {
  SUMMARY_TREND_STATS,
  constantRate,
  loginDemoUsers,
  overrides,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 900, rate: 200, vus: 10 });

export const options = {
  scenarios: {
    soak: constantRate(o),
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
