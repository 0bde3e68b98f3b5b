#!/usr/bin/env bash
# Static analysis of contracts/src with slither over a forge build of src/ alone (in its own out
# directory, so it neither depends on nor disturbs the test build). Fails on any Medium or High finding.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=out-slither
FOUNDRY_OUT=$out FOUNDRY_CACHE_PATH=cache-slither forge build --build-info src >/dev/null
../.venv/slither/bin/slither . --foundry-ignore-compile --foundry-out-directory "$out" \
  --filter-paths "node_modules|test/|script/" \
  --exclude-informational --exclude-low --exclude-optimization --fail-medium
