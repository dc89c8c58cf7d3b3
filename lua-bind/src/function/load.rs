//! Decoding: payload -> callable function, through the cache, with shared
//! upvalues rejoined.
//!
//! Order of work, so that a bad record loads nothing and a partly built
//! graph is never registered anywhere:
//! 1. cache lookup (same bytes -> same function, no `load`);
//! 2. [`parse`]: full structural check;
//! 3. trust check of every closure's code kind;
//! 4. create every object: `load` each closure (checking its upvalue
//!    count against the record), create each table;
//! 5. fill tables, then set or join every upvalue;
//! 6. register the cells in the share map and the root in the cache.

use std::collections::HashMap;

use mlua::{Function, Lua, Table, Value as LuaValue};

use super::error::FunctionError;
use super::payload::{parse, CodeKind, Object, Val, HEADER_LEN};
use super::trust::Trust;
use super::{FunctionCodec, ProxyResolver};

/// Chunk name of functions compiled from source (`store.fn`).
pub(crate) const SOURCE_CHUNK_NAME: &str = "=store.fn";
/// Chunk name given to `load` for bytecode (error messages use the source
/// name recorded in the unstripped bytecode instead).
const BYTECODE_CHUNK_NAME: &str = "=stored function";

enum Made {
    Closure(Function),
    Table(Table),
}

/// Decodes a function payload (see [`FunctionCodec::decode`]).
pub(crate) fn decode(
    codec: &FunctionCodec,
    lua: &Lua,
    payload: &[u8],
    proxies: &dyn ProxyResolver,
) -> mlua::Result<Function> {
    {
        let mut st = codec.state.borrow_mut();
        let st = &mut *st;
        if let Some(f) = st.cache.get(&st.weak, payload)? {
            st.stats.cache_hits += 1;
            return Ok(f);
        }
    }
    let parsed = parse(payload)?;
    for obj in &parsed.objects {
        if let Object::Closure { kind, .. } = obj {
            codec.trust.allows(*kind)?;
        }
    }
    if codec.trust == Trust::Untrusted {
        check_metatables(&parsed.objects)?;
    }

    let mut made = Vec::with_capacity(parsed.objects.len());
    for obj in &parsed.objects {
        made.push(match obj {
            Object::Closure {
                kind,
                code,
                upvalues,
            } => {
                let f = lua
                    .load(*code)
                    .set_name(match kind {
                        CodeKind::Bytecode => BYTECODE_CHUNK_NAME,
                        CodeKind::Source => SOURCE_CHUNK_NAME,
                    })
                    .set_mode(Trust::mode(*kind))
                    .into_function()?;
                codec.state.borrow_mut().stats.loads += 1;
                let nups = super::shape::shape(lua, &f)?.upvalues;
                if usize::from(nups) != upvalues.len() {
                    return Err(FunctionError::corrupted(
                        HEADER_LEN,
                        format!(
                            "record lists {} upvalues for a function that has {nups}",
                            upvalues.len()
                        ),
                    )
                    .into());
                }
                if *kind == CodeKind::Source {
                    codec.sources.raw_set(&f, lua.create_string(code)?)?;
                }
                Made::Closure(f)
            }
            Object::Table { .. } => Made::Table(lua.create_table()?),
        });
    }

    let resolve = |v: &Val<'_>| -> mlua::Result<LuaValue> {
        Ok(match *v {
            Val::Nil => LuaValue::Nil,
            Val::Bool(b) => LuaValue::Boolean(b),
            Val::Int(n) => LuaValue::Integer(n),
            Val::Float(x) => LuaValue::Number(x),
            Val::Str(s) => LuaValue::String(lua.create_string(s)?),
            Val::Obj(k) => match made.get(k as usize) {
                Some(Made::Closure(f)) => LuaValue::Function(f.clone()),
                Some(Made::Table(t)) => LuaValue::Table(t.clone()),
                // parse() checked every reference.
                None => return Err(FunctionError::corrupted(0, "dangling object").into()),
            },
            Val::Proxy(id) => proxies.proxy(lua, id)?,
            Val::NativeFn(name) => match codec.registry.function(name) {
                Some(f) => LuaValue::Function(f.clone()),
                None => return Err(unknown(name)),
            },
            Val::NativeTable(name) => match codec.registry.table(name) {
                Some(t) => LuaValue::Table(t.clone()),
                None => return Err(unknown(name)),
            },
            Val::Globals => LuaValue::Table(lua.globals()),
        })
    };

    for (obj, m) in parsed.objects.iter().zip(&made) {
        if let (Object::Table { meta, pairs }, Made::Table(t)) = (obj, m) {
            for (k, v) in pairs {
                t.raw_set(resolve(k)?, resolve(v)?)?;
            }
            if let Some(Made::Table(mt)) = meta.and_then(|m| made.get(m as usize)) {
                t.set_metatable(Some(mt.clone()))?;
            }
        }
    }

    // First holder of each cell within this payload.
    let mut first: HashMap<u32, (usize, u8)> = HashMap::new();
    let mut cells = Vec::new();
    for (j, (obj, m)) in parsed.objects.iter().zip(&made).enumerate() {
        let (Object::Closure { upvalues, .. }, Made::Closure(f)) = (obj, m) else {
            continue;
        };
        for (i, (cell, v)) in upvalues.iter().enumerate() {
            // nups <= 255 (a u8 in the record), so this cannot truncate.
            let n = (i + 1) as u8;
            if let Some(&(fj, fi)) = first.get(cell) {
                if let Some(Made::Closure(g)) = made.get(fj) {
                    codec.upvalues.join(f, n, g, fi)?;
                }
                continue;
            }
            first.insert(*cell, (j, n));
            cells.push((f.clone(), n, *cell));
            let live = {
                let mut st = codec.state.borrow_mut();
                let st = &mut *st;
                st.share.find(&st.weak, parsed.group, *cell)?
            };
            match live {
                Some((g, gi)) => codec.upvalues.join(f, n, &g, gi)?,
                None => codec.upvalues.set(f, n, resolve(v)?)?,
            }
        }
    }

    let root = match made.first() {
        Some(Made::Closure(f)) => f.clone(),
        // parse() checked that object 0 is a closure.
        _ => return Err(FunctionError::corrupted(HEADER_LEN, "no root function").into()),
    };
    let mut st = codec.state.borrow_mut();
    let st = &mut *st;
    for (f, n, cell) in &cells {
        st.share
            .register(&mut st.weak, parsed.group, *cell, f, *n)?;
    }
    st.cache.insert(&mut st.weak, payload, &root)?;
    Ok(root)
}

/// Untrusted graphs: a metatable may hold data only. Any function under a
/// `__` key (every metamethod's name starts so) would be code that runs
/// when the value is merely used, or without the script doing anything at
/// all (`__gc` at collection, `__close`), so the whole graph is refused.
/// Standard-library functions count too (`__concat = os.execute` runs a
/// script's string as a command). A callable table as a metamethod needs a
/// `__call` function in its own metatable, which this check meets too.
fn check_metatables(objects: &[Object<'_>]) -> Result<(), FunctionError> {
    for obj in objects {
        let Object::Table { meta: Some(m), .. } = obj else {
            continue;
        };
        let Some(Object::Table { pairs, .. }) = objects.get(*m as usize) else {
            continue;
        };
        for (k, v) in pairs {
            let Val::Str(name) = k else { continue };
            if !name.starts_with(b"__") {
                continue;
            }
            let code = match v {
                Val::Obj(j) => matches!(objects.get(*j as usize), Some(Object::Closure { .. })),
                Val::NativeFn(_) => true,
                _ => false,
            };
            if code {
                return Err(FunctionError::UntrustedMetamethod {
                    field: String::from_utf8_lossy(name).into_owned(),
                });
            }
        }
    }
    Ok(())
}

fn unknown(name: &str) -> mlua::Error {
    FunctionError::UnknownNative {
        name: name.to_owned(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use moonvault_engine::codec::Value;

    use super::super::payload::{CodeKind, Val, Writer};
    use super::super::{FunctionCodec, NoProxies, Trust};

    /// A source function whose `_ENV` upvalue is a table with a metatable
    /// `{__gc = <source function setting the global gc_ran>}`: decoding it
    /// would register that finalizer, which runs with no call at all.
    fn crafted_gc_payload() -> Vec<u8> {
        let mut w = Writer::new(42);
        w.closure(CodeKind::Source, b"return 1", 1).unwrap();
        w.cell(0);
        w.value(Val::Obj(2));
        // Object 1: the metatable, filled before object 2 gets it, so
        // Lua marks object 2 for finalization.
        w.table(None);
        w.value(Val::Str(b"__gc"));
        w.value(Val::Obj(3));
        w.end_table();
        w.table(Some(1)); // object 2: the captured table
        w.end_table();
        w.closure(CodeKind::Source, b"gc_ran = true", 1).unwrap(); // object 3
        w.cell(1);
        w.value(Val::Globals);
        w.finish()
    }

    fn decode_and_collect(trust: Trust) -> (Result<(), String>, bool) {
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        let codec = FunctionCodec::new(&lua, trust).unwrap();
        let payload = Value::Function(crafted_gc_payload());
        let result = codec
            .decode(&lua, &payload, &NoProxies)
            .map(drop)
            .map_err(|e| e.to_string());
        // Drop everything the codec holds, then collect: a registered
        // finalizer runs now.
        drop(codec);
        lua.gc_collect().unwrap();
        lua.gc_collect().unwrap();
        let ran = lua.globals().get::<bool>("gc_ran").unwrap_or(false);
        (result, ran)
    }

    #[test]
    fn untrusted_refuses_a_stored_metatable_with_code() {
        let (result, ran) = decode_and_collect(Trust::Untrusted);
        let err = result.unwrap_err();
        assert!(err.contains("`__gc` is a function"), "{err}");
        assert!(!ran, "the stored __gc ran in untrusted mode");
    }

    #[test]
    fn trusted_keeps_stored_metatables() {
        let (result, ran) = decode_and_collect(Trust::Trusted);
        assert!(result.is_ok(), "{result:?}");
        assert!(ran);
    }
}
