#!/usr/bin/env bash
# Restart runs on loopback: N WebSocket agents are connected, the server goes away and comes
# back on the same port and data dir, and we print how long until every agent is back, the new
# server's peak RSS and open files during the rush, and what admission did.
#
# Usage: scripts/bench-restart.sh [N]     (default 19000)
#   MODE=term     SIGTERM: agents are told when to come back (spread over a few seconds)
#   MODE=kill     kill -9: agents only have their own backoff (1 s doubling, jittered)
#   MODE=rollout  kill -9 in the middle of a phased rollout (agents take APPLY_DELAY_MS,
#                 default 1500, to apply), restart, and check that the rollout resumes, every
#                 agent converges and nothing recorded as applied is lost
#   MAX_NEW=1024  the server's --max-new-agents
#   KILL_AFTER=4  (rollout) seconds after the push before the kill
# One process may hold at most ~20,000 files here, so agents come from several simulate
# processes (9,500 each) on 127.0.0.x source addresses. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-19000}; MODE=${MODE:-term}; MAX_NEW=${MAX_NEW:-1024}; HB=${HB:-30}
PER_PROC=9500
KEY=restart-$(date +%s); TOKEN=$KEY-api
BIN=${BIN:-target/release/fleetdeck}
[ -x "$BIN" ] || cargo build --release --quiet
ulimit -n 20000 2>/dev/null || true
PORT=$((26000 + RANDOM % 2000)); API=$((PORT + 1))
DATA=$(mktemp -d)

health() { curl -fsS "http://127.0.0.1:$PORT/healthz" 2>/dev/null || echo '{}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))" "$1" "$2"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rollout() {
  curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API/api/v1/rollouts/bench" 2>/dev/null \
    || echo '{}'
}
progress() {  # reads a rollout's JSON on stdin; prints: applied in_flight waiting status
  python3 -c "
import json, sys
d = json.loads(sys.stdin.read() or '{}'); p = d.get('progress', {})
print(p.get('applied', 0), p.get('in_flight', 0), p.get('waiting', 0), json.dumps(d.get('status', '?')).replace(' ', ''))
"
}

start_server() {
  "$BIN" --no-tui --listen 127.0.0.1:$PORT --api-listen 127.0.0.1:$API --data-dir "$DATA" \
    --secret-key "$KEY" --api-token "$TOKEN" --heartbeat-interval "$HB" --log-format json \
    --max-new-agents "$MAX_NEW" >>"$DATA/server.log" 2>&1 &
  SERVER=$!
}

cleanup() {
  [ -n "${SIMS:-}" ] && kill -INT $SIMS 2>/dev/null || true
  [ -n "${SERVER:-}" ] && kill -INT "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "data dir kept: $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT

start_server
for _ in $(seq 100); do [ "$(field "$(health)" status)" = ok ] && break; sleep 0.1; done

SIMS=""; left=$N; seed=1; first=2
while [ "$left" -gt 0 ]; do
  n=$(( left < PER_PROC ? left : PER_PROC ))
  "$BIN" simulate --server "ws://127.0.0.1:$PORT/v1/opamp" --agents "$n" --secret-key "$KEY" \
    --seed "$seed" --heartbeat "$HB" --ramp 4000 --source-ips "127.0.0.$first-127.0.0.$((first + 18))" \
    --metrics-interval 0 --apply-delay-ms "${APPLY_DELAY_MS:-1500}" >"$DATA/sim-$seed.log" 2>&1 &
  SIMS="$SIMS $!"
  left=$((left - n)); seed=$((seed + 1)); first=$((first + 20))
done
for _ in $(seq 900); do
  [ "$(field "$(health)" connected_agents)" -ge "$N" ] && break
  sleep 0.2
done
echo "mode=$MODE agents=$N connected=$(field "$(health)" connected_agents) max_new_agents=$MAX_NEW"

if [ "$MODE" = rollout ]; then
  cat >"$DATA/bench.yaml" <<YAML
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bench}
spec:
  sources: [{type: otlp}]
  processors: [{type: batch}]
  destinations: [{type: debug}]
YAML
  export FLEETDECK_SERVER=http://127.0.0.1:$API FLEETDECK_API_TOKEN=$TOKEN
  "$BIN" apply -f "$DATA/bench.yaml" >/dev/null
  "$BIN" push bench --selector service.name=otelcol-contrib >/dev/null
  sleep "${KILL_AFTER:-4}"
  read -r applied_before _ _ status_before < <(rollout | progress)
  echo "before kill -9: applied=$applied_before status=$status_before"
  kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true
elif [ "$MODE" = kill ]; then
  kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true
else
  kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true
fi

t0=$(now)
start_server
# /healthz is not a good readiness probe here: its connection queues behind the agents'.
t_ready=$(python3 - "$DATA/server.log" "$t0" <<'PY'
import json, sys, time
from datetime import datetime
log, t0 = sys.argv[1], float(sys.argv[2])
for _ in range(600):
    for line in open(log):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        ts = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        if ts >= t0 and "listening for agents" in e.get("fields", {}).get("message", ""):
            print(f"{ts:.3f}"); sys.exit()
    time.sleep(0.05)
print(f"{time.time():.3f}")
PY
)
if [ "$MODE" = rollout ]; then
  read -r applied_after _ _ status_after < <(rollout | progress)
  echo "after restart, before agents return: applied=$applied_after status=$status_after (recorded before the kill: $applied_before)"
fi

peak_rss=0; peak_fds=0; back=""
for _ in $(seq 3000); do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$SERVER/fd" 2>/dev/null | wc -l)
  [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
  [ "$fds" -gt "$peak_fds" ] && peak_fds=$fds
  if [ -z "$back" ] && [ "$(field "$(health)" connected_agents)" -ge "$N" ]; then
    back=$(now)
    [ "$MODE" = rollout ] || break
  fi
  if [ "$MODE" = rollout ] && [ -n "$back" ]; then
    read -r applied in_flight waiting status < <(rollout | progress)
    if echo "$status" | grep -q completed; then done_at=$(now); break; fi
  fi
  sleep 0.1
done
h=$(health)
echo "server listening $(since "$t0" "$t_ready") s after the restart began"
echo "all $N agents back $(since "$t_ready" "${back:-$(now)}") s after it listened (connected=$(field "$h" connected_agents))"
echo "during the rush: peak RSS $((peak_rss / 1024)) MiB, peak open files $peak_fds," \
  "deferred_agents=$(field "$h" deferred_agents) refused_connections=$(field "$h" refused_connections)"
if [ "$MODE" = rollout ]; then
  read -r applied in_flight waiting status < <(rollout | progress)
  echo "rollout: status=$status applied=$applied in_flight=$in_flight waiting=$waiting," \
    "completed $(since "$t_ready" "${done_at:-$(now)}") s after the restarted server listened"
fi
