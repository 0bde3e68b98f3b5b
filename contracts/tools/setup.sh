#!/usr/bin/env bash
# Installs the pinned Solidity toolchain from the registries reachable here, idempotently:
#   - Foundry 1.7.1 (forge, anvil, cast), solc-js 0.8.30, OpenZeppelin 5.7.0, forge-std 1.9.7 — npm, from
#     package-lock.json;
#   - slither-analyzer 0.11.6 and its dependencies — PyPI, from requirements-slither.txt, in /.venv.
# Nothing else is assumed beyond Node/npm and Python 3.
set -euo pipefail
contracts="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$contracts/.." && pwd)"

# Installs from package-lock.json, skipped when the installed tree already matches it. `npm ci` cannot be
# used: the registry here does not serve Foundry's other-platform binaries (optional dependencies of
# @foundry-rs/*), so the lock cannot list them and `npm ci` calls it out of sync. `npm install` resolves the
# same pinned tree from the lock; the check below makes sure it did not change it.
if ! cmp -s "$contracts/package-lock.json" "$contracts/node_modules/.piecepay-lock" 2>/dev/null; then
  echo "setup: installing the Solidity toolchain (npm, from package-lock.json)"
  locked="$(mktemp)"
  cp "$contracts/package-lock.json" "$locked"
  (cd "$contracts" && npm install --no-audit --no-fund --loglevel=error)
  if ! cmp -s "$locked" "$contracts/package-lock.json"; then
    cp "$locked" "$contracts/package-lock.json"
    echo "setup: npm wanted to change package-lock.json; versions must stay pinned" >&2
    exit 1
  fi
  rm -f "$locked"
  cp "$contracts/package-lock.json" "$contracts/node_modules/.piecepay-lock"
fi
"$contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge" --version | head -1 | grep -q "1.7.1" \
  || { echo "setup: forge 1.7.1 missing after npm ci" >&2; exit 1; }

if ! cmp -s "$contracts/requirements-slither.txt" "$root/.venv/.piecepay-requirements" 2>/dev/null; then
  echo "setup: installing slither (pip, pinned)"
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$contracts/requirements-slither.txt"
  cp "$contracts/requirements-slither.txt" "$root/.venv/.piecepay-requirements"
fi
