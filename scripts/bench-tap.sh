#!/usr/bin/env bash
# What a tap costs a real Collector: one fleetdeck server, one `fleetdeck agent` supervising
# otelcol-contrib, a filelog -> batch -> otlphttp pipeline fed RATE lines a second into a
# loopback sink that counts the log records it gets. Three runs of WINDOW seconds each:
#   off      `fleetdeck agent --no-tap`: the pipeline as the server sent it;
#   idle     taps on (the exporter to the supervisor in the pipeline), nobody looking;
#   watched  taps on, `fleetdeck tap agent … --limit 100` every 2 s (what the TUI does).
# Prints, per run: the Collector's CPU (utime+stime over the window, % of one core), the
# supervisor's CPU, and the lines written against the records the sink received (a tap
# must not cost the pipeline any data).
#
# Usage: scripts/bench-tap.sh
#   RATE=2000     lines a second written to the file
#   WINDOW=60     seconds measured per run (after WARMUP)
#   WARMUP=10
#   BIN=PATH      the fleetdeck binary (default: a release build made here)
#   OTELCOL=PATH  the Collector (default: ../shared/peers/otelcol.sh installs it)
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-2000}; WINDOW=${WINDOW:-60}; WARMUP=${WARMUP:-10}
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-target}/release/fleetdeck
fi
OTELCOL=${OTELCOL:-${FLEETDECK_OTELCOL:-$(bash ../shared/peers/otelcol.sh | tail -n1)}}
WORK=$(mktemp -d)
KEY=bench-tap-$$
TOKEN=$KEY-api
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPAMP=$(free_port); API=$(free_port); SINK=$(free_port)
: > "$WORK/empty.toml"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The sink: answers every export at once and counts the log records in it (a small
# protobuf walk: ExportLogsServiceRequest.1 ResourceLogs .2 ScopeLogs .2 LogRecord).
cat > "$WORK/sink.py" <<'EOF'
import gzip, http.server, sys, threading
count = 0
lock = threading.Lock()
def varint(b, i):
    n = s = 0
    while True:
        x = b[i]; i += 1; n |= (x & 0x7f) << s; s += 7
        if x < 0x80: return n, i
def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i); f, w = key >> 3, key & 7
        if w == 0: _, i = varint(b, i)
        elif w == 1: i += 8
        elif w == 5: i += 4
        elif w == 2:
            n, i = varint(b, i); yield f, b[i:i+n]; i += n
        else: return
def records(body):
    return sum(1 for f, rl in fields(body) if f == 1
                 for g, sl in fields(rl) if g == 2
                 for h, _ in fields(sl) if h == 2)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        if self.headers.get('content-encoding') == 'gzip': body = gzip.decompress(body)
        with lock: count += records(body)
        self.send_response(200); self.send_header('content-type', 'application/x-protobuf')
        self.send_header('content-length', '0'); self.end_headers()
    def do_GET(self):
        out = str(count).encode()
        self.send_response(200); self.send_header('content-length', str(len(out))); self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOF
python3 "$WORK/sink.py" "$SINK" & PIDS+=($!)

# The writer: RATE lines a second, in 10 ms slices; prints how many it wrote when stopped.
cat > "$WORK/writer.py" <<'EOF'
import sys, time, signal
path, rate = sys.argv[1], int(sys.argv[2])
n = 0; start = time.time(); stop = False
def done(*_):
    global stop; stop = True
signal.signal(signal.SIGTERM, done)
with open(path, 'a', buffering=1 << 16) as f:
    while not stop:
        due = int((time.time() - start) * rate)
        while n < due:
            f.write(f'{time.time():.6f} GET /api/v1/items/{n} 200 user=u{n % 97} bytes={n % 5000}\n'); n += 1
        f.flush(); time.sleep(0.01)
print(n)
EOF

FLEETDECK_SECRET_KEY=$KEY FLEETDECK_API_TOKEN=$TOKEN "$BIN" --no-tui \
  --listen 127.0.0.1:$OPAMP --api-listen 127.0.0.1:$API --data-dir "$WORK/server" \
  --config "$WORK/empty.toml" > "$WORK/server.log" 2>&1 & PIDS+=($!)
sleep 1
export FLEETDECK_SERVER=http://127.0.0.1:$API FLEETDECK_API_TOKEN=$TOKEN
cli() { "$BIN" --config "$WORK/empty.toml" "$@"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
echo "collector: $("$OTELCOL" --version); $RATE lines/s; ${WINDOW}s per run after ${WARMUP}s"
printf "%-8s %-14s %-15s %-17s %s\n" run "collector CPU" "supervisor CPU" "lines written" "records at the sink"

for mode in off idle watched; do
  log="$WORK/$mode.log"; : > "$log"
  flags=(); [ $mode = off ] && flags=(--no-tap)
  FLEETDECK_LOG=info "$BIN" agent --server ws://127.0.0.1:$OPAMP/v1/opamp --collector "$OTELCOL" \
    --state-dir "$WORK/agent-$mode" --secret-key "$KEY" --name "bench-$mode" --label "bench=$mode" \
    --settle 2 --config "$WORK/empty.toml" "${flags[@]}" > "$WORK/agent-$mode.out" 2>&1 &
  AGENT=$!; PIDS+=($AGENT)
  for _ in $(seq 100); do cli get agents -l "bench=$mode" 2>/dev/null | grep -q connected && break; sleep 0.1; done
  cat > "$WORK/$mode.yaml" <<EOF
apiVersion: fleetdeck/v1
kind: Configuration
metadata: {name: bench-$mode}
spec:
  sources:
    - type: filelog
      parameters: {include: ["$log"], start_at: end}
  processors:
    - type: batch
  destinations:
    - type: otlphttp
      parameters: {endpoint: "http://127.0.0.1:$SINK"}
EOF
  cli apply -f "$WORK/$mode.yaml" > /dev/null
  cli push "bench-$mode" --selector "bench=$mode" > /dev/null
  until cli get agents -l "bench=$mode" | grep -q "bench-$mode:[0-9]* applied"; do sleep 0.2; done
  COLLECTOR=$(awk '{print $1}' "$WORK/agent-$mode/collector.pid")
  sink0=$(curl -s "http://127.0.0.1:$SINK/")
  python3 "$WORK/writer.py" "$log" "$RATE" > "$WORK/written-$mode" & WRITER=$!
  WATCHER=
  if [ $mode = watched ]; then
    ( while :; do cli tap agent "bench-$mode" --limit 100 -o json > /dev/null 2>&1 || true; sleep 2; done ) &
    WATCHER=$!
  fi
  sleep "$WARMUP"
  c0=$(ticks "$COLLECTOR"); a0=$(ticks "$AGENT"); s0=$(date +%s.%N)
  sleep "$WINDOW"
  c1=$(ticks "$COLLECTOR"); a1=$(ticks "$AGENT"); s1=$(date +%s.%N)
  kill "$WRITER"; wait "$WRITER" 2>/dev/null || true
  [ -n "$WATCHER" ] && { kill "$WATCHER"; wait "$WATCHER" 2>/dev/null || true; }
  sleep 5   # the last lines through filelog, batch and the exporter
  sink1=$(curl -s "http://127.0.0.1:$SINK/")
  written=$(cat "$WORK/written-$mode")
  pct() { echo "scale=2; 100 * ($1) / $HZ / ($s1 - $s0)" | bc; }
  printf "%-8s %-14s %-15s %-17s %s\n" "$mode" "$(pct "$c1 - $c0") %" "$(pct "$a1 - $a0") %" \
    "$written" "$((sink1 - sink0))"
  kill "$AGENT"; wait "$AGENT" 2>/dev/null || true
done
