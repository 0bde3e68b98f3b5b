#!/usr/bin/env bash
# Installs what the Deluge plugin builds with, from Debian's packages: Deluge 2.0.3 (daemon, console, web
# UI) on python3-libtorrent 2.0.8 — the libtorrent the rest of the project builds for —, boost.python and
# Python's headers for the native module, setuptools for the egg; with --tests also Chromium and its
# driver for the web UI test. Idempotent: does nothing when everything is already there.
#   usage: setup.sh [--tests]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
packages=(deluged deluge-console deluge-web python3-libtorrent python3-setuptools libboost-python-dev python3-dev
  libtorrent-rasterbar-dev pkg-config g++ make)
[[ ${1:-} == --tests ]] && packages+=(chromium chromium-driver)
"$root/deploy/tools/apt-install.sh" "the Deluge plugin" "${packages[@]}"
have="$(/usr/bin/python3 -c 'import libtorrent; print(libtorrent.__version__)' 2>&1)" \
  || { echo "setup: Debian's python3-libtorrent does not load in /usr/bin/python3: $have" >&2; exit 1; }
[[ $have == 2.0.* ]] \
  || { echo "setup: the Deluge plugin needs python3-libtorrent 2.0 (/usr/bin/python3 has $have)" >&2; exit 1; }
