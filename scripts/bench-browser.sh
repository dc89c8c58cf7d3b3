#!/usr/bin/env bash
# The browser benchmark: moonvault (wasm, IndexedDB store), Dexie, raw
# IndexedDB and wa-sqlite (IndexedDB VFS) on real IndexedDB in Debian's
# headless Chromium (bench/browser/). Writes target/browser-bench.json,
# which `./x bench`'s report turns into the browser table and chart.
#
#   scripts/bench-browser.sh            10K records, full samples (minutes)
#   scripts/bench-browser.sh --quick    1K records, few samples, written to
#                                       target/browser-bench-quick.json (CI)
#
# Other arguments go to bench/browser/run.mjs (--peers a,b, --out FILE,
# --no-memory). Installs what it needs, idempotently: Chromium and the
# wasm tools (scripts/setup.sh), bench/browser's npm packages (`npm ci`
# only when the lock file changed), and the web package (scripts/build-web.sh
# only when web/pkg is missing or older than a source it is built from).
# Never downloads a browser.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "bench-browser: $*"; }
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

"$root/scripts/setup.sh" >/dev/null

# --- npm packages (dexie, wa-sqlite, playwright-core) -----------------------
dir="$root/bench/browser"
stamp="$dir/node_modules/.moonvault-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    say "bench/browser/node_modules up to date"
else
    say "npm ci in bench/browser/ (dexie, wa-sqlite, playwright-core)"
    (cd "$dir" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
fi

# --- the web package ----------------------------------------------------------
pkg="$root/web/pkg"
built="$pkg/moonvault_web_bg.wasm"
stale=""
if [[ ! -f $pkg/moonvault.js || ! -f $built ]]; then
    stale="web/pkg is missing"
else
    newer="$(cd "$root" && find web/src web/js web/build.rs web/Cargo.toml \
        lua-bind engine btree pager Cargo.toml Cargo.lock .cargo \
        -newer "$built" -type f \( -name '*.rs' -o -name '*.js' -o -name '*.ts' \
        -o -name '*.json' -o -name '*.toml' -o -name '*.lock' -o -name '*.c' -o -name '*.h' \) \
        -not -path '*/target/*' -print -quit 2>/dev/null || true)"
    [[ -n $newer ]] && stale="$newer is newer than web/pkg"
fi
if [[ -n $stale ]]; then
    say "building the web package ($stale)"
    "$root/scripts/build-web.sh"
else
    say "web/pkg up to date"
fi

# --- run ----------------------------------------------------------------------
cd "$dir"
exec node run.mjs "$@"
