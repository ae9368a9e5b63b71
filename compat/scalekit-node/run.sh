#!/usr/bin/env bash
# Builds Latch, starts it as a Scalekit-compatible provider on a free
# loopback port (development mode, temporary data dir, one API client),
# waits until it is healthy, runs the official Scalekit Node SDK against it
# (npm ci && node test.mjs) and stops it. Exits non-zero on any failure.
#
# Usage: compat/scalekit-node/run.sh   (from anywhere; needs go, node, npm)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

client_id="compat-app"
client_secret="compat-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

echo "scalekit-node: building latch"
(cd "$root" && go build -o "$work/latch" ./cmd/latch)

echo "scalekit-node: starting latch"
(
  cd "$work"
  exec env APP_ENV=development HOST=127.0.0.1 PORT=0 DATA_DIR="$work/data" \
    API_CLIENTS="$client_id:$client_secret" \
    PASSWORDLESS_RESEND_COOLDOWN=1s LOG_LEVEL=warn \
    ./latch serve >"$work/latch.log" 2>&1
) &
pid=$!

url=""
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "scalekit-node: latch exited early:" >&2
    cat "$work/latch.log" >&2
    exit 1
  fi
  addr="$(sed -n 's|^latch: listening on http://\([^ ]*\)$|\1|p' "$work/latch.log" | head -n1)"
  if [[ -n "$addr" ]] && node -e "fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "http://$addr/api/health"; then
    url="http://$addr"
    break
  fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  echo "scalekit-node: latch did not become healthy:" >&2
  cat "$work/latch.log" >&2
  exit 1
fi
echo "scalekit-node: latch is up at $url"

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
status=0
LATCH_URL="$url" CLIENT_ID="$client_id" CLIENT_SECRET="$client_secret" RESEND_WAIT_MS=1100 node test.mjs || status=$?
if [[ $status -ne 0 ]]; then
  echo "scalekit-node: latch log:" >&2
  cat "$work/latch.log" >&2
fi
exit $status
