#!/usr/bin/env bash
# Installs what the libtorrent integration builds and tests with, from Debian's packages:
# libtorrent-rasterbar 2.0.8 (headers, pkg-config), a C++17 compiler, and two foreign BitTorrent clients
# (transmission-cli, aria2) that the interoperability test runs against a paying seeder.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
"$root/deploy/tools/apt-install.sh" "the libtorrent integration" \
  libtorrent-rasterbar-dev pkg-config g++ make transmission-cli aria2
pkg-config --atleast-version=2.0 libtorrent-rasterbar \
  || { echo "setup: libtorrent-rasterbar 2.0 or newer is needed (pkg-config finds $(pkg-config --modversion libtorrent-rasterbar 2>&1))" >&2; exit 1; }
