// stress: the rate steps up by the base rate every STEP seconds until p99
// or errors break (k6 aborts then; the last full step is the breakpoint).
import {
  SUMMARY_TREND_STATS,
  loginDemoUsers,
  overrides,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 300, rate: 1000, vus: 50 });
const step = Number(__ENV.STEP || 15);
const stages = [];
for (let k = 1; k <= Math.max(1, Math.floor(o.duration / step)); k++) {
  stages.push({ duration: '1s', target: o.rate * k });
  stages.push({ duration: `${step - 1}s`, target: o.rate * k });
}

export const options = {
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate: o.rate,
      timeUnit: '1s',
      preAllocatedVUs: o.vus,
      maxVUs: o.vus * 20,
      stages,
    },
  },
  thresholds: {
    http_req_duration: [{ threshold: 'p(99)<25', abortOnFail: true, delayAbortEval: `${step}s` }],
    http_req_failed: [{ threshold: 'rate<0.001', abortOnFail: true, delayAbortEval: `${step}s` }],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  return loginDemoUsers();
}

export default function (users) {
  sendMessage(users, __ITER + __VU * 1000000);
}
