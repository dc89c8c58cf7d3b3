#!/usr/bin/env bash
# Page-level tests of the built package (web/pkg), both module builds, in Debian's headless
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
# One file at a time: each drives its own Chromium, and CI has 2 cores.
# Twice: Chromium has JS Promise Integration, so the package picks the
# jspi build (lazy paging); then every test again on the build for engines
# without it (pages mirrored), as such browsers run it.
echo "test-pages: node --test web/page-tests/ (jspi build, lazy paging)"
node --test --test-concurrency=1 page-tests/
echo "test-pages: node --test web/page-tests/ (MOONVAULT_BUILD=mirror: the build without JSPI)"
MOONVAULT_BUILD=mirror node --test --test-concurrency=1 page-tests/
