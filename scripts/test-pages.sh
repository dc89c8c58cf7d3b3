#!/usr/bin/env bash
# Page-level tests of the built package (web/pkg) in Debian's headless
# Chromium, driven by playwright-core (web/page-tests/*.test.mjs): the
# demo page (run Lua, reload, second tab), durability (interrupted commits,
# a quota failure) and the JavaScript API, each on the page's thread and in
# Worker mode; Worker mode's own checks (abort, locks, progress, the page's
# longest task during a 100K-record import: MOONVAULT_LONGTASK_RECORDS sets
# the size); the package installed from `npm pack` into an app built with
# Vite and into a plain page. Never downloads a browser.
# Set MOONVAULT_SKIP_BUILD=1 to test the package already in web/pkg.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ${MOONVAULT_SKIP_BUILD:-} != 1 ]]; then
    "$root/scripts/build-web.sh"
else
    "$root/scripts/setup.sh"
fi
cd "$root/web"
echo "test-pages: node --test web/page-tests/"
# One file at a time: each drives its own Chromium, and CI has 2 cores.
node --test --test-concurrency=1 page-tests/
