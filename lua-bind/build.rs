//! Compiles Lua 5.4 (lua-src) for the target and, on wasm32-unknown-unknown,
//! the setjmp/longjmp runtime and links Debian's wasi-libc.
//!
//! Why not mlua's `vendored` feature: mlua-sys 0.13 pins a lua-src older than
//! 551.1.0, the first release that can target wasm32-unknown-unknown. So
//! mlua-sys runs with `external` and this script builds and links Lua.
//!
//! wasm32 needs, from the environment (`.cargo/config.toml` `[env]`, set up
//! by `scripts/setup.sh`): a clang that accepts lua-src's wasm EH flags
//! (`CC_wasm32_unknown_unknown = clang-22`), its archiver, and
//! `CFLAGS_wasm32_unknown_unknown` with the wasi-libc headers.

use std::env;
use std::path::{Path, PathBuf};

/// Where Debian's `wasi-libc` package puts `libc.a`.
const WASI_LIBC_DIR: &str = "/usr/lib/wasm32-wasi";
const WASM_CFLAGS_VAR: &str = "CFLAGS_wasm32_unknown_unknown";
/// Optional: the C optimisation level for Lua ("0"-"3", "s", "z") when it
/// should differ from this crate's Rust opt-level. `scripts/build-web.sh`
/// builds this crate's Rust for size ("z") but keeps Lua's C at "s": the
/// VM's interpreter loop runs 10-15% slower at -Oz for 10 KB less.
const LUA_OPT_LEVEL_VAR: &str = "MOONVAULT_LUA_OPT_LEVEL";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wasm-shim");
    for var in [
        LUA_OPT_LEVEL_VAR,
        WASM_CFLAGS_VAR,
        "CC_wasm32_unknown_unknown",
        "AR_wasm32_unknown_unknown",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let target = env::var("TARGET").expect("cargo sets TARGET for build scripts");
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let wasm = target == "wasm32-unknown-unknown";
    let shim_dir = manifest_dir.join("wasm-shim");

    if wasm {
        prepare_wasm_cflags(&shim_dir);
    }

    // On wasm32, lua-src also asks to link `wasi-emulated-signal` (from
    // wasi-libc) and `setjmp` (built below) without bundling them, so they
    // are resolved when the final module is linked.
    let mut lua = lua_src::Build::new();
    if let Ok(level) = env::var(LUA_OPT_LEVEL_VAR) {
        lua.opt_level(&level);
    }
    lua.build(lua_src::Lua54).print_cargo_metadata();

    if wasm {
        build_sjlj_runtime(&shim_dir);
        link_wasi_libc();
    }
}

/// Puts `wasm-shim/include` (our `setjmp.h`) first on the C include path.
///
/// lua-src builds its own `cc::Build`, so the only way in is the
/// environment variable cc reads; cc appends it after lua-src's flags,
/// which also lets `-mllvm -wasm-use-legacy-eh=true` from the config win.
fn prepare_wasm_cflags(shim_dir: &Path) {
    let existing = env::var(WASM_CFLAGS_VAR).unwrap_or_default();
    if !existing.contains("wasm32-wasi") {
        panic!(
            "{WASM_CFLAGS_VAR} does not point at the wasi-libc headers \
             (got {existing:?}). Build from the moonvault checkout so \
             .cargo/config.toml applies, and run scripts/setup.sh to \
             install clang-22 and wasi-libc."
        );
    }
    let include = shim_dir.join("include");
    // set_var is sound here: this build script runs no other threads.
    env::set_var(
        WASM_CFLAGS_VAR,
        format!("-isystem {} {existing}", include.display()),
    );
}

/// Compiles the three `__wasm_*` functions and the `__c_longjmp` tag into
/// `libsetjmp.a`, the name lua-src already asked the linker for.
fn build_sjlj_runtime(shim_dir: &Path) {
    cc::Build::new()
        .file(shim_dir.join("sjlj_rt.c"))
        .file(shim_dir.join("c_longjmp_tag.S"))
        .flag("-mllvm")
        .flag("-wasm-enable-sjlj")
        .flag("-mexception-handling")
        // lua-src already printed `rustc-link-lib=static:-bundle=setjmp`;
        // a second link request with other modifiers is a rustc error.
        .cargo_metadata(false)
        .compile("setjmp");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rustc-link-search=native={out_dir}");
}

/// Links wasi-libc's `libc.a` (Lua needs stdio, string, math, time). Its
/// WASI system calls are defined in `src/wasi_shim.rs`, so the module
/// imports nothing from WASI.
fn link_wasi_libc() {
    let libc = Path::new(WASI_LIBC_DIR).join("libc.a");
    if !libc.exists() {
        panic!(
            "{} not found: install Debian's wasi-libc (scripts/setup.sh)",
            libc.display()
        );
    }
    println!("cargo:rustc-link-search=native={WASI_LIBC_DIR}");
    println!("cargo:rustc-link-lib=static:-bundle=c");
}
