// spike: 10x the base rate within 10 s, held, back down, then a quiet
// minute for the consumers to drain (check it with check-zero-loss --wait).
import {
  SUMMARY_TREND_STATS,
  loginDemoUsers,
  overrides,
  scaleStages,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 120, rate: 200, vus: 5 });

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: o.rate,
      timeUnit: '1s',
      preAllocatedVUs: o.vus * 10,
      maxVUs: o.vus * 100,
      stages: scaleStages(
        [
          { seconds: 10, target: o.rate },
          { seconds: 10, target: o.rate * 10 },
          { seconds: 30, target: o.rate * 10 },
          { seconds: 10, target: o.rate },
          { seconds: 60, target: o.rate },
        ],
        o.duration,
      ),
    },
  },
  thresholds: { http_req_failed: ['rate<0.01'] },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
