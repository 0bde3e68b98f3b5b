#!/usr/bin/env bash
# Installs the pinned Solidity toolchain — Foundry 1.7.1 (forge, anvil, cast), solc-js 0.8.30,
# OpenZeppelin 5.7.0, forge-std 1.9.7 — from contracts/package-lock.json with `npm ci`, idempotently.
#
# The lock is committed exactly as npm writes it: every platform's Foundry binary is listed with its
# integrity hash and `npm ci` installs only this machine's. `npm ci` never rewrites the lock; it fails
# when a pinned version or its integrity cannot be had, and this script then names the package and what
# to do in one line. Skipped while node_modules matches the lock (a stamp written after a good install).
# Last, the legacy build's OpenZeppelin tree (tools/legacy-openzeppelin.sh), which is derived from it.
# Concurrent callers (make and several cargo build scripts) are serialised on a lock file. All output
# goes to stderr, so a build script can hand its own stdout to cargo untouched.
set -euo pipefail
contracts="$(cd "$(dirname "$0")/.." && pwd)"
exec 1>&2

fail() {
  echo "setup: $*" >&2
  exit 1
}

stamp="$contracts/node_modules/.piecepay-lock"
installed() { cmp -s "$contracts/package-lock.json" "$stamp" 2>/dev/null; }
# Then the legacy build's OpenZeppelin tree, derived from the installed package (cheap when current).
legacy_tree() {
  "$contracts/tools/legacy-openzeppelin.sh"
  exit 0
}
installed && legacy_tree

command -v node >/dev/null || fail "node is missing: install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || fail "npm is missing: install npm (Debian: apt-get install npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || fail "Node.js $(node --version) is too old: Foundry's npm packages need Node.js 20 or newer"
# package.json pins the linux-x64 binaries by name (the scripts and tests run them directly, not through
# npm's node wrapper, so that a SIGKILL reaches the process itself).
platform="$(node -p 'process.platform + "-" + process.arch')"
[[ "$platform" == linux-x64 ]] || fail "Foundry's binaries are pinned for linux-x64; this machine is $platform"

mkdir -p "$contracts/node_modules"
exec 9>"$contracts/node_modules/.piecepay-install.lock"
flock 9
installed && legacy_tree

echo "setup: installing the Solidity toolchain (npm ci, from contracts/package-lock.json)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$contracts" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
  # npm's first lines say what failed (the rest can be its whole usage text).
  head -n 5 "$log" >&2
  # npm's own lines name the failing package; keep the first that does, and say what to do.
  code="$(grep -m1 -oE 'npm (ERR!|error) code [A-Z0-9_]+' "$log" | awk '{print $NF}' || true)"
  # EINTEGRITY names only the hash it wanted: find the lock entry that pins it.
  wanted="$(grep -m1 -oE 'wanted sha[0-9]+-[A-Za-z0-9+/=]+' "$log" | awk '{print $2}' || true)"
  if [[ -n "$wanted" ]]; then
    what="$(node -e 'const l = require(process.argv[1]); for (const [k, v] of Object.entries(l.packages))
      if (v.integrity === process.argv[2]) console.log(k.replace(/.*node_modules\//, "") + "@" + v.version)' \
      "$contracts/package-lock.json" "$wanted" | head -1)"
  else
    what="$(grep -oE '(@[a-z0-9-]+/)?[a-z0-9._-]+@[0-9][0-9A-Za-z.+-]*' "$log" | head -1 || true)"
  fi
  case "$code" in
    EINTEGRITY) hint="the registry served different bytes than the lock's integrity hash: check the registry (npm config get registry) or a proxy rewriting packages; never edit the hash" ;;
    ETARGET | E404) hint="the pinned version is not on the registry: check npm config get registry" ;;
    EUSAGE) hint="package.json and package-lock.json disagree: regenerate the lock with npm install --package-lock-only and commit it" ;;
    ENOTFOUND | ECONNREFUSED | ETIMEDOUT | EAI_AGAIN) hint="the npm registry cannot be reached: check the network or npm config get registry" ;;
    *) hint="see npm's output above" ;;
  esac
  fail "npm ci failed (${code:-unknown error}${what:+, $what}): $hint"
fi
"$contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge" --version | head -1 | grep -q "1.7.1" \
  || fail "forge 1.7.1 is not runnable after npm ci (node_modules/@foundry-rs/forge-linux-amd64/bin/forge)"
cp "$contracts/package-lock.json" "$stamp"
legacy_tree
