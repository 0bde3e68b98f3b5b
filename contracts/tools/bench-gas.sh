#!/usr/bin/env bash
# make bench-gas: broadcasts script/GasBench.s.sol to a fresh anvil and prints the gas lines.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/@foundry-rs
log="$(mktemp)"
tools/with-anvil.sh bash -c "$bin/forge-linux-amd64/bin/forge script script/GasBench.s.sol:GasBench \
  --rpc-url \"\$RPC_URL\" --broadcast --skip-simulation --slow -q --disable-code-size-limit >'$log' 2>&1 || { cat '$log'; exit 1; }"
rm -f "$log"
python3 tools/gas-report.py broadcast/GasBench.s.sol/31337/run-latest.json "$bin/cast-linux-amd64/bin/cast"
