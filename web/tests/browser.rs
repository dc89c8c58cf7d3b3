//! The Lua VM in headless Chromium, through the exported `eval`.
//!
//! Run: `scripts/test-wasm.sh` (or `cargo test -p moonvault-web --target
//! wasm32-unknown-unknown` with CHROMEDRIVER set). All tests share the one
//! module-wide VM, as a page would.

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use moonvault_lua_bind::mlua;
use moonvault_lua_bind::wasi_shim::{set_output_sink, Stream};
use moonvault_web::api::stats::linear_memory;
use moonvault_web::budget::{LINEAR_MEMORY, LUA_HEAP_DEFAULT as LUA_MEMORY_LIMIT};
use moonvault_web::{eval, init};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MEMORY_BUDGET: u64 = LINEAR_MEMORY as u64;

fn ok(code: &str) -> String {
    eval(code).unwrap_or_else(|e| panic!("{code}: {e:?}"))
}

fn err(code: &str) -> String {
    let e = eval(code).expect_err(code);
    let e: js_sys::Error = e.dyn_into().expect("a JS Error");
    String::from(e.message())
}

#[wasm_bindgen_test]
fn eval_returns_values() {
    assert_eq!(ok("return 1 + 2, 'x', nil"), "3\tx\tnil");
    assert_eq!(
        ok(r#"return string.format("%.14g", 0.1), tostring(1e300), 7 // 2, 2^53"#),
        "0.1\t1e+300\t3\t9.007199254741e+15"
    );
}

#[wasm_bindgen_test]
fn pcall_catches_errors() {
    assert_eq!(
        ok(r#"local ok, e = pcall(error, "boom", 0) return ok, e"#),
        "false\tboom"
    );
    // Nested: an error unwinds through several protected calls.
    assert_eq!(
        ok(r#"return pcall(function() return select(2, pcall(error, "in", 0)) .. "!" end)"#),
        "true\tin!"
    );
    let msg = err(r#"error("uncaught")"#);
    assert!(msg.contains("uncaught"), "{msg}");
    assert_eq!(ok("return 40 + 2"), "42");
}

#[wasm_bindgen_test]
fn string_dump_then_load() {
    assert_eq!(
        ok(r#"local f = load(string.dump(function(a) return a * 2 end), "d", "b") return f(21)"#),
        "42"
    );
}

#[wasm_bindgen_test]
fn deep_c_recursion_is_an_error_not_a_trap() {
    // The parser recurses in C per nesting level; Lua caps that depth
    // (LUAI_MAXCCALLS) and the 128 KiB stack must hold the cap.
    let msg = err(&format!("return {}1{}", "(".repeat(300), ")".repeat(300)));
    assert!(msg.contains("overflow") || msg.contains("levels"), "{msg}");
    // Every way Lua code can recurse through C: each level puts a C
    // frame on the 128 KiB shadow stack (`string.gsub` about 0.9 KiB, with
    // its buffer and match state), so the cap must stop the deepest first.
    // A trap here would abort the module, so this is a sandbox boundary.
    for code in [
        "local function f() return tostring(setmetatable({}, {__tostring = f})) end return f()",
        "local function f() return (string.gsub('x', '.', f)) end return f()",
        "local t = setmetatable({}, {__tostring = function(s) return string.format('%s', s) end}) \
         return tostring(t)",
        "local function f() return load(function() return f() end) end return f()",
        "local function f() table.sort({2, 1}, function(a, b) f() return a < b end) end return f()",
        "local function f() return coroutine.wrap(f)() end return f()",
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x",
        "local function f() return select(2, xpcall(f, function(e) return f() end)) end return f()",
    ] {
        // Some of them catch the overflow inside Lua (`load` turns a
        // reader's error into its result); what matters is that the
        // module lives, and that an error is the cap's.
        if let Err(e) = eval(code) {
            let msg = String::from(e.dyn_into::<js_sys::Error>().expect("a JS Error").message());
            assert!(
                msg.contains("overflow") || msg.contains("stack") || msg.contains("C levels"),
                "{code}: {msg}"
            );
        }
    }
    assert_eq!(ok("return 1"), "1");
}

#[wasm_bindgen_test]
fn rust_callback_recursion_is_an_error_not_a_trap() {
    // Lua -> Rust -> Lua -> ... puts mlua's Rust frames on the 128 KiB
    // shadow stack at every level; Lua's C-call cap must stop it first.
    let lua = moonvault_lua_bind::new_vm(256 * 1024).unwrap();
    moonvault_web::lua_arena::arena()
        .adopt(&lua, 256 * 1024)
        .unwrap();
    let f = lua
        .create_function(|lua, n: i64| {
            if n == 0 {
                return Ok(0);
            }
            let g: mlua::Function = lua.globals().get("g")?;
            g.call::<i64>(n - 1)
        })
        .unwrap();
    lua.globals().set("f", f).unwrap();
    let (ok, msg): (bool, String) = lua
        .load("function g(n) return f(n) + 1 end local ok, e = pcall(f, 100000) return ok, tostring(e)")
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(msg.contains("stack overflow"), "{msg}");
    let depth: i64 = lua.load("return f(50)").eval().unwrap();
    assert_eq!(depth, 50);
}

#[wasm_bindgen_test]
fn memory_limit_is_catchable_and_vm_survives() {
    let out = ok(r#"
        local t = {}
        local ok, e = pcall(function() for i = 1, 1e7 do t[i] = { i } end end)
        t = nil
        collectgarbage()
        return ok, e
    "#);
    assert_eq!(out, "false\tnot enough memory");
    let msg = err("local s = {} for i = 1, 1e7 do s[i] = i end");
    assert!(msg.contains("not enough memory"), "{msg}");
    assert_eq!(
        ok("collectgarbage() local t = {} for i = 1, 1000 do t[i] = i end return #t"),
        "1000"
    );
    assert!(
        linear_memory() <= MEMORY_BUDGET,
        "{} bytes",
        linear_memory()
    );
}

#[wasm_bindgen_test]
fn moderate_allocations_fit() {
    // About a quarter of the Lua limit.
    assert_eq!(
        ok("local t = {} for i = 1, 4000 do t[i] = { i } end return #t"),
        "4000"
    );
    assert!(LUA_MEMORY_LIMIT < MEMORY_BUDGET as usize);
    assert!(
        linear_memory() <= MEMORY_BUDGET,
        "{} bytes",
        linear_memory()
    );
}

#[wasm_bindgen_test]
fn memory_cannot_grow_past_budget() {
    const PAGE: u64 = 64 * 1024;
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let grow: js_sys::Function = js_sys::Reflect::get(&memory, &"grow".into())
        .unwrap()
        .unchecked_into();
    let headroom = (MEMORY_BUDGET - linear_memory()) / PAGE;
    // One page more than the budget allows must be refused (RangeError)
    // and leave the memory unchanged.
    let before = linear_memory();
    assert!(grow
        .call1(&memory, &JsValue::from((headroom + 1) as u32))
        .is_err());
    assert_eq!(linear_memory(), before);
}

#[wasm_bindgen_test]
fn print_goes_to_the_output_sink() {
    init();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&seen);
    let previous = set_output_sink(Some(Box::new(move |stream, bytes| {
        sink.borrow_mut().push((stream, bytes.to_vec()));
    })));
    let result =
        eval(r#"print("hello", 42) io.write("a", "b") io.stdout:flush() io.stderr:write("e")"#);
    set_output_sink(previous);
    result.unwrap();
    let seen = seen.borrow();
    let text = |s: Stream| {
        let bytes: Vec<u8> = seen
            .iter()
            .filter(|(st, _)| *st == s)
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        String::from_utf8(bytes).unwrap()
    };
    assert_eq!(text(Stream::Stdout), "hello\t42\nab");
    assert_eq!(text(Stream::Stderr), "e");
}

#[wasm_bindgen_test]
fn host_without_files_or_environment() {
    // An empty, read-only file system: plain Lua's messages.
    assert_eq!(
        ok(r#"local f, e = io.open("x.txt") return f, e"#),
        "nil\tx.txt: No such file or directory"
    );
    assert_eq!(ok(r#"return os.getenv("HOME")"#), "nil");
    // os.time comes from Date.now(): after 2020, as an integer.
    assert_eq!(
        ok("return math.type(os.time()), os.time() > 1577836800"),
        "integer\ttrue"
    );
    // os.clock is the host's monotonic clock (lua-src's WASI build has
    // none); os.exit is removed everywhere.
    assert_eq!(
        ok("local t = os.clock() return math.type(t), t > 0, os.clock() >= t"),
        "float\ttrue\ttrue"
    );
    assert_eq!(ok("return os.exit"), "nil");
}

unsafe extern "C" {
    /// wasi-libc's; Lua's table.sort calls it for pivots on WASI.
    fn arc4random() -> u32;
}

#[wasm_bindgen_test]
fn libc_randomness_does_not_abort() {
    // arc4random aborts the module unless the random_get shim succeeds.
    // SAFETY: a plain C function without arguments.
    let draws: Vec<u32> = (0..4).map(|_| unsafe { arc4random() }).collect();
    assert!(draws.windows(2).any(|w| w[0] != w[1]), "{draws:?}");
}

#[wasm_bindgen_test]
fn large_sorts_work() {
    // Sorting exercises the C comparator calls and, on unbalanced
    // partitions, arc4random (see libc_randomness_does_not_abort).
    assert_eq!(
        ok(
            "local t = {} for i = 1, 3000 do t[i] = (i * 7919) % 3001 end \
            table.sort(t) for i = 2, #t do assert(t[i-1] <= t[i]) end \
            local u = {} for i = 1, 3000 do u[i] = 5 end \
            table.sort(u, function(a, b) return a < b end) return #t, #u"
        ),
        "3000\t3000"
    );
}

// The C library's allocator (lua-bind's `c_malloc`, Rust's heap underneath).
extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn realloc(p: *mut u8, size: usize) -> *mut u8;
    fn free(p: *mut u8);
    static mut errno: i32;
}

#[wasm_bindgen_test]
fn c_malloc_keeps_contents_and_fails_with_enomem() {
    use std::hint::black_box;
    // SAFETY: C's allocator contract, followed: every block is freed once,
    // and only its own bytes are touched.
    unsafe {
        let p = malloc(100);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0, "malloc aligns to max_align_t");
        for i in 0..100 {
            p.add(i).write(i as u8);
        }
        let q = realloc(p, 100_000);
        assert!(!q.is_null());
        assert!(
            (0..100).all(|i| q.add(i).read() == i as u8),
            "realloc kept the bytes"
        );
        free(q);

        let z = calloc(1000, 8);
        assert!(!z.is_null());
        assert!((0..8000).all(|i| z.add(i).read() == 0), "calloc zeroes");
        free(z);
        free(std::ptr::null_mut());

        // Beyond the 2 MiB memory, and an overflowing calloc: NULL and
        // ENOMEM (48 in WASI), never a trap.
        // black_box: LLVM knows `malloc` and may fold "the result is NULL"
        // to false when the pointer has no other use.
        let memory = linear_memory();
        let huge = black_box(malloc(4 << 20));
        assert!(
            huge.is_null(),
            "malloc(4 MiB) gave {huge:?} ({memory} bytes of memory)"
        );
        assert_eq!({ errno }, 48, "malloc(4 MiB): errno");
        errno = 0;
        let huge = black_box(calloc(usize::MAX / 2, 4));
        assert!(huge.is_null(), "an overflowing calloc gave {huge:?}");
        assert_eq!({ errno }, 48, "an overflowing calloc: errno");
        let small = black_box(malloc(0));
        assert!(!small.is_null(), "malloc(0) is a block of no bytes");
        let grown = realloc(small, 16);
        assert!(!grown.is_null());
        free(grown);
    }
}
