#!/usr/bin/env bash
# Builds the forge artifacts that the Rust bindings are generated from (out/<File>.sol/<Contract>.json;
# client-sdk/protocol/build.rs calls this when they are missing or older than src/):
#   - installs the pinned npm toolchain unless node_modules already matches package-lock.json (the same
#     install and stamp as tools/setup.sh, which also installs slither; this needs only forge and solc-js);
#   - `forge build src`: src/ alone. It compiles only what changed, leaves the test and script artifacts in
#     out/ in place (the next `forge test` recompiles only the tests that import a changed source) and never
#     cleans out/.
# Concurrent callers (several cargo builds) are serialised on a lock; all output goes to stderr, so a build
# script that runs this can pass its own stdout to cargo untouched.
set -euo pipefail
contracts="$(cd "$(dirname "$0")/.." && pwd)"
exec 1>&2

mkdir -p "$contracts/cache"
exec 9>"$contracts/cache/.build-artifacts.lock"
flock 9

# Same install and stamp as tools/setup.sh: `npm install` from package-lock.json (`npm ci` rejects the
# platform-pruned lock), refused if it would change the lock; skipped while the stamp matches the lock.
if ! cmp -s "$contracts/package-lock.json" "$contracts/node_modules/.piecepay-lock" 2>/dev/null; then
  echo "build-artifacts: installing the Solidity toolchain (npm, from package-lock.json)"
  locked="$(mktemp)"
  cp "$contracts/package-lock.json" "$locked"
  (cd "$contracts" && npm install --no-audit --no-fund --loglevel=error)
  if ! cmp -s "$locked" "$contracts/package-lock.json"; then
    cp "$locked" "$contracts/package-lock.json"
    rm -f "$locked"
    echo "build-artifacts: npm wanted to change package-lock.json; versions must stay pinned" >&2
    exit 1
  fi
  rm -f "$locked"
  cp "$contracts/package-lock.json" "$contracts/node_modules/.piecepay-lock"
fi

cd "$contracts"
node_modules/@foundry-rs/forge-linux-amd64/bin/forge build src
