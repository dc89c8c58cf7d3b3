//! Model test of records across the packed/unpacked boundary: random
//! Lua-level operations on `Memory.users` (indexed on `age` and
//! `profile.city`) and `Memory.list` (a list of records moved by
//! `table.insert`/`table.remove`), applied to the store and to a plain-Lua
//! model that follows the store's assignment rule (a table literal assigned
//! where a table is keeps that table's identity). Values cross the packing
//! limits both ways: records of scalars (packed), nested tables and long
//! strings (unpacked), fields deleted again. References held across steps
//! (`held`) must keep seeing their record, through moves and field writes.
//! Chunks fail at random (rolled back), transactions fail inside, and the
//! store is crashed (a crash image of the fault-injecting store) and
//! reopened. After every chunk the store equals the model, every index
//! equals a rebuild, and every table's meta (runs of records included)
//! links it where it is.

mod common;

use common::run;
use moonvault_engine::index::verify_index;
use moonvault_engine::TableRead;
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};

const HELPERS: &str = concat!(
    include_str!("common/model.lua"),
    r#"
-- What assignment does in the store: a table literal over a table keeps
-- the table (and its sub-tables), its content becoming the literal's.
function massign(t, k, v)
  local old = t[k]
  if type(old) == "table" and type(v) == "table" then
    for key in pairs(old) do
      if v[key] == nil then old[key] = nil end
    end
    for key, val in pairs(v) do massign(old, key, val) end
  else
    t[k] = deepcopy(v)
  end
end

local cities = {"Oslo", "Lima", "Pune"}
local function rcity() return cities[math.random(#cities)] end
local function rscalar()
  local r = math.random(6)
  if r == 1 then return math.random(18, 22)
  elseif r == 2 then return math.random() * 100
  elseif r == 3 then return ("n"):rep(math.random(0, 5))
  elseif r == 4 then return math.random(2) == 1
  elseif r == 5 then return ("L"):rep(math.random(300, 700)) -- past the packing limit
  end
  return math.random(-3, 3)
end
local fields = {"name", "age", "score", "bio", "profile", 1, 2}
local function rfield() return fields[math.random(#fields)] end
local function rrecord()
  local r = math.random(10)
  if r <= 5 then
    return {name = "u" .. math.random(99), age = math.random(18, 22), score = math.random() * 10}
  elseif r <= 7 then
    return {name = "p" .. math.random(99), age = math.random(18, 22), profile = {city = rcity()}}
  elseif r == 8 then
    return {}
  elseif r == 9 then
    return {age = math.random(18, 22), bio = ("B"):rep(600)}
  end
  local t = {}
  for i = 1, math.random(1, 70) do t[i] = i end -- past 64 fields: unpacked
  return t
end
local function rkey() return "k" .. math.random(6) end

local function op(m)
  local e = Memory
  local r = math.random(100)
  local k = rkey()
  if r <= 25 then
    local v = rrecord()
    massign(m.users, k, v)
    e.users[k] = v
  elseif r <= 50 then
    -- a field write into a record, packed or not
    if type(m.users[k]) == "table" then
      local f = rfield()
      local v
      if f == "profile" then v = math.random(3) == 1 and {city = rcity()} or nil
      else v = math.random(5) == 1 and nil or rscalar() end
      massign(m.users[k], f, v)
      e.users[k][f] = v
    end
  elseif r <= 55 then
    if type(m.users[k]) == "table" and type(m.users[k].profile) == "table" then
      local c = rcity()
      m.users[k].profile.city = c
      e.users[k].profile.city = c
    end
  elseif r <= 62 then
    if m.users[k] ~= nil and m.users[k] == m.held then m.held = nil held = nil end
    m.users[k] = nil
    e.users[k] = nil
  elseif r <= 67 then
    -- copy a record to another key
    local k2 = rkey()
    if type(m.users[k]) == "table" and k ~= k2 then
      massign(m.users, k2, m.users[k])
      e.users[k2] = e.users[k]
    end
  elseif r <= 72 then
    -- hold a reference to a record
    if type(m.users[k]) == "table" then
      m.held = m.users[k]
      held = e.users[k]
    end
  elseif r <= 77 then
    -- write through the held reference
    if m.held ~= nil then
      local v = rscalar()
      m.held.age = v
      held.age = v
    end
  elseif r <= 86 then
    local v = rrecord()
    -- Appends half the time: records made in order share a meta run.
    local pos = math.random(2) == 1 and #m.list + 1 or math.random(#m.list + 1)
    table.insert(m.list, pos, deepcopy(v))
    table.insert(e.list, pos, v)
  elseif r <= 91 then
    if #m.list > 0 then
      local pos = math.random(#m.list)
      local a = table.remove(m.list, pos)
      if a == m.held then m.held = nil held = nil end
      local b = table.remove(e.list, pos)
      assert(diff(a, b, "removed") == nil, "table.remove returns the element")
    end
  elseif r <= 95 then
    -- hold a list element (follows moves)
    if #m.list > 0 then
      local pos = math.random(#m.list)
      m.held = m.list[pos]
      held = e.list[pos]
    end
  else
    -- a rejected write changes nothing
    if type(m.users[k]) == "table" then
      local ok = pcall(function() e.users[k].bad = coroutine.create(print) end)
      assert(not ok)
    end
  end
end

function check_held(m)
  if m.held ~= nil then
    local d = diff(m.held, held, "held")
    assert(d == nil, "a held record: " .. tostring(d))
  end
end

function step(n, fail)
  local work = deepcopy(committed)
  -- `held` is a reference into the model: re-find it in the copy.
  work.held = nil
  if committed.held ~= nil then
    for k, v in pairs(committed.users) do if v == committed.held then work.held = work.users[k] end end
    for i, v in ipairs(committed.list) do if v == committed.held then work.held = work.list[i] end end
  end
  local held_before = held
  for _ = 1, n do op(work) end
  local saved = deepcopy(work)
  local ok = pcall(store.transaction, function()
    for _ = 1, math.random(0, 4) do op(work) end
    if math.random(3) == 1 then error("transaction fails") end
  end)
  if not ok then
    -- Back to before the transaction; the held reference is let go (it
    -- may name a record the transaction created).
    work = saved
    work.held = nil
    held = nil
  end
  check_held(work)
  local d = diff({users = work.users, list = work.list}, {users = Memory.users, list = Memory.list}, "Memory")
  assert(d == nil, "inside the chunk: " .. tostring(d))
  if fail then
    held = held_before
    error("planned failure")
  end
  committed = work
end

function check()
  local d = diff({users = committed.users, list = committed.list},
                 {users = Memory.users, list = Memory.list}, "Memory")
  assert(d == nil, "after the chunk: " .. tostring(d))
  return true
end
"#
);

fn open(store: &FaultyStore, seed: u64) -> Vault {
    let v = Vault::open(Box::new(store.clone()), VaultOptions::default()).unwrap();
    run(&v, HELPERS);
    run(&v, &format!("math.randomseed({seed})"));
    v
}

/// Every index of the store equals a rebuild from its records.
fn verify_indexes(v: &Vault) {
    let store = v.store().expect("open");
    let snap = store.read().expect("snapshot");
    let defs: Vec<_> = snap.catalog().all_indexes().cloned().collect();
    assert_eq!(defs.len(), 2, "both indexes exist");
    for def in defs {
        verify_index(&snap, &def).unwrap_or_else(|e| panic!("index {}: {e}", def.field));
    }
    // Every table's meta (runs of records included) links it where it is.
    let metas = snap.check_metas().unwrap_or_else(|e| panic!("metas: {e}"));
    let tables = snap
        .table_stats(moonvault_engine::ROOT)
        .expect("stats")
        .tables;
    assert_eq!(
        metas.tables + 1,
        tables,
        "a meta for every table but Memory"
    );
}

fn model_text(v: &Vault) -> String {
    let out = run(
        v,
        "return ser({users = committed.users, list = committed.list})",
    );
    match out.first() {
        Some(moonvault_lua_bind::mlua::Value::String(s)) => s.to_string_lossy(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn records_match_a_plain_lua_model_across_packing() {
    let seeds: u64 = std::env::var("MOONVAULT_QC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    for seed in 1..=seeds {
        let mut store = FaultyStore::new();
        let mut v = open(&store, seed);
        run(
            &v,
            "Memory.users = {} Memory.list = {}
             store.index('users', 'age')
             store.index('users', 'profile.city')
             committed = {users = {}, list = {}}",
        );
        for round in 0..80u64 {
            let fail = (round * 7 + seed) % 6 == 0;
            let result = v.exec(format!("step({}, {fail})", 1 + round % 6), "round.lua");
            match (&result, fail) {
                (Ok(_), false) => {}
                (Err(e), true) if e.to_string().contains("planned failure") => {}
                (r, _) => panic!("seed {seed} round {round}: {r:?}"),
            }
            if let Err(e) = v.exec("return check()", "check.lua") {
                panic!("seed {seed} round {round}: {e}");
            }
            verify_indexes(&v);
            if round % 25 == 24 {
                // Crash: the image a crash would leave (every chunk was
                // committed durably), then reopen from it.
                let text = model_text(&v);
                let image = store.crash_image(CrashMode::Random(seed * 31 + round));
                std::mem::forget(v); // no clean close: the process died
                store = FaultyStore::with_inner(image);
                v = open(&store, seed * 1000 + round);
                run(
                    &v,
                    &format!("committed = {text} committed.held = nil held = nil"),
                );
                if let Err(e) = v.exec("return check()", "check.lua") {
                    panic!("seed {seed} after the crash at round {round}: {e}");
                }
                verify_indexes(&v);
            }
        }
    }
}

#[test]
fn packed_records_pack_and_unpack_as_documented() {
    let store = FaultyStore::new();
    let v = open(&store, 1);
    run(
        &v,
        "Memory.users = {}
         Memory.users.a = {name = 'Ann', age = 31}
         local a = Memory.users.a
         assert(a.name == 'Ann' and a.age == 31 and #a == 0)
         a.age = 32
         assert(Memory.users.a.age == 32 and a == Memory.users.a)
         a.profile = {city = 'Oslo'}          -- unpacks, same identity
         assert(a == Memory.users.a and a.profile.city == 'Oslo' and a.age == 32)
         Memory.users.b = {1, 2, 3}
         local b = Memory.users.b
         assert(#b == 3 and b[2] == 2)
         table.insert(b, 1, 0)                -- a move unpacks a packed list
         assert(#b == 4 and b[1] == 0 and b[4] == 3)
         local n = 0
         for k, val in pairs(Memory.users.a) do n = n + 1 end
         assert(n == 3)",
    );
    let st = v.store().unwrap();
    let snap = st.read().unwrap();
    let users = snap
        .lookup(&[moonvault_engine::codec::Key::from("users")])
        .unwrap()
        .unwrap();
    run(&v, "Memory.users.c = {name = 'Cy', age = 5}");
    let snap = st.read().unwrap();
    let c = snap
        .get_stored(users, &moonvault_engine::codec::Key::from("c"))
        .unwrap()
        .unwrap();
    assert!(
        matches!(c, moonvault_engine::codec::Stored::Record(_)),
        "a record of scalars is stored packed: {c:?}"
    );
}
