#!/usr/bin/env bash
# Builds the web module: cargo (release, wasm32) -> wasm-bindgen --target
# web into web/pkg -> wasm-opt -Oz (npm binaryen; Debian's old binaryen
# breaks wasm exception handling). Prints the .wasm size, raw and gzipped,
# and fails if the module imports anything but wasm-bindgen's glue.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"

target_dir="$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
out="$root/web/pkg"
wasm_opt="$root/web/node_modules/.bin/wasm-opt"

echo "build-web: cargo build --release -p moonvault-web --target wasm32-unknown-unknown"
cargo build --release -p moonvault-web --target wasm32-unknown-unknown
raw="$target_dir/wasm32-unknown-unknown/release/moonvault_web.wasm"
wasm_dis="$root/web/node_modules/.bin/wasm-dis"

# wasm-ld turns a call whose wasm type differs from the definition (e.g. a
# WASI shim signature that disagrees with wasi-libc) into a trap stub named
# signature_mismatch:NAME. Check while the name section is still there.
if "$wasm_dis" "$raw" | grep -o 'signature_mismatch:[A-Za-z0-9_]*' | sort -u | grep .; then
    echo "build-web: function signature mismatches (above) would trap at run time" >&2
    exit 1
fi

echo "build-web: wasm-bindgen --target web --out-dir web/pkg"
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" "$raw"
module="$out/moonvault_web_bg.wasm"

size() { printf '%s bytes (%s gzipped)' "$(wc -c <"$1")" "$(gzip -9 -c "$1" | wc -c)"; }
before="$(size "$module")"
echo "build-web: wasm-opt -Oz"
# wasm-opt must know every feature the module uses (exceptions, bulk
# memory, reference types...); --detect-features reads the module's
# target_features section.
"$wasm_opt" -Oz --detect-features "$module" -o "$module.opt"
mv "$module.opt" "$module"

# Every import must come from wasm-bindgen's glue: none from WASI (answered
# by lua-bind/src/wasi_shim.rs) and none from `env` (an unresolved symbol).
imports="$("$wasm_dis" "$module" | grep -E '^ *\(import ' || true)"
foreign="$(grep -v '(import "./moonvault_web_bg.js"' <<<"$imports" || true)"
if [[ -n $foreign ]]; then
    echo "build-web: unexpected imports:" >&2
    echo "$foreign" >&2
    exit 1
fi
echo "build-web: $(grep -c . <<<"$imports") imports, all from the wasm-bindgen glue"
echo "build-web: web/pkg/moonvault_web_bg.wasm: $before after wasm-bindgen, $(size "$module") after wasm-opt -Oz"
node "$root/web/smoke.mjs"
