//! `moonvault demo`: the engine on a temporary file store, step by step.
//!
//! (Engine-level until the Lua binding's `Vault` is available; then the
//! demo runs `examples/demo.lua`.)

use std::io::Write;

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::query::{Order, Query};
use moonvault_engine::{Input, TableRead, ROOT};

use crate::dump;
use crate::open::{open_file, open_on, CliError, CliResult};

fn io(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// Run the demo, narrating on `out`.
pub fn run(out: &mut dyn Write) -> CliResult<()> {
    let dir = tempfile::tempdir().map_err(CliError::io(std::path::Path::new("temp dir")))?;
    let path = dir.path().join("demo.db");
    writeln!(out, "moonvault demo: a store in {}", path.display()).map_err(io)?;
    {
        let o = open_on(open_file(&path)?)?;
        let users = o.store.ensure_path(&[Key::from("users")])?;
        let cities = ["Lyon", "Oslo", "Quito", "Kyoto"];
        o.store.write(|tx| {
            for i in 1..=200i64 {
                let rec = Input::table([
                    ("name", Input::from(format!("user{i}"))),
                    ("age", Input::from(18 + i * 7 % 60)),
                    (
                        "profile",
                        Input::table([("city", Input::from(cities[(i % 4) as usize]))]),
                    ),
                ]);
                tx.set(users, Key::from(format!("u{i:03}")), rec)?;
            }
            Ok(())
        })?;
        writeln!(out, "\n1. wrote 200 user records in one transaction").map_err(io)?;
        o.store.create_index(users, "age", false)?;
        writeln!(out, "2. created an index on users.age").map_err(io)?;
        let q = Query::new(users)
            .gt("age", 70)
            .order_by("age", Order::Desc)
            .limit(3);
        let snap = o.store.read()?;
        writeln!(
            out,
            "3. query users where age > 70, oldest first, limit 3 (plan: {})",
            snap.explain(&q)?
        )
        .map_err(io)?;
        for row in snap.query(&q)? {
            let (key, rec) = row?;
            let Value::Table(id) = rec else { continue };
            let age = snap.get(id, &Key::from("age"))?;
            writeln!(
                out,
                "     {key}: age {}",
                age.map(|v| dump::lua_value(&v)).unwrap_or_default()
            )
            .map_err(io)?;
        }
        drop(snap);
        let st = o.store.read()?.table_stats(users)?;
        writeln!(
            out,
            "4. stats: {} records, {} entries, {} logical, ~{} stored",
            st.records,
            st.entries,
            crate::units::bytes(st.logical_bytes),
            crate::units::bytes(st.stored_bytes)
        )
        .map_err(io)?;
        o.store.db().checkpoint()?;
    }
    let o = open_on(open_file(&path)?)?;
    let snap = o.store.read()?;
    let users = snap
        .lookup(&[Key::from("users")])?
        .ok_or_else(|| CliError::Usage("users vanished after reopen".into()))?;
    writeln!(
        out,
        "5. reopened the store: users has {} records; u042 is:",
        snap.len(users)?
    )
    .map_err(io)?;
    dump::run(
        &snap,
        &[Key::from("users"), Key::from("u042")],
        dump::Format::Human,
        out,
    )?;
    let _ = ROOT;
    Ok(())
}
