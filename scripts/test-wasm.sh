#!/usr/bin/env bash
# Runs the wasm32 browser tests (web/tests/) in Debian's headless Chromium
# through chromedriver; web/webdriver.json gives the browser and its flags.
# Never downloads a browser. Extra arguments go to cargo test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"

export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# Generous: the first run may compile Lua and the test module.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
cd "$root"
echo "test-wasm: cargo test -p moonvault-web --target wasm32-unknown-unknown $*"
cargo test -p moonvault-web --target wasm32-unknown-unknown "$@"
