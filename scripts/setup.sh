#!/usr/bin/env bash
# Installs what the wasm build and the browser tests need, and only what is
# missing: fast when everything is present. Used by .ci/run and the README.
#
#   apt:    clang-22 lld-22 llvm-22 (C for wasm32), wasi-libc (libc.a and
#           headers for Lua), chromium chromium-driver (headless tests)
#   rustup: the wasm32-unknown-unknown target
#   cargo:  wasm-bindgen-cli, exactly the version web/Cargo.toml pins
#   npm:    web/node_modules from web/package-lock.json (binaryen's
#           wasm-opt, playwright-core, vite for the package test). No tool
#           ever downloads a browser:
#           tests drive Debian's /usr/bin/chromium.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "setup: $*"; }

# --- Debian packages -------------------------------------------------------
apt_packages=(clang-22 lld-22 llvm-22 wasi-libc chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    say "apt-get install ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
else
    say "apt packages present (${apt_packages[*]})"
fi

# --- Rust target -----------------------------------------------------------
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rust target wasm32-unknown-unknown present"
else
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# --- wasm-bindgen CLI ------------------------------------------------------
# The CLI must equal the crate version, so read the `=` pin from the crate.
wb_version="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$root/web/Cargo.toml")"
if [[ -z $wb_version ]]; then
    echo "setup: cannot find the wasm-bindgen = \"=X.Y.Z\" pin in web/Cargo.toml" >&2
    exit 1
fi
have="$(wasm-bindgen --version 2>/dev/null || true)"
have_runner="$(wasm-bindgen-test-runner --version 2>/dev/null || true)"
if [[ $have == "wasm-bindgen $wb_version" && $have_runner == "wasm-bindgen-test-runner $wb_version" ]]; then
    say "wasm-bindgen-cli $wb_version present"
else
    # No --locked: with it, 0.2.130 fails to resolve a webpki-roots version.
    say "cargo install wasm-bindgen-cli --version $wb_version (was: ${have:-none}; takes minutes)"
    cargo install wasm-bindgen-cli --version "$wb_version"
fi

# --- npm tools -------------------------------------------------------------
# `npm ci` wipes node_modules, so run it only when the lock file changed
# since the last successful install (stamp inside node_modules).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
lock="$root/web/package-lock.json"
stamp="$root/web/node_modules/.moonvault-lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    say "web/node_modules up to date"
else
    say "npm ci in web/ (binaryen, playwright-core)"
    (cd "$root/web" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
fi

say "done"
