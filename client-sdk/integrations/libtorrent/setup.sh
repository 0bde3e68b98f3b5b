#!/usr/bin/env bash
# Installs what the libtorrent integration builds and tests with, from Debian's packages:
# libtorrent-rasterbar 2.0.8 (headers, pkg-config), a C++17 compiler, and two foreign BitTorrent clients
# (transmission-cli, aria2) that the interoperability test runs against a paying seeder.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

packages=(libtorrent-rasterbar-dev pkg-config g++ make transmission-cli aria2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "libtorrent integration: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
pkg-config --atleast-version=2.0 libtorrent-rasterbar
