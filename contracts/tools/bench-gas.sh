#!/usr/bin/env bash
# make bench-gas: broadcasts script/GasBench.s.sol to a fresh anvil and prints the gas lines; then the same
# for the legacy build (foundry profile `legacy`, docs/contracts.md "EVM generations") on an anvil started
# with --hardfork berlin, with legacy (gasPrice) transactions, printed as `gas legacy …` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/@foundry-rs
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# bench HARDFORK LABEL [forge script flag…]: one broadcast on a fresh anvil, then its report.
bench() {
  local hardfork="$1" label="$2"
  shift 2
  HARDFORK="$hardfork" tools/with-anvil.sh bash -c "$bin/forge-linux-amd64/bin/forge script script/GasBench.s.sol:GasBench \
    --rpc-url \"\$RPC_URL\" --broadcast --skip-simulation --slow -q --disable-code-size-limit $* >'$log' 2>&1 || { cat '$log'; exit 1; }"
  python3 tools/gas-report.py broadcast/GasBench.s.sol/31337/run-latest.json "$bin/cast-linux-amd64/bin/cast" $label
}

bench prague ""
FOUNDRY_PROFILE=legacy bench berlin legacy --legacy
