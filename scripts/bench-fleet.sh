#!/usr/bin/env bash
# Load run on loopback: starts a fleetdeck server and enough `fleetdeck simulate` processes
# for N WebSocket agents, then prints what the server holds and what it costs:
#   agents held, server RSS per agent, CPU per heartbeat round trip, messages/s,
#   and (with PUSH=1) the time from `push` to every agent reporting APPLIED.
#
# Usage: scripts/bench-fleet.sh [N ...]            (default: 1000 10000 19000)
#   HB=5        heartbeat interval offered to agents (s)
#   WINDOW=20   seconds of steady state to measure CPU over
#   PUSH=1      also push a configuration to all agents in one phase and time it (PUSH=3:
#               three pushes, each of a new configuration); each push prints
#               cli_s/server_s[server_cpu_s/agents_cpu_s]
#   METRICS=10  agents push their own metrics every 10 s, as `fleetdeck simulate` does by
#               default (METRICS=0: idle agents that send no telemetry); the first line says
#               which, and every figure depends on it
#   APPLY_DELAY_MS=1500  simulated Collector restart on a new config (default 0: the push
#               time then measures fleetdeck's fan-out and bookkeeping, not the agents)
#   PERF=FILE   record the server with `perf` during the first push and write the hottest symbols
#               to FILE (with PUSH=1); the recording itself is kept as FILE.data
#   MALLOCS=1   also count the server's malloc calls and futex calls during each push (a perf
#               uprobe on glibc's malloc, which slows every allocation: the push's times are
#               then not comparable with uninstrumented ones); each push then ends in
#               {mallocs/futex}
#   IDLE_AFTER=20  after the pushes, measure the steady heartbeat again for this many
#               seconds, now with the finished rollouts in place; printed last as
#               "after: user/total µs per round trip"
#   BIN=PATH    the fleetdeck binary to measure (default: a release build made here)
#   HEAP=1      run the server under heaptrack and, after the window, kill -9 it: what it
#               held then ("leaked") is printed per part, in bytes per agent (no push; the
#               CPU figures of that run include heaptrack's own overhead); HELD_OUT=FILE
#               keeps the held allocation stacks (one "frames… bytes" line each) there
# One process may hold at most ~20,000 files here, so agents are spread over several
# simulate processes (9,500 each) and 127.0.0.x source addresses. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 19000)
HB=${HB:-5}; WINDOW=${WINDOW:-20}; PUSH=${PUSH:-0}; HEAP=${HEAP:-0}
PER_PROC=9500
KEY=bench-$(date +%s)
TOKEN=$KEY-api
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/fleetdeck
fi
ulimit -n 20000 2>/dev/null || true
if [ "${MALLOCS:-0}" = 1 ]; then
  # The uprobe outlives this run (perf probe -d probe_libc:malloc removes it).
  perf probe -q -x "$(ldd "$BIN" | awk '/libc\.so/ {print $3}')" -a malloc 2>/dev/null || true
fi
TCK=$(getconf CLK_TCK)

sims_ticks() { local t=0 p; for p in $SIMS; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }   # utime stime
health() { curl -fsS "http://127.0.0.1:$PORT/healthz" 2>/dev/null || echo '{}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))" "$1" "$2"; }

cleanup() {
  [ -n "${SIMS:-}" ] && kill -INT $SIMS 2>/dev/null || true
  [ -n "${SERVER:-}" ] && kill -INT "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

METRICS=${METRICS:-10}
if [ "$METRICS" -gt 0 ]; then
  echo "# agents report their own telemetry every $METRICS s"
else
  echo "# idle agents: no own telemetry"
fi
printf '%-7s %-7s %-9s %-9s %-10s %-9s %-8s %-11s %-11s %s\n' \
  agents held base_MiB rss_MiB KiB/agent msg/s cpu% user_us/rt total_us/rt "push: cli_s/server_s[cpu_s server/agents]"
for N in "${SIZES[@]}"; do
  PORT=$((24000 + RANDOM % 2000)); API=$((PORT + 1))
  DATA=$(mktemp -d)
  WRAP=(); [ "$HEAP" = 1 ] && WRAP=(heaptrack -o "$DATA/heap")
  "${WRAP[@]}" "$BIN" --no-tui --listen 127.0.0.1:$PORT --api-listen 127.0.0.1:$API --data-dir "$DATA" \
    --secret-key "$KEY" --api-token "$TOKEN" --heartbeat-interval "$HB" --log-format json \
    >"$DATA/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do [ "$(field "$(health)" status)" = ok ] && break; sleep 0.1; done
  # Under heaptrack the server is the wrapper's child.
  [ "$HEAP" = 1 ] && SERVER=$(pgrep -f "^$BIN --no-tui --listen 127.0.0.1:$PORT " | head -1)
  BASE=$(rss_kib "$SERVER")

  SIMS=""; left=$N; seed=1; first=2
  while [ "$left" -gt 0 ]; do
    n=$(( left < PER_PROC ? left : PER_PROC ))
    last=$(( first + 18 ))
    "$BIN" simulate --server "ws://127.0.0.1:$PORT/v1/opamp" --agents "$n" --secret-key "$KEY" \
      --seed "$seed" --heartbeat "$HB" --ramp 4000 --source-ips "127.0.0.$first-127.0.0.$last" \
      --metrics-interval "$METRICS" --apply-delay-ms "${APPLY_DELAY_MS:-0}" \
      >"$DATA/sim-$seed.log" 2>&1 &
    SIMS="$SIMS $!"
    left=$((left - n)); seed=$((seed + 1)); first=$((first + 20))
  done

  held=0
  for _ in $(seq 600); do
    held=$(field "$(health)" connected_agents)
    [ "$held" -ge "$N" ] && break
    sleep 0.2
  done
  sleep 10   # every agent has sent a few heartbeats at the offered interval

  read -r u0 s0 < <(cpu_ticks "$SERVER"); m0=$(field "$(health)" messages_total); t0=$(date +%s.%N)
  sleep "$WINDOW"
  read -r u1 s1 < <(cpu_ticks "$SERVER"); m1=$(field "$(health)" messages_total); t1=$(date +%s.%N)
  RSS=$(rss_kib "$SERVER")
  held=$(field "$(health)" connected_agents)

  if [ "$HEAP" = 1 ]; then
    kill -9 "$SERVER"; SERVER=""; sleep 2
    heaptrack_print -f "$DATA"/heap*.zst --flamegraph-cost-type leaked -F "$DATA/held.txt" >/dev/null 2>&1
    [ -n "${HELD_OUT:-}" ] && cp "$DATA/held.txt" "$HELD_OUT"
    python3 - "$DATA/held.txt" "$held" <<'PY'
import collections, sys
# Each allocation stack still held goes to the first part whose frames it names.
parts = [
    ("session task (future in its tokio task cell)", ["bind_new_task"]),
    ("WebSocket read buffer (tungstenite)", ["read_frame"]),
    ("WebSocket write buffer (tungstenite)", ["buffer_frame"]),
    ("health tree", ["health (codec.rs)", "proto::ComponentHealth", "(health.rs)"]),
    ("published view (AgentView)", ["publish (registry.rs)", "view_mut"]),
    ("labels map", ["merged_labels"]),
    ("description (attribute keys and values)", ["decode_agent_to_server"]),
    ("registry: agent map, states, connections", ["registry.rs"]),
    ("outbox", ["outbox.rs", "chan.rs", "block.rs", "bounded.rs"]),
    ("tokio I/O registration", ["registration_set", "add_source"]),
    ("SQLite page cache", ["sqlite3"]),
]
held, n = collections.Counter(), max(int(sys.argv[2]), 1)
for line in open(sys.argv[1]):
    stack, _, size = line.rstrip().rpartition(" ")
    name = next((p for p, keys in parts if any(k in stack for k in keys)), "other")
    held[name] += int(size)
total = sum(held.values())
print(f"heap held: {total / n:.0f} B per agent")
for name, size in held.most_common():
    print(f"  {size / n:6.0f} B  {100 * size / total:3.0f} %  {name}")
PY
  fi

  push="-"
  if [ "$PUSH" -ge 1 ] && [ "$HEAP" != 1 ]; then
    push=""
    cat >"$DATA/push_time.py" <<'PY'
import json, sys
from datetime import datetime
p0, p1, cpu = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
start = end = None
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    msg = e.get("fields", {}).get("message", "")
    ts = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
    if "rollout: phase 1 started" in msg and start is None:
        start = ts
    if "rollout: completed" in msg:
        end = ts
server = f"{end - start:.2f}" if start and end else "?"
print(f"{p1 - p0:.2f}/{server}[{cpu}]")
PY
    export FLEETDECK_SERVER=http://127.0.0.1:$API FLEETDECK_API_TOKEN=$TOKEN
    for i in $(seq "$PUSH"); do
      # A configuration of its own for each push, so each is a whole new rollout.
      cat >"$DATA/bench.yaml" <<YAML
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bench$i}
spec:
  sources: [{type: otlp}]
  processors: [{type: batch, parameters: {send_batch_size: $((8000 + i))}}]
  destinations: [{type: debug}]
YAML
      "$BIN" apply -f "$DATA/bench.yaml" >/dev/null
      logged=$(wc -l <"$DATA/server.log")
      [ -n "${PERF:-}" ] && [ "$i" = 1 ] && { perf record -F 2999 ${PERF_ARGS:-} -p "$SERVER" -o "$DATA/perf.data" >/dev/null 2>&1 & PERFREC=$!; sleep 0.5; }
      if [ "${MALLOCS:-0}" = 1 ]; then
        perf stat -e probe_libc:malloc,syscalls:sys_enter_futex -x, -o "$DATA/mallocs.txt" \
          -p "$SERVER" >/dev/null 2>&1 & MSTAT=$!; sleep 0.3
      fi
      read -r pu0 ps0 < <(cpu_ticks "$SERVER"); sims0=$(sims_ticks)
      p0=$(date +%s.%N)
      "$BIN" push "bench$i" --selector service.name=otelcol-contrib --all-at-once >/dev/null
      for _ in $(seq 1200); do
        applied=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API/api/v1/rollouts/bench$i?agents=false" \
          | python3 -c "import json,sys; print(json.load(sys.stdin)['progress']['applied'])" 2>/dev/null || echo 0)
        [ "$applied" -ge "$held" ] && break
        sleep 0.05
      done
      p1=$(date +%s.%N)
      read -r pu1 ps1 < <(cpu_ticks "$SERVER"); sims1=$(sims_ticks)
      counted=""
      if [ "${MALLOCS:-0}" = 1 ]; then
        kill -INT "$MSTAT"; wait "$MSTAT" 2>/dev/null || true
        counted=$(awk -F, '$3 ~ /malloc/ {m=$1} $3 ~ /futex/ {f=$1} END {printf "{%s/%s}", m, f}' "$DATA/mallocs.txt")
      fi
      # CPU seconds the push cost the server (user+system) and the simulated agents.
      push_cpu=$(python3 -c "import sys; t=int(sys.argv[5]); print(f'{(int(sys.argv[2])+int(sys.argv[4])-int(sys.argv[1])-int(sys.argv[3]))/t:.2f}/{(int(sys.argv[7])-int(sys.argv[6]))/t:.2f}')" "$pu0" "$pu1" "$ps0" "$ps1" "$TCK" "$sims0" "$sims1")
      if [ -n "${PERF:-}" ] && [ "$i" = 1 ]; then
        kill -INT "$PERFREC"; wait "$PERFREC" 2>/dev/null || true
        { perf report -i "$DATA/perf.data" --sort dso --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -8
          perf report -i "$DATA/perf.data" --sort dso,symbol --stdio 2>/dev/null \
            | grep -v '^#' | grep '%' | head -70; } >"$PERF" || true
        cp "$DATA/perf.data" "$PERF.data"   # for call graphs: perf script -i FILE.data
      fi
      sleep 0.3
      # Wall time seen by the CLI, and the server's own time from the first phase starting
      # to the rollout completing (from its JSON log).
      push="$push $(tail -n +"$((logged + 1))" "$DATA/server.log" >"$DATA/push.log"; python3 "$DATA/push_time.py" "$p0" "$p1" "$push_cpu" <"$DATA/push.log")$counted"
    done
    if [ -n "${IDLE_AFTER:-}" ]; then
      sleep 5
      read -r a0 b0 < <(cpu_ticks "$SERVER"); n0=$(field "$(health)" messages_total)
      sleep "$IDLE_AFTER"
      read -r a1 b1 < <(cpu_ticks "$SERVER"); n1=$(field "$(health)" messages_total)
      push="$push after: $(python3 -c "import sys; a0,b0,a1,b1,n0,n1,t=map(int,sys.argv[1:]); n=max(n1-n0,1); print(f'{1e6*(a1-a0)/t/n:.1f}/{1e6*(a1-a0+b1-b0)/t/n:.1f}')" "$a0" "$b0" "$a1" "$b1" "$n0" "$n1" "$TCK")"
    fi
  fi

  python3 - "$N" "$held" "$BASE" "$RSS" "$u0" "$s0" "$u1" "$s1" "$m0" "$m1" "$t0" "$t1" "$TCK" "$push" <<'PY'
import sys
n, held, base, rss, u0, s0, u1, s1, m0, m1, t0, t1, tck, push = sys.argv[1:]
n, held, base, rss = int(n), int(held), int(base), int(rss)
dt = float(t1) - float(t0)
msgs = max(int(m1) - int(m0), 1)
user = (int(u1) - int(u0)) / int(tck); total = user + (int(s1) - int(s0)) / int(tck)
print(f"{n:<7} {held:<7} {base/1024:<9.1f} {rss/1024:<9.1f} {(rss-base)/max(held,1):<10.2f} "
      f"{msgs/dt:<9.0f} {100*total/dt:<8.1f} {1e6*user/msgs:<11.1f} {1e6*total/msgs:<11.1f} {push}")
PY
  cleanup; SIMS=""; SERVER=""
  rm -rf "$DATA"
  sleep 2
done
