// Shared by the k6 scenarios: login as the demo users, the message payload
// chat-load sends, the checks and the accepted-message counter, and the
// --duration/--rate/--vus overrides (as environment variables here:
// k6 run -e DURATION=20 -e RATE=100 baseline.js).
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import encoding from 'k6/encoding';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const accepted = new Counter('chat_messages_accepted');

// Seconds for the scenario (its shape scales to it), base rate, base VUs.
export function overrides(defaults) {
  return {
    duration: Number(__ENV.DURATION || defaults.duration),
    rate: Number(__ENV.RATE || defaults.rate),
    vus: Number(__ENV.VUS || defaults.vus),
  };
}

// The trend statistics every scenario's summary reports (the analyzer reads
// p(90), p(95) and p(99)).
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];

// The open model at o.rate per second for o.duration seconds, as chat-load
// runs warmup, baseline and soak.
export function constantRate(o) {
  return {
    executor: 'constant-arrival-rate',
    rate: o.rate,
    timeUnit: '1s',
    duration: `${o.duration}s`,
    preAllocatedVUs: o.vus,
    maxVUs: o.vus * 10,
  };
}

// Stages scaled so that they last `total` seconds.
export function scaleStages(stages, total) {
  const planned = stages.reduce((sum, s) => sum + s.seconds, 0);
  return stages.map((s) => ({
    duration: `${Math.max(1, Math.round((s.seconds * total) / planned))}s`,
    target: s.target,
  }));
}

function subject(token) {
  const payload = token.split('.')[1];
  return JSON.parse(encoding.b64decode(payload, 'rawurl', 's')).sub;
}

function login(username, password) {
  const res = http.post(
    `${BASE_URL}/auth/token`,
    JSON.stringify({ username, password }),
    { headers: { 'Content-Type': 'application/json' } },
  );
  if (res.status !== 200) {
    throw new Error(`login as ${username} failed: ${res.status} ${res.body}`);
  }
  const token = res.json('access_token');
  return { token, userId: subject(token) };
}

// Call from setup(): both demo users.
export function loginDemoUsers() {
  return [login('user_a', 'pass_a'), login('user_b', 'pass_b')];
}

// The same message chat-load sends; sender and recipient alternate.
export function sendMessage(users, seq, conversation, fileId) {
  const sender = users[seq % 2];
  const recipient = users[(seq + 1) % 2];
  const body = {
    conversation_id: conversation || `load-k6-${seq % 32}`,
    sender_id: sender.userId,
    recipient_id: recipient.userId,
    content: `chat-load message ${seq}: the quick brown fox jumps over the lazy dog`,
  };
  if (fileId) body.file_id = fileId;
  const res = http.post(`${BASE_URL}/v1/messages`, JSON.stringify(body), {
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${sender.token}`,
    },
  });
  const ok = check(res, {
    'message accepted (202)': (r) => r.status === 202 && !!r.json('message_id'),
  });
  if (ok) accepted.add(1);
  return res;
}
