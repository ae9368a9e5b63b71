#!/usr/bin/env bash
# Builds a local Go vulnerability database for `govulncheck -db file://...`
# and prints its directory on stdout (progress goes to stderr).
#
# Our machines reach the Go module proxy but not vuln.go.dev. The proxy
# serves golang.org/x/vulndb, whose data/osv folder holds every report as
# OSV JSON. Its cmd/gendb turns that folder into the v1 database layout that
# govulncheck reads (index/db.json, index/modules.json, index/vulns.json,
# ID/GO-YYYY-NNNN.json). gendb reads the reports from a git repository and
# stamps each entry's "modified"/"published" time from the commit dates, so
# the reports are committed into a throwaway repository with the commit date
# set to the vulndb version's own time: the same version always gives the
# same database.
#
# The result is cached per vulndb version in
#   ${LATCH_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/latch/vulndb}/<version>
# and a second run with that folder present prints it at once.
#
# To move to newer vulnerability data, set VULNDB_VERSION below to what
#   go list -m -f '{{.Version}}' golang.org/x/vulndb@latest
# prints (run outside this module). LATCH_VULNDB_VERSION overrides it for
# one run.
set -euo pipefail

VULNDB_VERSION=${LATCH_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

log() { printf 'vulndb: %s\n' "$*" >&2; }

cache_root=${LATCH_VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/latch/vulndb}
dest=$cache_root/$VULNDB_VERSION

# A database is moved into place only when complete, so its index is enough
# to tell that it is there.
if [ -s "$dest/index/modules.json" ] && [ -s "$dest/index/db.json" ]; then
  printf '%s\n' "$dest"
  exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Everything below runs outside this repository's module, so that neither
# go.mod nor go.sum is touched and no workspace applies.
cd "$work"
export GOWORK=off GOFLAGS=

log "downloading golang.org/x/vulndb@$VULNDB_VERSION from the module proxy"
if ! go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" >download.json; then
  cat download.json >&2; exit 1
fi
# The value of string field $1 in the JSON file $2 (the go command's own
# output: no escapes in these fields).
json_field() { grep -o "\"$1\": *\"[^\"]*\"" "$2" | head -n1 | sed 's/^.*: *"\(.*\)"$/\1/'; }
src=$(json_field Dir download.json)
info=$(json_field Info download.json)
if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
  echo "vulndb: no data/osv in the downloaded module:" >&2; cat download.json >&2; exit 1
fi
# The version's time (the commit time of a pseudo-version) dates the entries.
when=$(json_field Time "$info")
[ -n "$when" ] || { echo "vulndb: no Time in $info" >&2; exit 1; }

log "building gendb"
GOBIN=$work/bin go install "golang.org/x/vulndb/cmd/gendb@$VULNDB_VERSION"

log "committing $(find "$src/data/osv" -name '*.json' | wc -l) reports (dated $when) into a scratch git repository"
mkdir -p repo/data
cp -R --no-preserve=mode "$src/data/osv" repo/data/osv
(
  cd repo
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
  export GIT_AUTHOR_NAME=latch-ci GIT_AUTHOR_EMAIL=ci@latch.invalid GIT_AUTHOR_DATE=$when
  export GIT_COMMITTER_NAME=latch-ci GIT_COMMITTER_EMAIL=ci@latch.invalid GIT_COMMITTER_DATE=$when
  git init -q
  git add -A
  git commit -q -m "golang.org/x/vulndb@$VULNDB_VERSION data/osv"
)

log "running gendb"
"$work/bin/gendb" -repo "$work/repo" -out "$work/db" 2>gendb.log || { cat gendb.log >&2; exit 1; }
# govulncheck reads the plain .json files from a file:// database; gendb also
# writes .json.gz copies for serving over HTTP, which are not needed here.
find "$work/db" -name '*.json.gz' -delete
for f in index/db.json index/modules.json index/vulns.json; do
  [ -s "$work/db/$f" ] || { echo "vulndb: gendb wrote no $f" >&2; exit 1; }
done
n=$(find "$work/db/ID" -name 'GO-*.json' | wc -l)
[ "$n" -gt 0 ] || { echo "vulndb: gendb wrote no ID/GO-*.json" >&2; exit 1; }

# Publish atomically; another run may have finished first.
if ! mv -T "$work/db" "$dest" 2>/dev/null && [ ! -s "$dest/index/modules.json" ]; then
  echo "vulndb: could not move the database to $dest" >&2; exit 1
fi
log "wrote $n entries, $(cat "$dest/index/db.json")"
printf '%s\n' "$dest"
