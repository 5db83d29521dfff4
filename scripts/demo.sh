#!/usr/bin/env bash
# The main job: builds chat4all, starts the stack on loopback (development
# broker, API, router, platform simulator, WhatsApp and Instagram
# connectors), sends a few messages through it, shows a WhatsApp and an
# Instagram message reach DELIVERED, and shows where to look. The stack keeps
# running until `scripts/stack.sh down`.
#   CHAT_API_PORT=9080 CHAT_ROUTER_PORT=9082 scripts/demo.sh   (other ports)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" \
  --target chat-broker chat-api chat-router chat-platform-sim chat-connector
export CHAT_API_PORT=${CHAT_API_PORT:-8080} CHAT_ROUTER_PORT=${CHAT_ROUTER_PORT:-8082}
export CHAT_PLATFORM_PORT=${CHAT_PLATFORM_PORT:-8085}
export CHAT_CONNECTOR_WHATSAPP_PORT=${CHAT_CONNECTOR_WHATSAPP_PORT:-8083}
export CHAT_CONNECTOR_INSTAGRAM_PORT=${CHAT_CONNECTOR_INSTAGRAM_PORT:-8084}
export CHAT_PROMETHEUS_PORT=${CHAT_PROMETHEUS_PORT:-9090}
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
send() {  # send TOKEN SENDER RECIPIENT TEXT CONVERSATION
  curl -sf -X POST "$api/v1/messages" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' \
    -d "{\"conversation_id\":\"$5\",\"sender_id\":\"$2\",\"recipient_id\":\"$3\",\"content\":\"$4\"}"
  echo
}

token_a=$(token user_a pass_a)
token_b=$(token user_b pass_b)
user_a=$(subject "$token_a")
user_b=$(subject "$token_b")
echo "demo: user_a opens a private conversation with user_b (only its members may read it)"
conversation=$(curl -sf -X POST "$api/v1/conversations" -H "Authorization: Bearer $token_a" \
  -H 'Content-Type: application/json' \
  -d "{\"type\":\"private\",\"participant_ids\":[\"$user_b\"]}" | json '["conversation_id"]')
echo "demo: conversation $conversation"
echo "demo: user_a sends three messages to user_b (202 = Kafka has them)"
send "$token_a" "$user_a" "$user_b" "Hi b, this went API -> Kafka -> router -> SQLite." "$conversation"
send "$token_a" "$user_a" "$user_b" "Every hop is measured by vigil." "$conversation"
send "$token_b" "$user_b" "$user_a" "Got it!" "$conversation"
for _ in $(seq 1 50); do
  returned=$(curl -sf "$api/v1/conversations/$conversation/messages" \
    -H "Authorization: Bearer $token_b" | json '["pagination"]["returned"]' 2>/dev/null || echo 0)
  [ "$returned" -ge 3 ] && break
  sleep 0.2
done
echo "demo: the conversation as user_b reads it"
curl -sf "$api/v1/conversations/$conversation/messages" -H "Authorization: Bearer $token_b" |
  python3 -m json.tool

echo "demo: user_a writes to a WhatsApp and an Instagram user (via the connectors)"
send "$token_a" "$user_a" "whatsapp:+5511999990001" "Hello WhatsApp, from chat4all." demo-platforms
send "$token_a" "$user_a" "instagram:@chat4all_demo" "Hello Instagram, from chat4all." demo-platforms
platform_statuses() {
  curl -sf "$api/v1/conversations/demo-platforms/messages" \
    -H "Authorization: Bearer $token_a" |
    python3 -c "import json,sys; print(' '.join(m['status'] for m in json.load(sys.stdin)['messages']))" \
      2>/dev/null || true
}
deadline=$((SECONDS + 60))
until [ "$(platform_statuses)" = "DELIVERED DELIVERED" ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "demo: the platform messages were not DELIVERED within 60 s (statuses: $(platform_statuses))" >&2
    echo "demo: see scripts/stack.sh logs connector-whatsapp / connector-instagram" >&2
    exit 1
  fi
  sleep 0.2
done
echo "demo: both reached the (simulated) platforms: status DELIVERED"
curl -sf "$api/v1/conversations/demo-platforms/messages" -H "Authorization: Bearer $token_a" |
  python3 -m json.tool

cat <<EOT

chat4all is running on loopback:
  API             $api            (users user_a/pass_a, user_b/pass_b)
  API metrics     $api/metrics
  API health      $api/health     (/health/live, /health/ready)
  router metrics  http://127.0.0.1:$CHAT_ROUTER_PORT/metrics
  connectors      http://127.0.0.1:$CHAT_CONNECTOR_WHATSAPP_PORT/metrics (WhatsApp), http://127.0.0.1:$CHAT_CONNECTOR_INSTAGRAM_PORT/metrics (Instagram)
  platform sim    http://127.0.0.1:$CHAT_PLATFORM_PORT/admin/stats   (faults: POST/DELETE /admin/faults)
  prometheus      http://127.0.0.1:$CHAT_PROMETHEUS_PORT   (targets, rules, alerts; dashboards: monitoring/README.md)
  logs            scripts/stack.sh logs        (JSON, one line per event)
  more routers    scripts/stack.sh scale-router 2
  stop it         scripts/stack.sh down
EOT

# The load study (bench/load): warmup, baseline, spike, a short stress, the
# zero-loss check, reports with charts; it stops the stack at the end.
# scripts/demo.sh --full runs the full-length scenarios; LOAD_STUDY=0 skips.
[ "${LOAD_STUDY:-1}" = 0 ] || scripts/load-study.sh --stop-stack "$@"
