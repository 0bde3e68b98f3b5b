#!/usr/bin/env bash
# The OpenZeppelin tree of the `legacy` build (foundry.toml [profile.legacy], docs/contracts.md "EVM
# generations"): the pinned node_modules/@openzeppelin/contracts with one file swapped, utils/Bytes.sol →
# evm/legacy/Bytes.sol. OpenZeppelin 5.7's Bytes uses MCOPY, which solc refuses for an EVM before Cancun,
# and it is imported relatively (utils/Strings.sol: "./Bytes.sol"), which no remapping can redirect; so
# the legacy build reads this copy, deps-legacy/@openzeppelin/contracts/. Everything else is the pinned
# package byte for byte. Redone (atomically, under a lock) when the package or the replacement changes;
# run by install-toolchain.sh, so every path that installs the toolchain has it. Output goes to stderr.
set -euo pipefail
contracts="$(cd "$(dirname "$0")/.." && pwd)"
exec 1>&2

pinned="$contracts/node_modules/@openzeppelin/contracts"
replacement="$contracts/evm/legacy/Bytes.sol"
root="$contracts/deps-legacy"
tree="$root/@openzeppelin/contracts"
want="$(cat "$pinned/package.json" "$replacement" | sha256sum | cut -d' ' -f1)"
current() { [[ "$(cat "$tree/.piecepay-stamp" 2>/dev/null)" == "$want" ]]; }
current && exit 0

mkdir -p "$root/@openzeppelin"
exec 9>"$root/.lock"
flock 9
current && exit 0
[[ -f "$pinned/utils/Bytes.sol" ]] || { echo "setup: $pinned/utils/Bytes.sol is missing: run make setup-toolchain" >&2; exit 1; }
tmp="$(mktemp -d "$root/@openzeppelin/.contracts.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp -R "$pinned/." "$tmp/"
cp "$replacement" "$tmp/utils/Bytes.sol"
echo "$want" >"$tmp/.piecepay-stamp"
rm -rf "$tree"
mv "$tmp" "$tree"
