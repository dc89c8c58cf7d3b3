#!/usr/bin/env bash
# The browser tests: wasm-bindgen-test in Debian's headless Chromium through
# chromedriver (web/webdriver.json gives the browser and its flags), then
# the page tests (scripts/test-pages.sh). Never downloads a browser. Extra
# arguments go to the first cargo test.
#
# The wasm tests run in release: the memory budget is a property of the
# optimized module, and a debug test binary's harness and data alone take
# about 330 KiB more of the 2 MiB (every test binary keeps the shipped
# 2 MiB cap either way).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"

export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# Generous: the first run may compile Lua and the test module.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
cd "$root"
echo "test-wasm: cargo test --release -p moonvault-web --target wasm32-unknown-unknown --features test-harness $*"
cargo test --release -p moonvault-web --target wasm32-unknown-unknown --features test-harness "$@"

# The BlobStore conformance suite on IdbStore. Its large-blob checks hold
# two 2 MiB blobs in linear memory, so this one binary is linked with a
# 16 MiB maximum (web/build.rs); the store code is the same.
echo "test-wasm: BlobStore conformance on IdbStore (16 MiB test memory)"
cargo test --release -p moonvault-web --target wasm32-unknown-unknown \
    --features test-memory-16mib,test-harness --test idb_conformance

"$root/scripts/test-pages.sh"
