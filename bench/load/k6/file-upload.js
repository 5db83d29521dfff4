// file-upload: VUs upload a 100 KB - 1 MB file (POST /v1/files, multipart:
// file, conversation_id), then send a message carrying its file_id.
import http from 'k6/http';
import { check } from 'k6';
import {
  BASE_URL,
  SUMMARY_TREND_STATS,
  loginDemoUsers,
  overrides,
  sendMessage,
} from './common/auth.js';

const o = overrides({ duration: 120, rate: 0, vus: 10 });
const MAX_BYTES = 1024 * 1024;
const MIN_BYTES = 100 * 1024;
// One megabyte of filler; each upload takes a prefix of random length.
const FILLER = 'x'.repeat(MAX_BYTES);

export const options = {
  scenarios: {
    'file-upload': {
      executor: 'constant-vus',
      vus: o.vus,
      duration: `${o.duration}s`,
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<1000'],
    http_req_failed: ['rate<0.01'],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

// Only participants may upload: each VU's conversation gets a first message
// from both users (chat-load does the same before it starts).
export function setup() {
  const users = loginDemoUsers();
  for (let vu = 1; vu <= o.vus; vu++) {
    sendMessage(users, 0, `load-files-k6-${vu}`);
    sendMessage(users, 1, `load-files-k6-${vu}`);
  }
  return users;
}

export default function (users) {
  const seq = __ITER + __VU * 1000000;
  const sender = users[seq % 2];
  const conversation = `load-files-k6-${__VU}`;
  const bytes = MIN_BYTES + Math.floor(Math.random() * (MAX_BYTES - MIN_BYTES));
  const res = http.post(
    `${BASE_URL}/v1/files`,
    {
      conversation_id: conversation,
      file: http.file(FILLER.substring(0, bytes), `load-${seq}.bin`,
        'application/octet-stream'),
    },
    { headers: { Authorization: `Bearer ${sender.token}` } },
  );
  const stored = check(res, {
    'file stored (201)': (r) => r.status === 201 && !!r.json('file_id'),
  });
  if (stored) sendMessage(users, seq, conversation, res.json('file_id'));
}
