//! Persisted functions: closures with every upvalue kind, shared upvalues
//! rejoined across separate loads, recursion, returned closures, the
//! C-function registry, big bytecode, trust, damaged and crafted records,
//! the cache. Each "VM" below stands for a separate process: payloads
//! cross from one to another only as bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use moonvault_engine::codec::{decode_value, encode_value, Value};
use moonvault_lua_bind::function::{
    CacheLimits, FunctionCodec, FunctionError, PersistSession, ProxyResolver, Trust,
};
use moonvault_lua_bind::mlua::{self, Function, Lua, Table};
use moonvault_lua_bind::new_vm;

const LIMIT: usize = 64 * 1024 * 1024;

/// External tables for the tests: any table registered here is a proxy
/// with that id; `proxy(id)` returns the registered table or makes one.
#[derive(Default)]
struct Proxies {
    by_ptr: RefCell<HashMap<usize, u64>>,
    by_id: RefCell<HashMap<u64, Table>>,
}

impl Proxies {
    fn register(&self, t: &Table, id: u64) {
        self.by_ptr.borrow_mut().insert(t.to_pointer() as usize, id);
        self.by_id.borrow_mut().insert(id, t.clone());
    }
}

impl ProxyResolver for Proxies {
    fn table_id(&self, v: &mlua::Value) -> Option<u64> {
        match v {
            mlua::Value::Table(t) => self
                .by_ptr
                .borrow()
                .get(&(t.to_pointer() as usize))
                .copied(),
            _ => None,
        }
    }
    fn proxy(&self, lua: &Lua, id: u64) -> mlua::Result<mlua::Value> {
        if let Some(t) = self.by_id.borrow().get(&id) {
            return Ok(mlua::Value::Table(t.clone()));
        }
        let t = lua.create_table()?;
        t.set("proxy_id", id)?;
        self.register(&t, id);
        Ok(mlua::Value::Table(t))
    }
}

struct Vm {
    lua: Lua,
    codec: FunctionCodec,
    proxies: Proxies,
}

fn vm_with(trust: Trust) -> Vm {
    let lua = new_vm(LIMIT).unwrap();
    let codec = FunctionCodec::new(&lua, trust).unwrap();
    Vm {
        lua,
        codec,
        proxies: Proxies::default(),
    }
}

fn vm() -> Vm {
    vm_with(Trust::Trusted)
}

impl Vm {
    fn func(&self, src: &str) -> Function {
        self.lua.load(src).eval().unwrap()
    }
    fn encode(&self, f: &Function) -> Value {
        self.encode_in(f, &mut PersistSession::new())
    }
    fn encode_in(&self, f: &Function, s: &mut PersistSession) -> Value {
        // Through the engine's value encoding, as the store would.
        let v = self.codec.encode(&self.lua, f, s, &self.proxies).unwrap();
        let mut bytes = Vec::new();
        encode_value(&v, &mut bytes);
        decode_value(&bytes).unwrap()
    }
    fn decode(&self, v: &Value) -> mlua::Result<Function> {
        self.codec.decode(&self.lua, v, &self.proxies)
    }
    fn set(&self, name: &str, f: &Function) {
        self.lua.globals().set(name, f).unwrap();
    }
    fn check(&self, chunk: &str) {
        self.lua.load(chunk).exec().unwrap();
    }
}

fn payload(v: &Value) -> &[u8] {
    match v {
        Value::Function(p) => p,
        other => panic!("not a function payload: {other:?}"),
    }
}

fn function_error(e: &mlua::Error) -> Option<&FunctionError> {
    match e {
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<FunctionError>(),
        mlua::Error::CallbackError { cause, .. } => function_error(cause),
        _ => None,
    }
}

#[test]
fn closure_with_every_upvalue_kind_round_trips() {
    let a = vm();
    let ext = a.lua.create_table().unwrap();
    a.proxies.register(&ext, 42);
    a.lua.globals().set("ext", ext).unwrap();
    let f = a.func(
        r#"
        local n, t, f, s = nil, true, false, "bin\0ary\255"
        local i, imin, imax = 7, math.mininteger, math.maxinteger
        local x, negz, inf, nan = 1.5, -0.0, math.huge, 0/0
        local cyc = {name = "cyc"}; cyc.self = cyc
        local shared = {1, 2, 3}
        local data = {a = shared, b = shared, [shared] = "as key", [2.5] = "float key", nested = {deep = {deeper = "yes"}}}
        local mt = setmetatable({}, {__index = function(_, k) return k .. "!" end})
        local function helper(v) return v * 2 end
        local sin, mathlib, ext = math.sin, math, ext
        return function()
            return {
                n == nil, t, f, s, i, imin, imax, x, negz, inf, nan ~= nan,
                cyc.self.self.name, data.a == data.b, data[data.a], data[2.5],
                data.nested.deep.deeper, mt.hello, helper(21), sin == math.sin,
                mathlib == math, ext.proxy_id, type(print), math.type(i), math.type(x),
                1 / negz,
            }
        end
    "#,
    );
    let v = a.encode(&f);

    let b = vm();
    let g = b.decode(&v).unwrap();
    b.set("g", &g);
    b.check(
        r#"
        local r = g()
        assert(r[1] == true and r[2] == true and r[3] == false)
        assert(r[4] == "bin\0ary\255")
        assert(r[5] == 7 and r[6] == math.mininteger and r[7] == math.maxinteger)
        assert(r[8] == 1.5 and r[9] == 0 and r[10] == math.huge and r[11] == true)
        assert(r[12] == "cyc", "cycle")
        assert(r[13] == true, "shared reference kept")
        assert(r[14] == "as key" and r[15] == "float key" and r[16] == "yes")
        assert(r[17] == "hello!", "metatable with a closure")
        assert(r[18] == 42, "nested function")
        assert(r[19] == true, "native function identity")
        assert(r[20] == true, "library table identity")
        assert(r[21] == 42, "external table by id: " .. tostring(r[21]))
        assert(r[22] == "function", "_ENV rebound to the new globals")
        assert(r[23] == "integer" and r[24] == "float")
        assert(r[25] == -math.huge, "-0.0 kept")
    "#,
    );
}

#[test]
fn env_is_rebound_to_the_loading_vms_globals_and_custom_envs_are_kept() {
    let a = vm();
    let f = a.func("return function() return marker end");
    let custom = a.func(
        r#"local _ENV = {marker = "custom"}
           return function() return marker end"#,
    );
    let (v, vc) = (a.encode(&f), a.encode(&custom));
    let b = vm();
    b.check("marker = 'b globals'");
    let g: String = b.decode(&v).unwrap().call(()).unwrap();
    assert_eq!(g, "b globals");
    let c: String = b.decode(&vc).unwrap().call(()).unwrap();
    assert_eq!(c, "custom");
}

#[test]
fn shared_upvalues_are_rejoined_across_separate_loads() {
    let a = vm();
    let (inc, get): (Function, Function) = a
        .lua
        .load(
            r#"
            local n = 10
            local log = {}
            return function() n = n + 1; log[#log + 1] = n; return n end,
                   function() return n, #log end
        "#,
        )
        .eval()
        .unwrap();
    let mut session = PersistSession::new();
    let vi = a.encode_in(&inc, &mut session);
    let vg = a.encode_in(&get, &mut session);
    drop(session);
    // The same two functions stored by different sessions do not share.
    let vi_alone = a.encode(&inc);
    let vg_alone = a.encode(&get);

    let b = vm();
    let inc2 = b.decode(&vi).unwrap();
    assert_eq!(inc2.call::<i64>(()).unwrap(), 11);
    assert_eq!(inc2.call::<i64>(()).unwrap(), 12);
    // Loaded separately, later: joins the live variable of inc2.
    let get2 = b.decode(&vg).unwrap();
    assert_eq!(get2.call::<(i64, i64)>(()).unwrap(), (12, 2));
    inc2.call::<i64>(()).unwrap();
    assert_eq!(get2.call::<(i64, i64)>(()).unwrap(), (13, 3));

    let c = vm();
    let inc3 = c.decode(&vi_alone).unwrap();
    let get3 = c.decode(&vg_alone).unwrap();
    inc3.call::<i64>(()).unwrap();
    assert_eq!(get3.call::<(i64, i64)>(()).unwrap(), (10, 0));
}

#[test]
fn shared_upvalues_rejoin_even_after_the_cache_forgot_them() {
    // Strong cache of zero entries: every read below is a real load.
    let lua = new_vm(LIMIT).unwrap();
    let limits = CacheLimits {
        strong_entries: 0,
        ..CacheLimits::default()
    };
    let codec = FunctionCodec::with_cache_limits(&lua, Trust::Trusted, limits).unwrap();
    let p = Proxies::default();
    let (inc, get): (Function, Function) = lua
        .load("local n = 0 return function() n = n + 1 end, function() return n end")
        .eval()
        .unwrap();
    let mut s = PersistSession::new();
    let vi = codec.encode(&lua, &inc, &mut s, &p).unwrap();
    let vg = codec.encode(&lua, &get, &mut s, &p).unwrap();
    drop(s);
    drop((inc, get));
    lua.gc_collect().unwrap();
    lua.gc_collect().unwrap();
    let loads = codec.stats().loads;
    let inc2 = codec.decode(&lua, &vi, &p).unwrap();
    let get2 = codec.decode(&lua, &vg, &p).unwrap();
    assert_eq!(codec.stats().loads, loads + 2, "both really loaded");
    inc2.call::<()>(()).unwrap();
    inc2.call::<()>(()).unwrap();
    assert_eq!(get2.call::<i64>(()).unwrap(), 2);
}

#[test]
fn recursive_local_functions_work() {
    let a = vm();
    let f = a.func(
        r#"
        local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
        local is_even, is_odd
        function is_even(n) if n == 0 then return true end return is_odd(n - 1) end
        function is_odd(n) if n == 0 then return false end return is_even(n - 1) end
        return function(n) return fact(n), is_even(n) end
    "#,
    );
    let v = a.encode(&f);
    let b = vm();
    let g = b.decode(&v).unwrap();
    assert_eq!(g.call::<(i64, bool)>(10).unwrap(), (3_628_800, true));
    assert_eq!(g.call::<(i64, bool)>(5).unwrap(), (120, false));
}

#[test]
fn a_closure_returned_by_a_restored_function_works_and_can_be_stored_again() {
    let a = vm();
    let make = a.func(
        r##"
        local prefix = "#"
        return function(start)
            local n = start
            return function() n = n + 1; return prefix .. n end
        end
    "##,
    );
    let v = a.encode(&make);

    let b = vm();
    let make2 = b.decode(&v).unwrap();
    let counter: Function = make2.call(100).unwrap();
    assert_eq!(counter.call::<String>(()).unwrap(), "#101");
    let vc = b.encode(&counter);

    let c = vm();
    let counter3 = c.decode(&vc).unwrap();
    assert_eq!(counter3.call::<String>(()).unwrap(), "#102");
    assert_eq!(counter3.call::<String>(()).unwrap(), "#103");
}

#[test]
fn standard_library_c_functions_are_stored_by_name_and_keep_identity() {
    let a = vm();
    assert!(
        a.codec.registered_functions() > 100,
        "{}",
        a.codec.registered_functions()
    );
    for (expr, name) in [
        ("math.sin", "math.sin"),
        ("print", "print"),
        ("string.sub", "string.sub"),
        ("table.insert", "table.insert"),
        ("coroutine.wrap", "coroutine.wrap"),
        ("pcall", "pcall"),
        ("package.searchers[2]", "package.searchers[2]"),
        ("(\"x\").upper", "string.upper"),
    ] {
        let f = a.func(&format!("return {expr}"));
        let v = a.encode(&f);
        assert_eq!(v, Value::NativeFunction(name.into()));
        for target in [&a, &vm()] {
            let g = target.decode(&v).unwrap();
            target.set("g", &g);
            target.check(&format!("assert(g == {expr}, '{expr}') g = nil"));
        }
    }
    // Every C function of every loaded library, found by a script.
    let all: Vec<(String, Function)> = a
        .lua
        .load(
            r#"
            local out = {}
            for k, v in pairs(_G) do
                if type(v) == "function" then out[#out + 1] = {k, v} end
                if type(v) == "table" and k ~= "_G" and k ~= "package" then
                    for k2, v2 in pairs(v) do
                        if type(v2) == "function" then out[#out + 1] = {k .. "." .. k2, v2} end
                    end
                end
            end
            local r = {}
            for _, p in ipairs(out) do r[#r + 1] = p end
            return r
        "#,
        )
        .eval::<Vec<Table>>()
        .unwrap()
        .into_iter()
        .map(|t| (t.get(1).unwrap(), t.get(2).unwrap()))
        .collect();
    assert!(all.len() > 100);
    let b = vm();
    for (name, f) in all {
        let v = a.encode(&f);
        assert!(matches!(v, Value::NativeFunction(_)), "{name}: {v:?}");
        let g = b.decode(&v).unwrap();
        let expected: Function = b.lua.load(format!("return {name}")).eval().unwrap();
        assert!(g == expected, "{name} restored as another function");
    }
}

#[test]
fn other_c_functions_are_rejected_with_their_name() {
    let a = vm();
    let rust = a.lua.create_function(|_, ()| Ok("from rust")).unwrap();
    let store = a.lua.create_table().unwrap();
    store.set("commit", rust.clone()).unwrap();
    a.lua.globals().set("store", store).unwrap();

    let e = a
        .codec
        .encode(&a.lua, &rust, &mut PersistSession::new(), &a.proxies)
        .unwrap_err();
    assert!(
        matches!(
            function_error(&e),
            Some(FunctionError::ForeignCFunction { .. })
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("`store.commit`"), "{msg}");
    assert!(msg.contains("standard library"), "{msg}");

    // Deep inside a closure: the message says where.
    let f =
        a.func("local cfg = {hooks = {on_save = store.commit}} return function() return cfg end");
    let msg = a
        .codec
        .encode(&a.lua, &f, &mut PersistSession::new(), &a.proxies)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`store.commit`"), "{msg}");
    assert!(msg.contains("upvalue `cfg`"), "{msg}");
    assert!(msg.contains("\"on_save\""), "{msg}");

    // An anonymous one, and a coroutine, are refused too.
    let anon = a.lua.create_function(|_, ()| Ok(())).unwrap();
    let msg = a
        .codec
        .encode(&a.lua, &anon, &mut PersistSession::new(), &a.proxies)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("anonymous C function"), "{msg}");
    let co = a.func("local co = coroutine.create(print) return function() return co end");
    let msg = a
        .codec
        .encode(&a.lua, &co, &mut PersistSession::new(), &a.proxies)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("thread") && msg.contains("upvalue `co`"),
        "{msg}"
    );
}

#[test]
fn functions_with_over_100_kb_of_bytecode_round_trip() {
    let a = vm();
    let mut src = String::from("local acc = 0\nreturn function(x)\n local t = {}\n");
    for i in 0..6000 {
        src.push_str(&format!(" t[{i}] = x + {i} * 3 acc = acc + 1\n"));
    }
    src.push_str(" return t[5999], acc\nend\n");
    let f = a.func(&src);
    let bytecode = f.dump(false).len();
    assert!(bytecode > 100 * 1024, "only {bytecode} bytes of bytecode");
    eprintln!("big function: {bytecode} bytes of bytecode");
    let v = a.encode(&f);
    assert!(payload(&v).len() > bytecode);
    let b = vm();
    let g = b.decode(&v).unwrap();
    assert_eq!(g.call::<(i64, i64)>(1).unwrap(), (1 + 5999 * 3, 6000));
}

#[test]
fn untrusted_codecs_refuse_bytecode_but_load_source_functions() {
    let a = vm();
    let f = a.func("local k = 3 return function(x) return x * k end");
    let v = a.encode(&f);

    let u = vm_with(Trust::Untrusted);
    let e = u.decode(&v).unwrap_err();
    assert_eq!(function_error(&e), Some(&FunctionError::UntrustedBytecode));
    assert!(e.to_string().contains("untrusted"), "{e}");
    assert_eq!(u.codec.stats().loads, 0, "nothing was loaded");

    // Source functions: made in a trusted VM, loaded in an untrusted one.
    let (sf, sv) = a
        .codec
        .from_source(&a.lua, "local x = ... return x + 1, greeting")
        .unwrap();
    assert_eq!(sf.call::<(i64, mlua::Value)>(1).unwrap().0, 2);
    let payload_bytes = payload(&sv);
    assert!(
        !payload_bytes.windows(4).any(|w| w == b"\x1bLua"),
        "no bytecode inside"
    );
    u.check("greeting = 'hi'");
    let g = u.decode(&sv).unwrap();
    assert_eq!(g.call::<(i64, String)>(41).unwrap(), (42, "hi".into()));
    // Stored again (e.g. copied to another key), it stays source.
    let again = u.encode(&g);
    let u2 = vm_with(Trust::Untrusted);
    let g2 = u2.decode(&again).unwrap();
    assert_eq!(g2.call::<(i64, mlua::Value)>(1).unwrap().0, 2);
    // Source is compiled as text: a binary chunk is refused.
    let bin = String::from_utf8_lossy(&f.dump(false)).into_owned();
    assert!(u.codec.from_source(&u.lua, &bin).is_err());
    // A syntax error is an ordinary Lua error.
    assert!(u.codec.from_source(&u.lua, "return +").is_err());
}

#[test]
fn the_cache_returns_the_same_function_without_loading() {
    let a = vm();
    let f = a.func("local n = 0 return function() n = n + 1 return n end");
    let v = a.encode(&f);
    // Stored then read back in the same VM: the very function.
    assert!(a.decode(&v).unwrap() == f);

    let b = vm();
    let before = b.codec.stats();
    let g1 = b.decode(&v).unwrap();
    let mid = b.codec.stats();
    assert_eq!(mid.loads, before.loads + 1);
    let g2 = b.decode(&v).unwrap();
    let after = b.codec.stats();
    assert_eq!(after.loads, mid.loads, "second read did not load");
    assert_eq!(after.cache_hits, mid.cache_hits + 1);
    assert!(g1 == g2, "same function");
    g1.call::<i64>(()).unwrap();
    assert_eq!(g2.call::<i64>(()).unwrap(), 2);
}

#[test]
fn the_cache_is_bounded_and_keeps_only_live_functions_beyond_its_strong_tier() {
    let lua = new_vm(LIMIT).unwrap();
    let limits = CacheLimits {
        strong_entries: 4,
        strong_bytes: 1 << 20,
        entries: 16,
    };
    let codec = FunctionCodec::with_cache_limits(&lua, Trust::Trusted, limits).unwrap();
    let src = vm();
    let p = Proxies::default();
    let payloads: Vec<Value> = (0..40)
        .map(|i| src.encode(&src.func(&format!("local k = {i} return function() return k end"))))
        .collect();
    let mut kept = Vec::new();
    for v in &payloads {
        kept.push(codec.decode(&lua, v, &p).unwrap());
    }
    // Recent ones are cached; old ones were forgotten and load again.
    let loads = codec.stats().loads;
    codec.decode(&lua, &payloads[39], &p).unwrap();
    assert_eq!(codec.stats().loads, loads);
    codec.decode(&lua, &payloads[0], &p).unwrap();
    assert_eq!(codec.stats().loads, loads + 1);
    // Beyond the strong tier, an entry lives only as long as its function.
    let weak_one = &payloads[30];
    let f30 = kept[30].clone();
    for v in &payloads[34..40] {
        codec.decode(&lua, v, &p).unwrap();
    }
    assert!(codec.decode(&lua, weak_one, &p).unwrap() == f30);
    drop(kept);
    drop(f30);
    for v in &payloads[34..40] {
        codec.decode(&lua, v, &p).unwrap();
    }
    lua.gc_collect().unwrap();
    lua.gc_collect().unwrap();
    let loads = codec.stats().loads;
    codec.decode(&lua, weak_one, &p).unwrap();
    assert_eq!(codec.stats().loads, loads + 1, "collected, so loaded again");
}

/// xorshift64*: deterministic bytes for the fuzz tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Re-seals the payload's own crc32 (bytes 5..9 over 9..), as a forger
/// would.
fn reseal(p: &mut [u8]) {
    if p.len() >= 9 {
        let crc = crc32fast::hash(&p[9..]);
        p[5..9].copy_from_slice(&crc.to_le_bytes());
    }
}

fn sample_payloads(a: &Vm) -> Vec<Vec<u8>> {
    let f = a.func(
        r#"
        local t = {1, "two", {3}, x = 1.5}; t.me = t
        local function rec(n) if n == 0 then return t end return rec(n - 1) end
        return function() return rec(3), math.sin end
    "#,
    );
    let (_, src) = a
        .codec
        .from_source(&a.lua, "local a, b = ... return a + b")
        .unwrap();
    vec![payload(&a.encode(&f)).to_vec(), payload(&src).to_vec()]
}

#[test]
fn random_and_damaged_records_are_errors_never_crashes() {
    let a = vm();
    let samples = sample_payloads(&a);
    let b = vm();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Random bytes, with and without a valid header.
    for i in 0..3000 {
        let len = rng.below(200);
        let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && p.len() >= 17 {
            p[..5].copy_from_slice(b"MVFN\x01");
        }
        assert!(b.decode(&Value::Function(p)).is_err());
    }
    // Every truncation and every single-bit flip of real payloads: the
    // inner crc32 catches them all.
    for s in &samples {
        for n in 0..s.len() {
            assert!(b.decode(&Value::Function(s[..n].to_vec())).is_err());
        }
        for at in 0..s.len() {
            for bit in 0..8 {
                let mut d = s.clone();
                d[at] ^= 1 << bit;
                let e = b.decode(&Value::Function(d)).unwrap_err();
                assert!(function_error(&e).is_some(), "flip at {at}: {e}");
            }
        }
    }
    // Unknown native names are errors too.
    assert!(b
        .decode(&Value::NativeFunction("os.execute_evil".into()))
        .is_err());
    assert!(b.decode(&Value::Int(3)).is_err());
}

#[test]
fn crafted_records_with_a_valid_checksum_never_crash() {
    let a = vm();
    let samples = sample_payloads(&a);
    let mut rng = Rng(42);
    // Untrusted: bytecode never reaches `load`, so any forgery of the
    // bytecode sample is refused or rejected; the source sample goes
    // through the parser, which is safe on any input. Trusted: only the
    // source sample, since trusting a store means trusting its bytecode.
    let untrusted = vm_with(Trust::Untrusted);
    let trusted = vm();
    let mut outcomes = [0usize; 2];
    for round in 0..4000 {
        let which = round % 2;
        let mut d = samples[which].clone();
        for _ in 0..1 + rng.below(3) {
            let at = 17 + rng.below(d.len() - 17);
            match rng.below(3) {
                0 => d[at] ^= 1 << rng.below(8),
                1 => d[at] = rng.next() as u8,
                _ => {
                    d.insert(at, rng.next() as u8);
                }
            }
        }
        reseal(&mut d);
        let v = Value::Function(d);
        let r = untrusted.decode(&v);
        outcomes[r.is_ok() as usize] += 1;
        if which == 1 {
            // Any function that loads may also run without crashing.
            if let Ok(f) = trusted.decode(&v) {
                let _ = f.call::<mlua::MultiValue>((1, 2));
            }
        }
    }
    assert!(outcomes[0] > 0, "some forgeries must be rejected");
    // Structural forgeries with a valid crc, one by one.
    let b = vm();
    let crafted: &[(&str, &[u8])] = &[
        ("no objects", b""),
        ("unknown object tag", b"\x09"),
        ("source with huge length", b"\x02\xff\xff\xff\xff\x0f"),
        ("table first", b"\x03\x00\x00"),
        ("dangling reference", b"\x02\x03x=1\x01\x00\x06\x05"),
        (
            "metatable is a closure",
            b"\x02\x03x=1\x01\x00\x06\x01\x03\x01\x00",
        ),
        (
            "nil key ends a table early",
            b"\x02\x03x=1\x01\x00\x06\x01\x03\x00\x00\x02\x00",
        ),
        (
            "wrong upvalue count",
            b"\x02\x08return 1\x05\x00\x00\x01\x00\x02\x00\x03\x00\x04\x00",
        ),
        ("bytecode posing as source", b"\x02\x05\x1bLuaT\x00"),
        ("text posing as bytecode", b"\x01\x01x\x00"),
        ("unknown native", b"\x02\x03x=1\x01\x00\x08\x03zzz"),
        ("unknown value tag", b"\x02\x03x=1\x01\x00\x0b"),
    ];
    for (what, body) in crafted {
        let mut p = b"MVFN\x01\0\0\0\0\x07\0\0\0\0\0\0\0".to_vec();
        p.extend_from_slice(body);
        reseal(&mut p);
        let e = b.decode(&Value::Function(p)).unwrap_err();
        assert!(function_error(&e).is_some(), "{what}: {e}");
    }
}

#[test]
fn encode_and_decode_of_a_typical_closure_is_fast() {
    let a = vm();
    let b = vm();
    let make = a.func(
        r#"
        local fmt = string.format
        return function(i)
            local label, count, scale = "item", i, 0.5
            local opts = {precision = 2, unit = "kg"}
            return function(x) count = count + 1
                return fmt("%s %d %." .. opts.precision .. "f %s", label, count, x * scale, opts.unit) end
        end
    "#,
    );
    let n = if cfg!(debug_assertions) { 300 } else { 3000 };
    // Distinct payloads (different upvalue values), so every decode is a
    // real load in a VM that has never seen it.
    let closures: Vec<Function> = (0..n).map(|i| make.call(i).unwrap()).collect();
    let start = Instant::now();
    let payloads: Vec<Value> = closures
        .iter()
        .map(|f| {
            a.codec
                .encode(&a.lua, f, &mut PersistSession::new(), &a.proxies)
                .unwrap()
        })
        .collect();
    let encoded = start.elapsed();
    let start = Instant::now();
    for v in &payloads {
        std::hint::black_box(b.decode(v).unwrap());
    }
    let decoded = start.elapsed();
    let (enc, dec) = (encoded / n as u32, decoded / n as u32);
    let per = enc + dec;
    assert_eq!(b.codec.stats().loads, n as u64);
    let g: String = b
        .decode(&a.encode(&closures[7]))
        .unwrap()
        .call(3.0)
        .unwrap();
    assert_eq!(g, "item 8 1.50 kg");
    eprintln!(
        "function_persist: typical closure ({} payload bytes): encode {enc:?} + decode {dec:?} = {per:?}",
        payload(&payloads[0]).len()
    );
    // The product's floor; the target (0.1 ms) is reported, not asserted,
    // since debug builds and shared CI machines are slower.
    assert!(per.as_millis() < 20, "{per:?}");
}
