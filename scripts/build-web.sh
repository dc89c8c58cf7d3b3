#!/usr/bin/env bash
# Builds the web package in web/pkg: cargo (release, wasm32) -> wasm-bindgen
# --target web -> wasm-opt -Oz (npm binaryen; Debian's old binaryen breaks
# wasm exception handling) -> the ES module package (moonvault.js entry,
# core.js and its result decoder wire.js, the Worker mode's remote.js,
# worker.js and protocol.js, errors.js, moonvault.d.ts, README.md, package.json from web/js; the
# version is the workspace's). Prints the .wasm
# size, raw and gzipped, and fails if the module imports anything but
# wasm-bindgen's glue, its memory may grow past 2 MiB, or wasi-libc's
# malloc is linked beside Rust's.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"

target_dir="$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
out="$root/web/pkg"
wasm_opt="$root/web/node_modules/.bin/wasm-opt"
wasm_dis="$root/web/node_modules/.bin/wasm-dis"

# Built for size (this build only; the workspace's release profile stays as
# it is for native benches): fat LTO, one codegen unit and opt-level "s"
# give a module about 23% smaller than opt-level 3. On top of that, the
# binding layers are built at opt-level "z" (per-package overrides, which
# survive LTO as per-function size attributes): mlua, the Lua binding, the
# web crate and wasm-bindgen's crates, 77 KB (5.8%) less, no slower in the
# browser bench. The engine, B-tree and pager stay at "s" (at "z" they
# lose 25-40% on point reads and indexed queries for 42 KB), and so does
# Lua's C (MOONVAULT_LUA_OPT_LEVEL, read by lua-bind/build.rs: at -Oz the
# interpreter runs 10-15% slower for 10 KB). DESIGN.md section 8 has the
# measurements and what the module is made of.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s
export CARGO_PROFILE_RELEASE_LTO=fat
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_DEBUG=0
export MOONVAULT_LUA_OPT_LEVEL=s
size_packages=(mlua moonvault-lua-bind moonvault-web wasm-bindgen wasm-bindgen-futures js-sys web-sys)
size_config=()
for p in "${size_packages[@]}"; do
    size_config+=(--config "profile.release.package.$p.opt-level=\"z\"")
done
size() { printf '%s bytes (%s gzipped)' "$(wc -c <"$1")" "$(gzip -9 -c "$1" | wc -c)"; }

# build_module FEATURES TARGET_DIR DIR: one wasm module and its wasm-bindgen
# glue in DIR, optimized and checked.
build_module() {
    local features="$1" targets="$2" dir="$3"
    echo "build-web: cargo build --release -p moonvault-web --target wasm32-unknown-unknown" \
        "${features:+--features $features} (opt-level s, z for ${size_packages[*]}; LTO)"
    CARGO_TARGET_DIR="$targets" cargo build --release -p moonvault-web \
        --target wasm32-unknown-unknown ${features:+--features "$features"} "${size_config[@]}"
    local raw="$targets/wasm32-unknown-unknown/release/moonvault_web.wasm"

    # wasm-ld turns a call whose wasm type differs from the definition (e.g. a
    # WASI shim signature that disagrees with wasi-libc) into a trap stub named
    # signature_mismatch:NAME. Check while the name section is still there.
    local raw_text
    raw_text="$(mktemp)"
    "$wasm_dis" "$raw" >"$raw_text"
    if grep -o 'signature_mismatch:[A-Za-z0-9_]*' "$raw_text" | sort -u | grep .; then
        echo "build-web: function signature mismatches (above) would trap at run time" >&2
        rm -f "$raw_text"
        exit 1
    fi
    # One heap: C's malloc is lua-bind's c_malloc on Rust's allocator, so
    # wasi-libc's dlmalloc must not be linked beside it.
    if grep -qE '^ *\(func \$dlmalloc[ (]' "$raw_text"; then
        echo "build-web: wasi-libc's dlmalloc is linked (C's malloc should be lua-bind's c_malloc)" >&2
        rm -f "$raw_text"
        exit 1
    fi
    rm -f "$raw_text"

    echo "build-web: wasm-bindgen --target web --out-dir ${dir#"$root/"}"
    wasm-bindgen --target web --out-dir "$dir" "$raw"
    # V8's explicit compile hint (first line): the glue's functions are
    # compiled while the script loads, not one by one on a fresh page's
    # first calls (DESIGN.md section 8, "A fresh page").
    local glue="$dir/moonvault_web.js"
    { echo '//# allFunctionsCalledOnLoad'; cat "$glue"; } >"$glue.hinted"
    mv "$glue.hinted" "$glue"
    local module="$dir/moonvault_web_bg.wasm"
    local before
    before="$(size "$module")"
    echo "build-web: wasm-opt -Oz"
    # wasm-opt must know every feature the module uses (exceptions, bulk
    # memory, reference types...); --detect-features reads the module's
    # target_features section.
    # --strip-producers: the toolchain's names and versions, of no use to a page.
    "$wasm_opt" -Oz --strip-producers --detect-features "$module" -o "$module.opt"
    mv "$module.opt" "$module"

    # Every import must come from wasm-bindgen's glue or the web crate's own
    # JS module (src/imports.js, a snippet): none from WASI (answered by
    # lua-bind/src/wasi_shim.rs) and none from `env` (an unresolved symbol).
    local imports foreign memory
    imports="$("$wasm_dis" "$module" | grep -E '^ *\(import ' || true)"
    foreign="$(grep -vE '\(import "\./(moonvault_web_bg\.js|snippets/moonvault-web-[0-9a-f]+/src/imports\.js)"' <<<"$imports" || true)"
    if [[ -n $foreign ]]; then
        echo "build-web: unexpected imports:" >&2
        echo "$foreign" >&2
        exit 1
    fi
    echo "build-web: $(grep -c . <<<"$imports") imports, all from the wasm-bindgen glue and the crate's src/imports.js"

    # The memory budget must survive wasm-bindgen and wasm-opt: the module's
    # memory maximum is 32 pages of 64 KiB (2 MiB).
    memory="$("$wasm_dis" "$module" | grep -m1 -E '^ *\(memory ' || true)"
    if ! grep -qE '\(memory \$[0-9a-z]+ [0-9]+ 32\)' <<<"$memory"; then
        echo "build-web: the module's memory is not capped at 32 pages (2 MiB): $memory" >&2
        exit 1
    fi
    # Its initial memory holds the stack, static data and the Lua arena;
    # Rust's allocator starts at the page after it, so more than 25 pages
    # (1600 KiB: web/src/budget.rs STACK + STATIC_DATA + LUA_ARENA) would
    # shrink the Rust heap below its budget: static data outgrew its
    # budget, which has to be rethought, not silently paid for.
    initial="$(sed -E 's/.*\(memory \$[0-9a-z]+ ([0-9]+) 32\).*/\1/' <<<"$memory")"
    if (( initial > 25 )); then
        echo "build-web: the module's static memory takes $initial pages, more than the 25 budgeted (web/src/budget.rs)" >&2
        exit 1
    fi
    echo "build-web: linear memory $memory: at most 2 MiB, the Rust heap from page $initial"
    echo "build-web: ${module#"$root/"}: $before after wasm-bindgen, $(size "$module") after wasm-opt -Oz"
}

rm -rf "$out"
# The module for every engine (pages mirrored), then the one for engines
# with JS Promise Integration (lazy paging; DESIGN.md section 8). core.js
# loads one of the two.
build_module "" "$target_dir" "$out"
# The JSPI build: wasm-bindgen's JSPI support uses the new (exnref)
# encoding of wasm exceptions, and an engine refuses a module that mixes
# the two encodings, so Lua's setjmp/longjmp is compiled for exnref here
# (the flags of .cargo/config.toml without -wasm-use-legacy-eh=true).
# Every engine with JSPI has exnref. Its own target directory keeps the
# two Lua builds from rebuilding each other.
CFLAGS_wasm32_unknown_unknown="-D__wasi__ -isystem /usr/include/wasm32-wasi" \
    build_module jspi "$target_dir/wasm-jspi" "$out/jspi"

# The package: the documented entry over the wasm-bindgen module.
version="$(sed -n 's/^version = "\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -1)"
cp "$root"/web/js/{moonvault,core,remote,worker,protocol,errors,wire}.js "$root/web/js/moonvault.d.ts" \
    "$root/web/js/README.md" "$out/"
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" "$root/web/js/package.json" >"$out/package.json"
echo "build-web: package web/pkg: $(cd "$out" && ls | tr '\n' ' ')"
node "$root/web/smoke.mjs"
