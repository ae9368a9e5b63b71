#!/usr/bin/env bash
# govulncheck on the whole module against the offline database that
# .ci/vulndb.sh builds (vuln.go.dev is not reachable from our machines).
#
# Two scans, because standard-library findings depend on the Go release:
#
#  1. With the release toolchain, the Go that the Dockerfile and release
#     builds pin (GOTOOLCHAIN=goX.Y.Z, fetched through the module proxy).
#     This is what runs in production, and it must be clean: any
#     vulnerability the code calls, in the standard library or in a
#     dependency, fails CI (the same rule as govulncheck's own exit status 3).
#  2. With this machine's own Go. Findings in the standard library are
#     printed for information only, since production does not run on this
#     Go; a called vulnerability in any other module fails CI.
#
# Vulnerabilities in packages that are imported but not called, or in
# modules that are required but not imported, never fail CI; both scans
# print them so that they are seen.
#
# The release Go comes from the Dockerfile's golang:X.Y.Z image tag;
# LATCH_RELEASE_GO=goX.Y.Z overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."

release_go=${LATCH_RELEASE_GO:-}
if [ -z "$release_go" ] && [ -f Dockerfile ]; then
  release_go=$(sed -n 's/^FROM .*golang:\([0-9][0-9.]*\)[-@ ].*/go\1/p' Dockerfile | head -n1)
fi
release_go=${release_go:-go1.27.3}
machine_go=$(GOTOOLCHAIN=local go env GOVERSION)

command -v python3 >/dev/null || { echo "vulncheck: python3 is needed to read govulncheck's JSON" >&2; exit 1; }

db=$(bash .ci/vulndb.sh)
echo "vulncheck: database $db"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# summarize POLICY FILE: prints the findings in govulncheck's JSON stream
# FILE, one line per vulnerability, and exits 1 when POLICY says they fail:
#   release  any called vulnerability fails
#   machine  a called vulnerability outside the Go release (stdlib,
#            toolchain) fails
summarize() {
  python3 - "$1" "$2" <<'PY'
import json, sys

policy, path = sys.argv[1], sys.argv[2]
text = open(path).read()
dec, i, msgs = json.JSONDecoder(), 0, []
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    m, i = dec.raw_decode(text, i)
    msgs.append(m)

config = next((m["config"] for m in msgs if "config" in m), {})
osvs = {m["osv"]["id"]: m["osv"] for m in msgs if "osv" in m}
GO_RELEASE = ("stdlib", "toolchain")
RANK = {"called": 3, "imported": 2, "required": 1}

def level(trace):
    top = trace[0]
    if top.get("function"):
        return "called"
    return "imported" if top.get("package") else "required"

def frame(f):
    name = f.get("function", "")
    recv = f.get("receiver", "").lstrip("*")
    name = f"{recv}.{name}" if recv else name
    pkg = f.get("package", f.get("module", ""))
    return f"{pkg}.{name}" if name else pkg

def where(f):
    p = f.get("position") or {}
    return f"{p['filename']}:{p['line']}:{p['column']}" if p.get("filename") else ""

best = {}   # OSV id -> (level, finding, example trace)
for m in msgs:
    f = m.get("finding")
    if not f:
        continue
    lv = level(f["trace"])
    cur = best.get(f["osv"])
    if (cur is None or RANK[lv] > RANK[cur[0]]
            or (lv == cur[0] == "called" and len(f["trace"]) < len(cur[2]))):
        best[f["osv"]] = (lv, f, f["trace"])

print(f"govulncheck {config.get('scanner_version', '?')} on {config.get('go_version', '?')}, "
      f"database modified {config.get('db_last_modified', '?')}")
failing = []
for lv in ("called", "imported", "required"):
    ids = sorted(k for k, v in best.items() if v[0] == lv)
    if not ids:
        continue
    print({"called": "Called by this module's code:",
           "imported": "In imported packages, not called:",
           "required": "In required modules, not imported:"}[lv])
    for vid in ids:
        _, f, trace = best[vid]
        top = trace[0]
        mod = top["module"]
        fixed = f.get("fixed_version") or "none"
        summary = osvs.get(vid, {}).get("summary", "")
        go_release = mod in GO_RELEASE
        fails = lv == "called" and (policy == "release" or not go_release)
        mark = "FAIL" if fails else "    "
        print(f"  {mark} {vid}  {mod}@{top.get('version', '?')} (fixed in {fixed})  {summary}")
        if lv == "called":
            entry = trace[-1]
            via = "calls" if len(trace) == 2 else "eventually calls"
            print(f"         e.g. {where(entry)}: {frame(entry)} {via} {frame(top)}")
        if fails:
            failing.append(vid)
if not best:
    print("No vulnerabilities found.")
if failing:
    print(f"FAILED: {len(failing)} called vulnerabilit{'y' if len(failing) == 1 else 'ies'} "
          f"that this scan does not allow: {' '.join(failing)}")
    sys.exit(1)
PY
}

status=0
# scan LABEL POLICY [VAR=VALUE...]: one govulncheck run with the environment
# given, then its summary.
scan() {
  local label=$1 policy=$2; shift 2
  local start=$SECONDS
  if ! env "$@" go tool govulncheck -db "file://$db" -format json ./... >"$out/$label.json" 2>"$out/$label.err"; then
    cat "$out/$label.err" >&2
    echo "vulncheck: govulncheck failed to run ($label)" >&2
    status=1
    return
  fi
  summarize "$policy" "$out/$label.json" || status=1
  echo "vulncheck: $label scan took $((SECONDS - start))s"
}

printf '\n-- release Go %s (production builds): must be clean\n' "$release_go"
scan release release GOTOOLCHAIN="$release_go"

printf '\n-- machine Go %s: standard-library findings are information only\n' "$machine_go"
scan machine machine GOTOOLCHAIN=local

if [ "$status" -ne 0 ]; then
  echo "vulncheck: FAILED"
else
  echo "vulncheck: ok"
fi
exit "$status"
