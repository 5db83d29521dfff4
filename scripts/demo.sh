#!/usr/bin/env bash
# The main job: builds chat4all, starts the stack on loopback (development
# broker, API, router), sends a few messages through it and shows where to
# look. The stack keeps running until `scripts/stack.sh down`.
#   CHAT_API_PORT=9080 CHAT_ROUTER_PORT=9082 scripts/demo.sh   (other ports)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" \
  --target chat-broker chat-api chat-router
export CHAT_API_PORT=${CHAT_API_PORT:-8080} CHAT_ROUTER_PORT=${CHAT_ROUTER_PORT:-8082}
api=http://127.0.0.1:$CHAT_API_PORT

scripts/stack.sh down >/dev/null 2>&1 || true
echo "demo: starting the stack"
scripts/stack.sh up

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token() {
  curl -sf -X POST "$api/auth/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | json '["access_token"]'
}
subject() {  # the user id inside a JWT
  python3 -c "import base64,json,sys; p=sys.argv[1].split('.')[1]; p+='='*(-len(p)%4); print(json.loads(base64.urlsafe_b64decode(p))['sub'])" "$1"
}
send() {  # send TOKEN SENDER RECIPIENT TEXT
  curl -sf -X POST "$api/v1/messages" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' \
    -d "{\"conversation_id\":\"demo\",\"sender_id\":\"$2\",\"recipient_id\":\"$3\",\"content\":\"$4\"}"
  echo
}

token_a=$(token user_a pass_a)
token_b=$(token user_b pass_b)
user_a=$(subject "$token_a")
user_b=$(subject "$token_b")
echo "demo: user_a sends three messages to user_b (202 = Kafka has them)"
send "$token_a" "$user_a" "$user_b" "Hi b, this went API -> Kafka -> router -> SQLite."
send "$token_a" "$user_a" "$user_b" "Every hop is measured by vigil."
send "$token_b" "$user_b" "$user_a" "Got it!"
for _ in $(seq 1 50); do
  returned=$(curl -sf "$api/v1/conversations/demo/messages" \
    -H "Authorization: Bearer $token_b" | json '["pagination"]["returned"]' || echo 0)
  [ "$returned" -ge 3 ] && break
  sleep 0.2
done
echo "demo: the conversation as user_b reads it"
curl -sf "$api/v1/conversations/demo/messages" -H "Authorization: Bearer $token_b" |
  python3 -m json.tool

cat <<EOT

chat4all is running on loopback:
  API             $api            (users user_a/pass_a, user_b/pass_b)
  API metrics     $api/metrics
  API health      $api/health     (/health/live, /health/ready)
  router metrics  http://127.0.0.1:$CHAT_ROUTER_PORT/metrics
  logs            scripts/stack.sh logs        (JSON, one line per event)
  more routers    scripts/stack.sh scale-router 2
  stop it         scripts/stack.sh down
EOT
