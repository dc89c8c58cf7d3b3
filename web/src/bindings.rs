//! wasm-bindgen start-up and exports (wasm32 only).

use std::cell::{Cell, RefCell};

use moonvault_lua::mlua::Lua;
use moonvault_lua::new_vm;
use moonvault_lua::wasi_shim::{self, OutputSink, Stream};
use wasm_bindgen::prelude::*;
use web_sys::console;

use crate::console::LineSplitter;
use crate::{eval_in, LUA_MEMORY_LIMIT};

unsafe extern "C" {
    /// Runs the C library's constructors; synthesised by wasm-ld.
    ///
    /// Referencing it matters beyond running them: when nothing calls it,
    /// wasm-ld wraps *every* export in constructor/destructor calls.
    fn __wasm_call_ctors();
}

thread_local! {
    static INITIALISED: Cell<bool> = const { Cell::new(false) };
    /// The module-wide VM, created on first use. `Lua` is a cheap handle,
    /// so callers clone it out and hold no borrow while Lua runs.
    static VM: RefCell<Option<Lua>> = const { RefCell::new(None) };
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
    wasi_shim::set_output_sink(Some(console_sink()));
}

/// Wall-clock time for Lua's `os.time`/`os.clock`.
fn now_ns() -> u64 {
    // Date.now() is whole milliseconds, far inside f64's exact range.
    (js_sys::Date::now() * 1_000_000.0) as u64
}

/// Lua's stdout goes to `console.log`, stderr to `console.error`, a line
/// per call.
fn console_sink() -> OutputSink {
    let mut out = LineSplitter::new();
    let mut err = LineSplitter::new();
    Box::new(move |stream, bytes| match stream {
        Stream::Stdout => out.push(bytes, |l| console::log_1(&JsValue::from_str(l))),
        Stream::Stderr => err.push(bytes, |l| console::error_1(&JsValue::from_str(l))),
    })
}

fn vm() -> Result<Lua, JsError> {
    VM.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(lua) = slot.as_ref() {
            return Ok(lua.clone());
        }
        let lua = new_vm(LUA_MEMORY_LIMIT).map_err(|e| JsError::new(&e.to_string()))?;
        *slot = Some(lua.clone());
        Ok(lua)
    })
}

/// Runs `code` as a Lua chunk in the module's VM and returns its results,
/// each through `tostring`, separated by tabs. A Lua error (including
/// running out of Lua memory) is thrown as a JS `Error`; the VM stays
/// usable afterwards.
///
/// JS name `evalLua`: a module cannot export a binding named `eval`.
#[wasm_bindgen(js_name = evalLua)]
pub fn eval(code: &str) -> Result<String, JsError> {
    init();
    let lua = vm()?;
    eval_in(&lua, code).map_err(|e| JsError::new(&e.to_string()))
}
