-- The `store` global: commit, rollback, transaction, batch, index,
-- drop_index, version, stats, fn.

local function fails(f, pattern)
  local ok, err = pcall(f)
  assert(not ok, "expected an error matching " .. pattern)
  assert(type(err) == "string", "errors are strings, got " .. type(err))
  assert(err:find(pattern, 1, true), ("error %q does not mention %q"):format(err, pattern))
  return err
end

-- commit / rollback
Memory.a = 1
store.commit()
Memory.a = 2
Memory.b = {x = 1}
local b = Memory.b
store.rollback()
assert(Memory.a == 1 and Memory.b == nil)
fails(function() return b.x end, "no longer exists")

-- transaction: success keeps, error undoes and re-raises unchanged
local r1, r2 = store.transaction(function(x)
  Memory.t1 = x
  return "done", x + 1
end, 41)
assert(r1 == "done" and r2 == 42 and Memory.t1 == 41)

Memory.before = "kept"
local ok, err = pcall(store.transaction, function()
  Memory.t2 = {big = {1, 2, 3}}
  Memory.before = "changed"
  error({code = 7})
end)
assert(not ok and type(err) == "table" and err.code == 7, "the error value is raised again unchanged")
assert(Memory.t2 == nil and Memory.before == "kept" and Memory.t1 == 41)

-- nested transactions
store.transaction(function()
  Memory.outer = 1
  pcall(store.transaction, function()
    Memory.inner = 1
    error("inner fails")
  end)
  assert(Memory.inner == nil and Memory.outer == 1)
end)
assert(Memory.outer == 1)

fails(function() store.transaction(42) end, "expects a function")

-- batch
Memory.users = {u0 = {age = 1}}
local n = store.batch({
  {op = "set", path = "users.u1", value = {name = "ann", age = 30}},
  {op = "set", path = "users.u2", value = {name = "bob", age = 40}},
  {op = "delete", path = "users.u0"},
  {op = "set", path = "other.deep.x", value = 5},
  {op = "set", path = {"scores", 2024}, value = 10},
  {op = "delete", path = "nothing.here.at.all"},
})
assert(n == 6)
assert(Memory.users.u1.name == "ann" and Memory.users.u0 == nil)
assert(Memory.other.deep.x == 5 and Memory.scores[2024] == 10)

-- a failing batch applies nothing and names the operation
store.index("users", "name", {unique = true})
local e = fails(function()
  store.batch({
    {op = "set", path = "users.u3", value = {name = "cid"}},
    {op = "set", path = "users.u4", value = {name = "ann"}},
  })
end, "ops[2]")
assert(e:find("nothing of the batch was applied", 1, true))
assert(Memory.users.u3 == nil)
fails(function() store.batch({{op = "set", path = "users.u5", value = coroutine.create(print)}}) end, "ops[1]")
fails(function() store.batch({{op = "frobnicate", path = "users.u5"}}) end, "set")
fails(function() store.batch({{op = "set", path = ""}}) end, "entry")
fails(function() store.batch(5) end, "array of operations")

-- unique index violations from plain assignments
fails(function() Memory.users.u9 = {name = "bob"} end, "unique")
assert(Memory.users.u9 == nil)

-- index / drop_index
assert(store.drop_index("users", "name") == true)
assert(store.drop_index("users", "name") == false)
assert(store.drop_index("no.such.table", "name") == false)
store.index(Memory.users, "age")
store.index("users", "age") -- again: no-op
fails(function() store.index("users", "age", {unique = true}) end, "already exists")
store.index("fresh.table", {"profile", "city"})
assert(type(Memory.fresh.table) == "table", "index creates its table")
fails(function() store.index("users", "") end, "field")
fails(function() store.index(42, "age") end, "path")
fails(function() store.index("users", "age", {unique = "yes"}) end, "unique")

-- version
assert(store.version() == 0)

-- stats
local s = store.stats()
assert(s.page_size > 0 and s.pages >= 1 and s.indexes == 2 and s.version == 0)
assert(s.lua_memory > 0 and s.lua_memory_limit >= s.lua_memory)
assert(s.cache_hit_rate >= 0 and s.cache_hit_rate <= 1)
local ts = store.stats("users")
assert(ts.records == 2 and ts.tables == 3 and ts.name == "Memory.users", ts.name)
assert(ts.logical_bytes > 0 and ts.stored_bytes > 0)
assert(#ts.indexes == 1 and ts.indexes[1].field == "age" and ts.indexes[1].entries == 2)
assert(store.stats("nope") == nil)

-- store.fn: functions persisted as source
local add = store.fn("local a, b = ... return a + b")
assert(add(2, 3) == 5)
Memory.add = add
assert(Memory.add(4, 5) == 9)
fails(function() store.fn("this is not lua") end, "")
fails(function() store.fn(42) end, "source")
return true
