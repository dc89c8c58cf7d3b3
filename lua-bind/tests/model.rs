//! Model test: random operations applied to `Memory.m` and to a plain Lua
//! table (the model), in chunks that randomly fail (rolled back: the model
//! returns to its last committed copy), with transactions that randomly
//! fail inside, rejected assignments, and reopens of the file store. After
//! every chunk the stored table must equal the model.

mod common;

use common::run;
use moonvault_lua_bind::{Vault, VaultOptions};

/// Lua helpers, defined once per VM (globals are VM state, not stored).
const HELPERS: &str = concat!(
    include_str!("common/model.lua"),
    r#"
local keys = {"a", "b", "c", 1, 2, 3, 4, 2.5, true}
local function rkey() return keys[math.random(#keys)] end
local function rvalue(depth)
  local r = math.random(10)
  if r <= 3 then return math.random(-5, 5)
  elseif r == 4 then return math.random() * 10
  elseif r == 5 then return ("s"):rep(math.random(0, 3))
  elseif r == 6 then return nil
  elseif r == 7 then return r % 2 == 0
  elseif depth < 3 then
    local t = {}
    for i = 1, math.random(0, 4) do t[rkey()] = rvalue(depth + 1) end
    return t
  end
  return 0.5
end

-- A random table of the model and its external twin, same path.
local function pick(model, ext)
  for _ = 1, math.random(0, 3) do
    local k = rkey()
    if type(model[k]) ~= "table" then break end
    model, ext = model[k], ext[k]
  end
  return model, ext
end

-- Whether t is a sequence (its border is unique, so # must agree; with
-- holes any border is right and plain Lua and the store may pick others).
local function is_seq(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) == "integer" and k > 0 then n = n + 1 end
  end
  if n ~= #t then return false end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local function op(model, ext)
  local r = math.random(100)
  local m, e = pick(model, ext)
  if r <= 55 then
    local k, v = rkey(), rvalue(0)
    m[k] = deepcopy(v)
    e[k] = v
  elseif r <= 65 and is_seq(m) then
    local v = math.random(100)
    table.insert(m, v)
    table.insert(e, v)
  elseif r <= 72 and is_seq(m) then
    assert(#m == #e, "the border of a sequence")
    if #m > 0 then
      local pos = math.random(#m)
      local a, b = table.remove(m, pos), table.remove(e, pos)
      assert(diff(a, b, "removed") == nil, "table.remove returns the element")
    end
  elseif r <= 76 and is_seq(m) then
    -- sort by a key every element has (numbers first, then tables, then the rest)
    local function key(x) return type(x) == "number" and x or (type(x) == "table" and 1e9 or 2e9) end
    local function before(a, b) return key(a) < key(b) end
    local ok1 = pcall(table.sort, m, before)
    local ok2 = pcall(table.sort, e, before)
    assert(ok1 == ok2)
    if ok1 then
      -- Ties (equal keys) may end in any order: same multiset of elements,
      -- keys in order, then the model takes the store's order.
      local function canon(t)
        local out = {}
        for i = 1, #t do out[i] = ser(t[i]) end
        table.sort(out)
        return table.concat(out, ";")
      end
      assert(canon(m) == canon(e), "sorting keeps the elements")
      for i = 1, #m do assert(key(m[i]) == key(e[i]), "sorted keys") end
      for i = 1, #m do m[i] = deepcopy(e[i]) end
    end
  elseif r <= 80 then
    -- copy a stored table to another key
    local k1, k2 = rkey(), rkey()
    if type(m[k1]) == "table" and m ~= m[k2] then
      local ok = pcall(function() e[k2] = e[k1] end)
      if ok then m[k2] = deepcopy(m[k1]) end
    end
  elseif r <= 88 then
    -- a rejected assignment changes nothing
    local ok = pcall(function() e[rkey()] = {fine = 1, bad = coroutine.create(print)} end)
    assert(not ok)
  else
    local k = rkey()
    m[k] = nil
    e[k] = nil
  end
end

-- One chunk: n operations, a transaction that may fail, maybe a failure.
function step(n, fail)
  local work = deepcopy(committed)
  for _ = 1, n do op(work, Memory.m) end
  local before = deepcopy(work)
  local ok = pcall(store.transaction, function()
    for _ = 1, math.random(0, 5) do op(work, Memory.m) end
    if math.random(3) == 1 then error("transaction fails") end
  end)
  if not ok then work = before end
  local d = diff(work, Memory.m, "m")
  assert(d == nil, "inside the chunk: " .. tostring(d))
  if fail then error("planned failure") end
  committed = work
end

function check()
  local d = diff(committed, Memory.m, "m")
  assert(d == nil, "after the chunk: " .. tostring(d))
  return true
end
"#
);

fn open(dir: &std::path::Path, seed: u64) -> Vault {
    let v = Vault::open_path(dir, VaultOptions::default()).unwrap();
    run(&v, HELPERS);
    run(&v, &format!("math.randomseed({seed})"));
    v
}

#[test]
fn random_operations_match_a_plain_table_model() {
    for seed in 1..=6u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut v = open(dir.path(), seed);
        run(&v, "Memory.m = {} committed = {}");
        let mut committed_snapshot: Option<String> = None;
        for round in 0..60u64 {
            let fail = (round * 7 + seed) % 5 == 0;
            let result = v.exec(format!("step({}, {fail})", 1 + round % 8), "round.lua");
            match (&result, fail) {
                (Ok(_), false) => {}
                (Err(e), true) if e.to_string().contains("planned failure") => {}
                (r, _) => panic!("seed {seed} round {round}: {r:?}"),
            }
            if let Err(e) = v.exec("return check()", "check.lua") {
                panic!("seed {seed} round {round}: {e}");
            }
            if round % 20 == 19 {
                // Reopen: the model moves across as a serialised literal.
                let dump = v
                    .exec(
                        r#"
                        return ser(committed)
                        "#,
                        "dump.lua",
                    )
                    .unwrap();
                let text = match dump.first() {
                    Some(moonvault_lua_bind::mlua::Value::String(s)) => s.to_string_lossy(),
                    other => panic!("{other:?}"),
                };
                committed_snapshot = Some(text.clone());
                drop(v);
                v = open(dir.path(), seed * 1000 + round);
                run(&v, &format!("committed = {text}"));
                if let Err(e) = v.exec("return check()", "check.lua") {
                    panic!("seed {seed} after reopen at round {round}: {e}");
                }
            }
        }
        assert!(committed_snapshot.is_some());
    }
}
