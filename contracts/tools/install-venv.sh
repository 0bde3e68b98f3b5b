#!/usr/bin/env bash
# Installs a Python tool from its hashed lock (contracts/requirements-<name>.txt) into its own virtualenv,
# .venv/<name>/ at the repository root, idempotently: `pip install --require-hashes`, so every package is
# pinned to a version and to the bytes of its distribution. Fails with one line naming what is missing
# (python3, its venv module, a pinned package) and what to do.
#   usage: install-venv.sh <name>      e.g. install-venv.sh slither
set -euo pipefail
name="$1"
contracts="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$contracts/.." && pwd)"
lock="$contracts/requirements-$name.txt"
venv="$root/.venv/$name"
stamp="$venv/.piecepay-requirements"
exec 1>&2

fail() {
  echo "setup: $*" >&2
  exit 1
}

cmp -s "$lock" "$stamp" 2>/dev/null && exit 0
command -v python3 >/dev/null || fail "python3 is missing: install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"
echo "setup: installing $name (pip, from ${lock#"$root/"}, hashes required)"
rm -rf "$venv"
python3 -m venv "$venv" 2>/dev/null || fail "python3 cannot create a virtualenv: install its venv module (Debian: apt-get install python3-venv)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes -r "$lock" >"$log" 2>&1; then
  cat "$log" >&2
  what="$(grep -m1 -oE '(No matching distribution found for|THESE PACKAGES DO NOT MATCH THE HASHES)[^$]*' "$log" || true)"
  fail "pip could not install the pinned $name (${what:-see the output above}): check PyPI access (pip config list); never edit a hash by hand, regenerate the lock as ${lock#"$root/"} says"
fi
cp "$lock" "$stamp"
