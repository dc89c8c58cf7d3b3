#!/usr/bin/env bash
# Writes one generation of old-format fixtures into OUT_DIR (a new
# directory): the stores and export of tests/examples/write_fixtures, the
# probe script, and the golden outputs of today's `moonvault`:
#
#   dump.txt    `moonvault dump` of each store and of the imported export
#               (all three must agree; the script fails otherwise)
#   probe.out   `moonvault run probe.lua` on each of them (likewise)
#
# Every command works on a copy: opening a store may recover and write.
# `moonvault check` must find no problem in any of them.
#
# Usage: scripts/write-fixtures.sh OUT_DIR
# A committed generation (tests/fixtures/vN) is never rewritten; to check
# that the generator is deterministic, write two new directories and
# compare them (`diff -r`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: scripts/write-fixtures.sh OUT_DIR (a directory that does not exist yet)}"
if [[ -e $out ]]; then
    echo "write-fixtures: $out exists; write a new generation to a new directory" >&2
    exit 1
fi
out="$(mkdir -p "$out" && cd "$out" && pwd)"
rmdir "$out" # the generator creates it

cd "$root"
cargo build --quiet -p moonvault-cli
cargo run --quiet -p moonvault-tests --example write_fixtures -- "$out"
mv="${CARGO_TARGET_DIR:-$root/target}/debug/moonvault"
cp tests/examples/write_fixtures/probe.lua "$out/"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$mv" import --trust --db "$work/imported" "$out/export.mvx" 2>/dev/null
for store in store-clean store-wal store-small-pages imported; do
    src="$out/$store"
    [[ $store == imported ]] && src="$work/imported"
    for step in check dump probe; do
        rm -rf "$work/copy"
        cp -r "$src" "$work/copy"
        case $step in
            check) "$mv" check --db "$work/copy" >"$work/$store.check" ;;
            dump) "$mv" dump --db "$work/copy" >"$work/$store.dump" ;;
            probe) (cd "$out" && "$mv" run --db "$work/copy" probe.lua) >"$work/$store.probe" ;;
        esac
    done
done
for ext in dump probe; do
    cmp "$work/store-clean.$ext" "$work/store-wal.$ext"
    cmp "$work/store-clean.$ext" "$work/store-small-pages.$ext"
    cmp "$work/store-clean.$ext" "$work/imported.$ext"
done
cp "$work/store-clean.dump" "$out/dump.txt"
cp "$work/store-clean.probe" "$out/probe.out"
echo "write-fixtures: wrote $out"
