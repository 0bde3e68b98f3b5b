#!/usr/bin/env bash
# make test-symbolic: halmos proves ChannelEscrow's assembly settlement loop equal to the plain-Solidity
# SettleReference (test/symbolic/SettleEquivalence.t.sol; bounds, and which checks `make test` runs, in
# docs/contracts.md, "Symbolic check"). The solver is yices from the pinned lock (.venv/halmos,
# contracts/requirements-halmos.txt). Arguments go to halmos (make test-symbolic-ci picks its check with
# --function, a regex halmos anchors at the name's start). A check may set its own halmos options in a
# `/// @custom:halmos` NatSpec line (check_sameChannelTwice's branching timeout).
#
# Build: none of its own. halmos runs `forge build --ast --extra-output storageLayout metadata` under the
# current profile; foundry.toml asks every build for those outputs, so after `forge test` this compiles
# nothing and halmos reads the test build's out/ (the check deploys out/ChannelEscrow.sol/ChannelEscrow.json,
# the escrow as deployed; the test itself does not import it, so editing the test recompiles no escrow).
#
# Fails if any check fails or times out, or if halmos left a path unexplored at its loop bound (that
# would make a pass vacuous for that path; the checks' loops have concrete bounds, so none should).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# Unbuffered: halmos prints each check's result as it finishes, not all at the end.
PYTHONUNBUFFERED=1 ../.venv/halmos/bin/halmos --root . --contract SettleEquivalenceTest --storage-layout generic \
  --solver-timeout-assertion 120s "$@" 2>&1 | tee "$log" || status=$?
if grep -q "not been fully explored" "$log"; then
  echo "test-symbolic: halmos stopped some path at its loop bound (see above): the check is incomplete" >&2
  exit 1
fi
exit "$status"
