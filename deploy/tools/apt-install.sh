#!/usr/bin/env bash
# Installs Debian packages that are missing, idempotently: nothing happens (and no root is needed) when
# every package is already installed. Otherwise `apt-get update` then `apt-get install`, as root or
# through sudo; fails with one line naming the packages and what to do.
#   usage: apt-install.sh <what needs them> <package>...
set -euo pipefail
what="$1"
shift

fail() {
  echo "setup: $*" >&2
  exit 1
}

missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

command -v apt-get >/dev/null \
  || fail "$what needs the Debian packages ${missing[*]}, and this machine has no apt-get: install them by hand"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null \
    || fail "$what needs the Debian packages ${missing[*]}: run as root or install them (apt-get install ${missing[*]})"
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]} for $what (apt)" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The package lists of a fresh machine are often empty or stale: always update before installing.
if ! "${sudo[@]}" apt-get update -qq >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get update failed while installing ${missing[*]} for $what: check the machine's Debian mirror (see above)"
fi
if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  fail "apt-get install ${missing[*]} failed for $what (see above)"
fi
