//! Compiles Lua 5.4 (`lua/`, the copy lua-src 551.1.0 ships plus
//! moonvault's interrupt patch: `lua/README.md`) for the target and, on
//! wasm32-unknown-unknown, the setjmp/longjmp runtime, and links Debian's
//! wasi-libc.
//!
//! Why not mlua's `vendored` feature: mlua-sys 0.13 pins a lua-src older than
//! 551.1.0, the first release that can target wasm32-unknown-unknown. So
//! mlua-sys runs with `external` and this script builds and links Lua.
//! Why not lua-src itself: it compiles only its own, unpatched sources. The
//! flags below are the ones lua-src 551.1.0 uses for these targets.
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
/// The Lua library's name (mlua-sys's `external` feature links none itself).
const LUA_LIB: &str = "lua5.4";
/// Optional: the C optimisation level for Lua ("0"-"3", "s", "z") when it
/// should differ from this crate's Rust opt-level. `scripts/build-web.sh`
/// builds this crate's Rust for size ("z") but keeps Lua's C at "s": the
/// VM's interpreter loop runs 10-15% slower at -Oz for 10 KB less.
const LUA_OPT_LEVEL_VAR: &str = "MOONVAULT_LUA_OPT_LEVEL";

/// `LUAI_MAXCCALLS` of the wasm32 build (see `build_lua`).
const WASM_MAX_C_CALLS: &str = "100";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wasm-shim");
    println!("cargo:rerun-if-changed=lua");
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

    build_lua(&manifest_dir.join("lua"), &target, wasm);

    if wasm {
        build_sjlj_runtime(&shim_dir);
        link_wasi_libc();
    }
}

/// Compiles the Lua sources in `source_dir` into `lib{LUA_LIB}.a` and asks
/// the linker for it (and, on wasm32, for `wasi-emulated-signal` from
/// wasi-libc and `setjmp`, built below, resolved when the final module is
/// linked).
fn build_lua(source_dir: &Path, target: &str, wasm: bool) {
    let mut lua = cc::Build::new();
    lua.warnings(false).target(target);
    if wasm {
        // WASI is POSIX-like; signals are emulated just enough to compile.
        lua.define("LUA_USE_POSIX", None)
            .define("_WASI_EMULATED_SIGNAL", None);
        // Lua's cap on nested C calls (and syntax levels) is its only guard
        // of the C stack, which on wasm32 is the module's 128 KiB shadow
        // stack (web budget): at the default 200, a script recursing
        // through `string.gsub` (about 0.9 KiB a level) overran it and
        // trapped, aborting the module. At 100 the deepest path measured
        // (`string.format` through `__tostring`, 0.96 KiB a level) takes
        // about 100 KiB (`deep_c_recursion_is_an_error_not_a_trap` in
        // web/tests/browser.rs tries every C path that recurses).
        lua.define("LUAI_MAXCCALLS", Some(WASM_MAX_C_CALLS));
        // setjmp/longjmp over wasm exceptions; the exnref encoding here is
        // overridden by CFLAGS (appended after these) for the legacy build.
        for flag in [
            "-wasm-enable-eh",
            "-wasm-use-legacy-eh=false",
            "-wasm-enable-sjlj",
        ] {
            lua.flag("-mllvm").flag(flag);
        }
    } else if target.contains("linux") {
        lua.define("LUA_USE_LINUX", None);
    } else if target.contains("apple") {
        lua.define("LUA_USE_MACOSX", None);
    } else if target.contains("windows") {
        lua.define("LUA_USE_WINDOWS", None);
    } else {
        lua.define("LUA_USE_POSIX", None);
    }
    lua.define("LUA_COMPAT_5_3", None);
    if env::var("PROFILE").is_ok_and(|p| p == "debug") {
        // Lua's own checks of API use (stack overflows, wrong indices).
        lua.define("LUA_USE_APICHECK", None);
    }
    if let Ok(level) = env::var(LUA_OPT_LEVEL_VAR) {
        lua.opt_level_str(&level);
    }
    let sources = std::fs::read_dir(source_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", source_dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"));
    lua.include(source_dir)
        .flag_if_supported("-fno-common")
        .files(sources)
        .compile(LUA_LIB);
    if wasm {
        println!("cargo:rustc-link-lib=static:-bundle=wasi-emulated-signal");
        println!("cargo:rustc-link-lib=static:-bundle=setjmp");
    }
}

/// Puts `wasm-shim/include` (our `setjmp.h`) first on the C include path.
///
/// cc appends the environment variable it reads after `build_lua`'s flags,
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
/// `libsetjmp.a`, the name `build_lua` already asked the linker for.
fn build_sjlj_runtime(shim_dir: &Path) {
    cc::Build::new()
        .file(shim_dir.join("sjlj_rt.c"))
        .file(shim_dir.join("c_longjmp_tag.S"))
        .flag("-mllvm")
        .flag("-wasm-enable-sjlj")
        .flag("-mexception-handling")
        // `build_lua` already printed `rustc-link-lib=static:-bundle=setjmp`;
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
