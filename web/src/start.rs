//! Module start-up, and `evalLua`: Lua without a store.

use moonvault_lua_bind::new_vm;
use moonvault_lua_bind::wasi_shim::{self, OutputSink, Stream};
use wasm_bindgen::prelude::*;
use web_sys::console;

use crate::api::error::{ApiError, Kind};
use crate::budget::{Reservation, LUA_HEAP_DEFAULT};
use crate::console::LineSplitter;
use crate::eval_in;

unsafe extern "C" {
    /// Runs the C library's constructors; synthesised by wasm-ld.
    ///
    /// Referencing it matters beyond running them: when nothing calls it,
    /// wasm-ld wraps *every* export in constructor/destructor calls.
    fn __wasm_call_ctors();
}

thread_local! {
    static INITIALISED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[wasm_bindgen(start)]
fn start() {
    init();
}

/// Sets up the module: C constructors, the panic hook, Lua's clock and
/// console output. Runs at instantiation; later calls do nothing.
pub fn init() {
    if INITIALISED.with(|i| i.replace(true)) {
        return;
    }
    // SAFETY: runs once (guarded above), before any C code has run.
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        console::error_1(&JsValue::from_str(&info.to_string()));
    }));
    wasi_shim::set_clock(now_ns);
    wasi_shim::set_monotonic_clock(monotonic_ns);
    wasi_shim::set_output_sink(Some(console_sink()));
}

/// Wall-clock time for Lua's `os.time`.
fn now_ns() -> u64 {
    // Date.now() is whole milliseconds, far inside f64's exact range.
    (js_sys::Date::now() * 1_000_000.0) as u64
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: milliseconds since the page or worker started,
    /// monotonic (in windows, workers and Node alike).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The monotonic clock behind Lua's `os.clock`.
fn monotonic_ns() -> u64 {
    (performance_now() * 1_000_000.0) as u64
}

/// Lua's stdout goes to `console.log`, stderr to `console.error`, a line
/// per call (stores route `print` to their own callback instead).
fn console_sink() -> OutputSink {
    let mut out = LineSplitter::new();
    let mut err = LineSplitter::new();
    Box::new(move |stream, bytes| match stream {
        Stream::Stdout => out.push(bytes, |l| console::log_1(&JsValue::from_str(l))),
        Stream::Stderr => err.push(bytes, |l| console::error_1(&JsValue::from_str(l))),
    })
}

/// Runs `code` in a fresh sandboxed Lua VM without a store (limited to
/// the default Lua heap, in the module's Lua arena, reserved for the
/// call) and returns its results, each through `tostring`, separated by
/// tabs. A Lua error is thrown as an `Error`.
///
/// JS name `evalLua`: a module cannot export a binding named `eval`.
#[wasm_bindgen(js_name = evalLua)]
pub fn eval(code: &str) -> Result<String, JsValue> {
    init();
    let _reserved = Reservation::take(LUA_HEAP_DEFAULT, 0)
        .map_err(|m| JsValue::from(ApiError::new(Kind::Memory, m)))?;
    let lua = new_vm(LUA_HEAP_DEFAULT)
        .and_then(|lua| {
            crate::lua_arena::arena().adopt(&lua, LUA_HEAP_DEFAULT)?;
            Ok(lua)
        })
        .map_err(|e| JsValue::from(ApiError::new(Kind::Lua, e.to_string())))?;
    let out = eval_in(&lua, code).map_err(|e| {
        let v = moonvault_lua_bind::VaultError::from_lua(e);
        JsValue::from(ApiError::vault(&v, None))
    });
    drop(lua);
    out
}
