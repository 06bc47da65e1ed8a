#!/usr/bin/env bash
# What `fleetdeck agent` costs and how fast a push lands on a real Collector, on loopback:
# starts a fleetdeck server and one supervisor of otelcol-contrib, pushes two filelog ->
# batch -> otlphttp configurations in turn, and prints
#   - per push: seconds from `fleetdeck push` returning to the agent showing APPLIED, and the
#     supervisor's own split (validate / restart / settle, from its log);
#   - then, idle for IDLE seconds (the Collector running and pushing its own metrics every
#     10 s, heartbeats every 30 s): the supervisor's RSS and CPU, and the Collector's RSS.
#
# Usage: scripts/bench-agent.sh
#   ROUNDS=6    pushes
#   SETTLE=5    the supervisor's settle window (s)
#   IDLE=60     seconds to measure the idle supervisor over
#   BIN=PATH    the fleetdeck binary (default: a release build made here)
#   OTELCOL=PATH  the Collector (default: ../shared/peers/otelcol.sh installs it)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}; SETTLE=${SETTLE:-5}; IDLE=${IDLE:-60}
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-target}/release/fleetdeck
fi
OTELCOL=${OTELCOL:-$(bash ../shared/peers/otelcol.sh | tail -n1)}
WORK=$(mktemp -d)
KEY=bench-agent-$$
TOKEN=$KEY-api
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPAMP=$(free_port); API=$(free_port)
: > "$WORK/empty.toml"
cleanup() {
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The server runs from a copy, so the agent's binary pages are not already in memory
# because the server touched them (a host with only the agent has no server beside it).
cp "$BIN" "$WORK/fleetdeck-server"
FLEETDECK_SECRET_KEY=$KEY FLEETDECK_API_TOKEN=$TOKEN "$WORK/fleetdeck-server" --no-tui \
  --listen 127.0.0.1:$OPAMP --api-listen 127.0.0.1:$API --data-dir "$WORK/server" \
  --config "$WORK/empty.toml" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
sleep 1
FLEETDECK_LOG=info "$BIN" agent --server ws://127.0.0.1:$OPAMP/v1/opamp --collector "$OTELCOL" \
  --state-dir "$WORK/agent" --secret-key "$KEY" --name bench-1 --label bench=agent \
  --settle "$SETTLE" --config "$WORK/empty.toml" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
export FLEETDECK_SERVER=http://127.0.0.1:$API FLEETDECK_API_TOKEN=$TOKEN
cli() { "$BIN" --config "$WORK/empty.toml" "$@"; }
for _ in $(seq 100); do
  cli get agents -l bench=agent 2>/dev/null | grep -q connected && break
  sleep 0.1
done
echo "collector: $("$OTELCOL" --version)"

: > "$WORK/app.log"
for c in a b; do
  timeout=$([ $c = a ] && echo 200ms || echo 300ms)
  cat > "$WORK/$c.yaml" <<EOF
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bench-$c}
spec:
  sources:
    - type: filelog
      parameters: {include: ["$WORK/app.log"], start_at: end}
  processors:
    - type: batch
      parameters: {timeout: $timeout}
  destinations:
    - type: otlphttp
      parameters: {endpoint: "http://127.0.0.1:9"}
EOF
  cli apply -f "$WORK/$c.yaml" > /dev/null
done

echo "push  to-applied_s  validate_ms restart_ms settle_ms"
for i in $(seq "$ROUNDS"); do
  c=$([ $((i % 2)) = 1 ] && echo a || echo b)
  before=$(grep -c "configuration applied" "$WORK/agent.log" || true)
  start=$(date +%s.%N)
  cli push "bench-$c" --selector bench=agent > /dev/null
  until cli get agents -l bench=agent | grep -q "bench-$c:[0-9]* applied"; do sleep 0.05; done
  end=$(date +%s.%N)
  for _ in $(seq 50); do
    [ "$(grep -c "configuration applied" "$WORK/agent.log" || true)" -gt "$before" ] && break
    sleep 0.05
  done
  split=$(grep "configuration applied" "$WORK/agent.log" | tail -n1 |
    sed -E 's/.*validate_ms=([0-9]+) restart_ms=([0-9]+) settle_ms=([0-9]+).*/\1 \2 \3/')
  printf "%-5s %-13.2f %s\n" "$i" "$(echo "$end - $start" | bc)" "$split"
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
COLLECTOR_PID=$(awk '{print $1}' "$WORK/agent/collector.pid")
HZ=$(getconf CLK_TCK)
t0=$(ticks "$AGENT_PID"); s0=$(date +%s.%N)
sleep "$IDLE"
t1=$(ticks "$AGENT_PID"); s1=$(date +%s.%N)
echo "idle ${IDLE}s (Collector running, own metrics every 10 s, heartbeat 30 s):"
anon=$(awk '/^RssAnon/ {print $2}' "/proc/$AGENT_PID/status")
file=$(awk '/^RssFile/ {print $2}' "/proc/$AGENT_PID/status")
cpu_ms=$(( (t1 - t0) * 1000 / HZ ))
echo "  supervisor RSS $(rss_kib "$AGENT_PID") KiB: anonymous $anon KiB, file-backed (the binary's code) $file KiB"
echo "  supervisor CPU ${cpu_ms} ms in ${IDLE} s = $(echo "scale=4; 100 * $cpu_ms / 1000 / ($s1 - $s0)" | bc) % of a core"
echo "  collector RSS $(rss_kib "$COLLECTOR_PID") KiB"
