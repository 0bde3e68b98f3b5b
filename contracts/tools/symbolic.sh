#!/usr/bin/env bash
# make test-symbolic: halmos proves ChannelEscrow's assembly settlement loop equal to the plain-Solidity
# SettleReference (test/symbolic/SettleEquivalence.t.sol, which states the bounds). halmos builds src/ and
# test/symbolic/ with forge under the `symbolic` profile (foundry.toml) and checks every `check_`
# function; the solver is yices from the pinned lock (.venv/halmos, contracts/requirements-halmos.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export FOUNDRY_PROFILE=symbolic
exec ../.venv/halmos/bin/halmos --root . --forge-build-out out-symbolic --contract SettleEquivalenceTest \
  --storage-layout generic --loop 2 --solver-timeout-assertion 0 "$@"
