#!/usr/bin/env bash
# Builds the forge artifacts that the Rust bindings are generated from (out/<File>.sol/<Contract>.json;
# client-sdk/protocol/build.rs calls this when they are missing or older than src/):
#   - installs the pinned npm toolchain if needed (tools/install-toolchain.sh; only forge and solc-js are
#     used here);
#   - `forge build src`: src/ alone. It compiles only what changed, leaves the test and script artifacts in
#     out/ in place (the next `forge test` recompiles only the tests that import a changed source) and never
#     cleans out/.
# Concurrent callers (several cargo builds) are serialised on a lock; all output goes to stderr, so a build
# script that runs this can pass its own stdout to cargo untouched.
set -euo pipefail
contracts="$(cd "$(dirname "$0")/.." && pwd)"
exec 1>&2

"$contracts/tools/install-toolchain.sh"
mkdir -p "$contracts/cache"
exec 9>"$contracts/cache/.build-artifacts.lock"
flock 9
cd "$contracts"
node_modules/@foundry-rs/forge-linux-amd64/bin/forge build src
