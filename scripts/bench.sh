#!/usr/bin/env bash
# Runs the benchmark matrix of docs/benchmarks.md on this machine: Latch on
# bbolt and on Redis, the load tool's modes at 32 and 64 workers, three
# runs each, then GET /api/me with a million sessions stored; then the
# mail pipeline: bursts of sends into an SMTP sink (a local relay and one
# that takes 100 ms a message; on Redis, two replicas sharing the queue)
# and a crowd behind one address at the default limits. Load goes only to
# 127.0.0.1. Results: one JSON line per run in $1 (default
# bench-results.jsonl), and tables of medians on stdout.
#
#   bash scripts/bench.sh [results.jsonl]
#   MAIL_ONLY=1 RUNS=1 bash scripts/bench.sh   # only the mail pipeline
#
# Needs redis-server answering on 127.0.0.1:6379 for the Redis half.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results.jsonl}
runs=${RUNS:-3}
stores=${STORES:-"bbolt redis"}
dur=${DUR:-10s}
mail_only=${MAIL_ONLY:-0}
burst_n=${BURST_N:-2000}
crowd_n=${CROWD_N:-1000}
crowd_over=${CROWD_OVER:-4m30s}
touch "$out"
tmp=$(mktemp -d)
trap 'pkill -P $$ latch 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# LATCH_BIN measures another build of the server (say, of an older
# commit) with this tree's load tool.
if [ -n "${LATCH_BIN:-}" ]; then cp "$LATCH_BIN" "$tmp/latch"; else go build -o "$tmp/latch" ./cmd/latch; fi
go build -o "$tmp/latchload" ./cmd/latchload
go build -o "$tmp/latchseed" ./cmd/latchseed
port=39$((RANDOM % 90 + 10))
port2=$((port + 100))
smtp_port=$((port + 200))
redis_pid=$(pgrep -x redis-server | head -1 || true)

start_latch() { # env assignments...; DEFAULT_LIMITS=1 keeps the per-IP limits at their defaults
  local off=(RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0)
  [ "${DEFAULT_LIMITS:-0}" = 1 ] && off=()
  env APP_ENV=development HOST=127.0.0.1 PORT="$port" "${off[@]}" \
    "$@" "$tmp/latch" > "$tmp/latch.log" 2>&1 &
  latch_pid=$!
  wait_up "$port" "${READY:-/api/health/ready}"
}
wait_up() { # port path
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "latch did not start"; cat "$tmp/latch.log"; exit 1
}
stop_latch() { kill -TERM "$latch_pid"; wait "$latch_pid" || true; }

load() { # store label, then latchload flags
  local store=$1 label=$2; shift 2
  local pids=$latch_pid
  [ "$store" = redis ] && [ -n "$redis_pid" ] && pids="$pids,$redis_pid"
  echo "  $store $label $*" >&2
  if ! "$tmp/latchload" -url "http://127.0.0.1:$port" -warmup 2s -d "$dur" -pids "$pids" "$@" 2>"$tmp/load.err" > "$tmp/load.json"; then
    echo "  failed:"; tail -5 "$tmp/load.err"; return 0
  fi >&2
  python3 -c 'import json,sys; d=json.load(open(sys.argv[3])); d["store"]=sys.argv[1]; d["label"]=sys.argv[2]; print(json.dumps(d))' \
    "$store" "$label" "$tmp/load.json" >> "$out"
}

matrix() { # store
  local store=$1
  for c in 32 64; do
    for _ in $(seq "$runs"); do
      load "$store" "me" -mode me -c "$c" -baseline
      load "$store" "login" -mode login -c "$c"
    done
  done
  for _ in $(seq "$runs"); do load "$store" "link" -mode link -c 32; done
  # send last: it queues mail faster than the worker delivers it, and the
  # backlog would hold up the mail of any flow measured after it.
  for _ in $(seq "$runs"); do load "$store" "send" -mode send -c 32; done
}

if [ "$mail_only" != 1 ] && [[ " $stores " == *" bbolt "* ]]; then
echo "bbolt" >&2
data="$tmp/bolt"
start_latch DATA_DIR="$data"
matrix bbolt
stop_latch
echo "bbolt with 1,000,000 sessions" >&2
# A fresh file: the matrix's send runs leave a mail backlog behind.
data="$tmp/bolt-1m"
"$tmp/latchseed" -n 1000000 -data-dir "$data" >&2
start_latch DATA_DIR="$data"
for _ in $(seq "$runs"); do load bbolt "me-1M" -mode me -c 64; done
stop_latch
du -k "$data/latch.db" | awk '{print "bbolt file with 1M sessions: " $1 " KiB"}' >&2
start_latch DATA_DIR="$data"
echo "bbolt RSS right after opening 1M sessions: $(awk '/VmRSS/{print $2}' /proc/$latch_pid/status) KiB" >&2
stop_latch
fi

if [ "$mail_only" != 1 ] && [ -n "$redis_pid" ] && [[ " $stores " == *" redis "* ]]; then
  prefix="bench$RANDOM:"
  echo "redis" >&2
  start_latch DATA_DIR="$tmp/r" REDIS_URL=redis://127.0.0.1:6379/0 REDIS_KEY_PREFIX="$prefix"
  matrix redis
  echo "redis with 1,000,000 sessions" >&2
  before=$(redis-cli -h 127.0.0.1 info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  "$tmp/latchseed" -n 1000000 -redis redis://127.0.0.1:6379/0 -prefix "$prefix" >&2
  after=$(redis-cli -h 127.0.0.1 info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  echo "redis used_memory grew by $(( (after - before) / 1000000 )) bytes per session" >&2
  for _ in $(seq "$runs"); do load redis "me-1M" -mode me -c 64; done
  stop_latch
  redis-cli -h 127.0.0.1 --scan --pattern "${prefix}*" | xargs -r -n 1000 redis-cli -h 127.0.0.1 unlink >/dev/null
fi

# The mail pipeline. The sink runs inside latchload, so readiness (which
# probes SMTP) is not waited for: /api/health is.
once() { # store label, then latchload flags (one JSON line, appended)
  local store=$1 label=$2; shift 2
  echo "  $store $label $*" >&2
  if ! "$tmp/latchload" "$@" 2>"$tmp/load.err" > "$tmp/load.json"; then
    # A crowd that nobody got through is a result too: keep its line.
    echo "  latchload: $(tail -1 "$tmp/load.err")" >&2
    [ -s "$tmp/load.json" ] || return 0
  fi
  python3 -c 'import json,sys; d=json.load(open(sys.argv[3])); d["store"]=sys.argv[1]; d["label"]=sys.argv[2]; print(json.dumps(d))' \
    "$store" "$label" "$tmp/load.json" >> "$out"
}
smtp_url="smtp://127.0.0.1:$smtp_port?starttls=none"
burst() { # store label delay, then more latchload flags
  local store=$1 label=$2 delay=$3; shift 3
  once "$store" "$label" -mode burst -n "$burst_n" -smtp-addr "127.0.0.1:$smtp_port" -smtp-delay "$delay" "$@"
}
if [[ " $stores " == *" bbolt "* ]]; then
  echo "mail pipeline, bbolt" >&2
  for _ in $(seq "$runs"); do
    READY=/api/health start_latch DATA_DIR="$tmp/mail-$RANDOM" SMTP_URL="$smtp_url"
    burst bbolt "burst local relay" 0 -url "http://127.0.0.1:$port" -pids "$latch_pid"
    stop_latch
    READY=/api/health start_latch DATA_DIR="$tmp/mail-$RANDOM" SMTP_URL="$smtp_url"
    burst bbolt "burst 100ms relay" 100ms -url "http://127.0.0.1:$port" -pids "$latch_pid"
    stop_latch
    # The crowd at the default limits: what a venue behind one NAT
    # meets, people arriving over 4.5 minutes, one in ten walking away.
    DEFAULT_LIMITS=1 READY=/api/health start_latch DATA_DIR="$tmp/mail-$RANDOM" SMTP_URL="$smtp_url"
    once bbolt "crowd defaults" -mode crowd -n "$crowd_n" -c 32 -idle 0.1 -over "$crowd_over" -d 10m \
      -url "http://127.0.0.1:$port" -smtp-addr "127.0.0.1:$smtp_port" -pids "$latch_pid"
    stop_latch
  done
fi
if [ -n "$redis_pid" ] && [[ " $stores " == *" redis "* ]]; then
  echo "mail pipeline, redis, two replicas sharing the queue" >&2
  for _ in $(seq "$runs"); do
    prefix="benchmail$RANDOM:"
    renv=(REDIS_URL=redis://127.0.0.1:6379/0 REDIS_KEY_PREFIX="$prefix" SMTP_URL="$smtp_url"
          SESSION_SECRET=latch-bench-secret-shared-by-both-replicas)
    READY=/api/health start_latch DATA_DIR="$tmp/r1" "${renv[@]}"
    first=$latch_pid
    env APP_ENV=development HOST=127.0.0.1 PORT="$port2" RATE_LIMIT_MAX=0 RATE_LIMIT_AUTH_IP_MAX=0 \
      DATA_DIR="$tmp/r2" "${renv[@]}" "$tmp/latch" > "$tmp/latch2.log" 2>&1 &
    second=$!
    wait_up "$port2" /api/health
    burst redis "burst local relay, 2 replicas" 0 -url "http://127.0.0.1:$port,http://127.0.0.1:$port2" \
      -pids "$first,$second,$redis_pid"
    kill -TERM "$second"; wait "$second" || true
    stop_latch
    redis-cli -h 127.0.0.1 --scan --pattern "${prefix}*" | xargs -r -n 1000 redis-cli -h 127.0.0.1 unlink >/dev/null
  done
fi

python3 - "$out" <<'PY'
import json, statistics, sys, collections
rows = collections.defaultdict(list)
mail = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["mode"] in ("burst", "crowd"):
        mail[(d["store"], d["label"])].append(d)
        continue
    rows[(d["store"], d["label"], d["concurrency"])].append(d)
med = lambda xs: statistics.median(xs) if xs else 0
print("| store | mode | c | req/s | flows/s | CPU µs/req | CPU µs/flow | p99 ms (worst step) | ratio to bare net/http | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (store, label, c), ds in sorted(rows.items()):
    p99 = med([max(s["p99_ms"] for s in d["latency"].values()) for d in ds])
    ratio = med([d.get("ratio_to_baseline", 0) for d in ds])
    print(f"| {store} | {label} | {c} | {med([d['requests_per_s'] for d in ds]):.0f} | {med([d['flows_per_s'] for d in ds]):.0f} | "
          f"{med([d['cpu_us_per_request'] for d in ds]):.1f} | {med([d.get('cpu_us_per_flow', 0) for d in ds]):.0f} | {p99:.1f} | "
          f"{ratio:.2f} | {max(d['peak_rss_mb'] for d in ds):.1f} |")
if mail:
    print()
    print("| store | run | mails/s | last mail s | time to inbox p50 / p99 ms | send p50 / p99 ms | completed / failed / 429s |")
    print("|---|---|---|---|---|---|---|")
for (store, label), ds in sorted(mail.items()):
    if ds[0]["mode"] == "burst":
        tti = [d.get("time_to_inbox") or {"p50_ms": 0, "p99_ms": 0} for d in ds]
        print(f"| {store} | {label} | {med([d['mails_per_s'] for d in ds]):.0f} | {med([d['last_mail_s'] for d in ds]):.2f} | "
              f"{med([t['p50_ms'] for t in tti]):.0f} / {med([t['p99_ms'] for t in tti]):.0f} | "
              f"{med([d['latency']['send']['p50_ms'] for d in ds]):.0f} / {med([d['latency']['send']['p99_ms'] for d in ds]):.0f} | – |")
    else:
        print(f"| {store} | {label} | – | – | – | {med([d['latency'].get('send', {}).get('p50_ms', 0) for d in ds]):.0f} / "
              f"{med([d['latency'].get('send', {}).get('p99_ms', 0) for d in ds]):.0f} | "
              f"{med([d['completed'] for d in ds]):.0f} / {med([d['failed'] for d in ds]):.0f} / {med([d['rate_limited'] for d in ds]):.0f} |")
PY
