#!/usr/bin/env bash
# Builds the forge artifacts that the Rust bindings are generated from and the deploy tool embeds, one set
# per EVM generation (docs/contracts.md "EVM generations"): out/<File>.sol/<Contract>.json (current EVM) and
# out-legacy/<File>.sol/<Contract>.json (the `legacy` profile: berlin). client-sdk/protocol/build.rs calls
# this when they are missing or older than src/, evm/ or foundry.toml:
#   - installs the pinned npm toolchain if needed (tools/install-toolchain.sh; only forge and solc-js are
#     used here);
#   - `forge build src` for each profile: src/ alone. It compiles only what changed, leaves the test and
#     script artifacts in out/ (out-legacy/) in place (the next `forge test` recompiles only the tests that
#     import a changed source) and never cleans them.
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
# The current build follows the caller's profile (make's CI=true selects `ci`, which shares out/).
node_modules/@foundry-rs/forge-linux-amd64/bin/forge build src
FOUNDRY_PROFILE=legacy node_modules/@foundry-rs/forge-linux-amd64/bin/forge build src
