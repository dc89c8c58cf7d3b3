#!/usr/bin/env bash
# Short run of every cargo-fuzz target (fuzz/), from its committed seeds:
# MOONVAULT_FUZZ_SECONDS per target (default 20, so about a minute in all
# plus the build). Installs the nightly toolchain and cargo-fuzz if they
# are missing (the product itself builds on stable). A crash fails the run;
# its input is left in <target>/fuzz/artifacts/<target>/ to become a
# regression test (tests/fixtures/fuzz/).
#
#   scripts/fuzz-smoke.sh                      # CI's smoke run
#   MOONVAULT_FUZZ_SECONDS=1800 scripts/fuzz-smoke.sh open_store
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${MOONVAULT_FUZZ_SECONDS:-20}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(function_payload open_store import)

if ! command -v cargo >/dev/null 2>&1; then
    # shellcheck disable=SC1091
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked
fi

# Nightly builds stay apart from the stable ones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
work="$CARGO_TARGET_DIR/smoke"
for t in "${targets[@]}"; do
    rm -rf "$work/artifacts/$t"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    log="$work/$t.log"
    echo "fuzz $t for ${seconds}s (log: $log)"
    if ! cargo +nightly fuzz run "$t" "$work/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        grep -E 'panicked|SUMMARY|ERROR|error' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
        echo "fuzz target $t failed; its input: $(ls "$work/artifacts/$t" 2>/dev/null)" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
echo "fuzz smoke: ${#targets[@]} targets, ${seconds}s each, no crash"
