#!/usr/bin/env bash
# staticcheck on the whole module, tests included, with the default checks
# (or a staticcheck.conf, where one is added). The version is pinned by the
# tool directive in go.mod. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool staticcheck ./...
