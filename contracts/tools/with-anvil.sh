#!/usr/bin/env bash
# Runs a command against a fresh local anvil on a free 127.0.0.1 port, then stops anvil.
# The command sees RPC_URL and PRIVATE_KEY (anvil's first well-known dev account, devnet only).
# HARDFORK picks anvil's EVM rules (default prague).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
anvil="$here/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp)"
"$anvil" --host 127.0.0.1 --port "$port" --hardfork "${HARDFORK:-prague}" --gas-limit 100000000 --silent ${ANVIL_ARGS:-} >"$log" 2>&1 &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; rm -f "$log"' EXIT
export RPC_URL="http://127.0.0.1:$port"
export PRIVATE_KEY="0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
for _ in $(seq 1 100); do
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then break; fi
  sleep 0.1
done
"$@"
