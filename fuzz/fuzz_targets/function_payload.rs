//! The function payload decoder (`FunctionCodec::decode`) in both trust
//! modes. Byte 0 picks the mode (bit 0 set: untrusted); the rest is the
//! payload, whose inner crc32 is recomputed so the fuzzer reaches the
//! parser and `load` rather than the checksum. Decoded functions are not
//! called (trusted bytecode is trusted by definition; Lua has no verifier).
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonvault_engine::codec::Value;
use moonvault_lua_bind::function::{FunctionCodec, ProxyResolver, Trust};

struct Proxies;

impl ProxyResolver for Proxies {
    fn table_id(&self, _v: &mlua::Value) -> Option<u64> {
        None
    }
    fn proxy(&self, lua: &mlua::Lua, _id: u64) -> mlua::Result<mlua::Value> {
        lua.create_table().map(mlua::Value::Table)
    }
}

use moonvault_lua_bind::mlua;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let trust = if mode & 1 == 1 {
        Trust::Untrusted
    } else {
        Trust::Trusted
    };
    let mut payload = payload.to_vec();
    if payload.len() >= 9 && payload.starts_with(b"MVFN") {
        let crc = crc32(&payload[9..]);
        payload[5..9].copy_from_slice(&crc.to_le_bytes());
    }
    let lua = moonvault_lua_bind::new_vm(32 << 20).expect("vm");
    let codec = FunctionCodec::new(&lua, trust).expect("codec");
    let value = Value::Function(payload);
    // Twice: the second decode answers from the cache.
    for _ in 0..2 {
        let _ = codec.decode(&lua, &value, &Proxies);
    }
    drop(codec);
    let _ = lua.gc_collect();
});

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}
