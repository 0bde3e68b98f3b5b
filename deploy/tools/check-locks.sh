#!/usr/bin/env bash
# Fails when a committed lock file is not in the form its tool writes it today, naming the file and the
# command that rewrites it. Catches a drifted lock (a hand-pruned npm lock, a Cargo.toml edited without
# its Cargo.lock, a pip lock whose direct pins moved) in CI, before a newcomer's first command does.
# Every check is read-only: the tree is never changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
failed=0

fail() {
  echo "check-locks: $*" >&2
  failed=1
}

# npm: what `npm install --package-lock-only` writes from package.json and the registry must equal the
# committed lock (every platform's optional packages included, as npm lists them).
for lock in $(git ls-files '*package-lock.json'); do
  dir="$(dirname "$lock")"
  scratch="$(mktemp -d)"
  cp "$dir/package.json" "$lock" "$scratch/"
  if ! (cd "$scratch" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error) >"$scratch/log" 2>&1; then
    fail "$lock: npm cannot resolve it ($(grep -m1 -E 'error' "$scratch/log" || echo 'see npm install --package-lock-only'))"
  elif ! cmp -s "$lock" "$scratch/package-lock.json"; then
    fail "$lock is not what npm writes from $dir/package.json: run (cd $dir && npm install --package-lock-only) and commit the lock as written ($(diff "$lock" "$scratch/package-lock.json" | grep -c '^[<>]') lines differ)"
  fi
  rm -rf "$scratch"
done

# cargo: every workspace's lock satisfies its manifests without a change.
for lock in $(git ls-files '*Cargo.lock'); do
  dir="$(dirname "$lock")"
  if ! out="$(cargo metadata --locked --format-version 1 --manifest-path "$dir/Cargo.toml" 2>&1 >/dev/null)"; then
    fail "$lock is out of date with $dir/Cargo.toml: run cargo update --workspace --manifest-path $dir/Cargo.toml and commit it ($(grep -m1 -E 'error' <<<"$out"))"
  fi
done

# pip: each hashed lock pins its .in's direct requirements at the same versions, every entry hashed.
for input in $(git ls-files 'contracts/requirements-*.in'); do
  lock="${input%.in}.txt"
  while read -r pin; do
    grep -qixF "$pin \\" "$lock" || fail "$lock does not pin $pin as $input asks: regenerate it as $input says"
  done < <(grep -E '^[A-Za-z0-9._-]+==' "$input")
  unhashed="$(grep -cE '^[A-Za-z0-9._-]+==[^ ]+$' "$lock" || true)"
  ((unhashed == 0)) || fail "$lock has $unhashed entries without --hash: regenerate it as $input says"
done

exit "$failed"
