-- Schemas (Lua form) and migrations, with their errors.

local function fails(f, pattern)
  local ok, err = pcall(f)
  assert(not ok, "expected an error matching " .. pattern)
  assert(type(err) == "string", "errors are strings")
  assert(err:find(pattern, 1, true), ("error %q does not mention %q"):format(err, pattern))
  return err
end

store.schema("users", {
  strict = true,
  name = {type = "string", required = true, minLength = 1, maxLength = 20},
  age = {type = "integer", min = 0, max = 150},
  role = {enum = {"admin", "user"}},
  score = {type = "number"},
  profile = {type = "table", schema = {city = {type = "string", required = true}}},
})
assert(type(Memory.users) == "table", "schema creates its table")

Memory.users.u1 = {name = "ann", age = 30, role = "admin", profile = {city = "Oslo"}}
Memory.users.u2 = {name = "bob", score = 1.5}
Memory.users.u3 = {name = "cid", score = 2}

-- violations name table, record, field and rule; nothing is stored
local e = fails(function() Memory.users.u4 = {name = "dan", age = -1} end, "age")
assert(e:find("Memory.users", 1, true) and e:find("u4", 1, true), e)
assert(Memory.users.u4 == nil)
fails(function() Memory.users.u4 = {age = 5} end, "name")
fails(function() Memory.users.u4 = {name = "x", age = 1.5} end, "integer")
fails(function() Memory.users.u4 = {name = ("x"):rep(21)} end, "name")
fails(function() Memory.users.u4 = {name = ""} end, "name")
fails(function() Memory.users.u4 = {name = "x", role = "root"} end, "role")
fails(function() Memory.users.u4 = {name = "x", extra = 1} end, "extra")
fails(function() Memory.users.u4 = {name = "x", profile = {}} end, "city")
fails(function() Memory.users.u1.age = "old" end, "age")
fails(function() Memory.users.u1.name = nil end, "name")
fails(function() Memory.users.u1.profile.city = 7 end, "city")
assert(Memory.users.u1.age == 30 and Memory.users.u1.name == "ann")

-- a violation deep inside a replacement literal leaves everything as it was
local before = Memory.users.u2
local ok = pcall(function()
  Memory.users = {
    u1 = {name = "ann"}, u2 = {name = "bob2"}, u3 = {name = "cid", age = -5},
  }
end)
assert(not ok)
assert(Memory.users.u2 == before and Memory.users.u2.name == "bob" and Memory.users.u3.score == 2)
Memory.users.u5 = {name = "eve"} -- the transaction is still usable
assert(Memory.users.u5.name == "eve")

-- reading a schema back
local s = store.schema("users")
assert(s.strict == true and s.name.type == "string" and s.name.required == true)
assert(s.name.maxLength == 20 and s.age.min == 0 and s.role.enum[2] == "user")
assert(s.profile.schema.city.required == true)
assert(store.schema("nothing") == nil)

-- setting a schema checks existing records
fails(function() store.schema("users", {age = {type = "string"}}) end, "age")
assert(store.schema("users").strict == true, "the failed schema did not replace the old one")

-- malformed schemas
fails(function() store.schema("users", {age = {type = "int"}}) end, "unknown type")
fails(function() store.schema("users", {age = {minimum = 1}}) end, "unknown rule")
fails(function() store.schema("users", {age = 5}) end, "rule must be a table")
fails(function() store.schema("users", {age = {min = 5, max = 1}}) end, "min")
fails(function() store.schema("users", {age = {type = "string", schema = {}}}) end, "table")
fails(function() store.schema("users", 5) end, "schema table")
local deep = {}
local cur = deep
for i = 1, 40 do cur.f = {schema = {}}; cur = cur.f.schema end
fails(function() store.schema("users", deep) end, "deeper than")

-- removing it
store.schema("users", nil)
Memory.users.u6 = {anything = true}
assert(store.schema("users") == nil)

-- migrations
assert(store.version() == 0)
Memory.items = {a = {qty = "3"}, b = {qty = "10"}}
local steps = {
  [1] = function()
    for k, item in pairs(Memory.items) do item.qty = tonumber(item.qty) end
  end,
  [2] = function()
    store.index("items", "qty")
    store.schema("items", {qty = {type = "integer", required = true}})
  end,
  [3] = function()
    Memory.items.c = {qty = 1}
    error("step 3 is broken")
  end,
}
assert(store.migrate(2, steps) == 2)
assert(store.version() == 2)
assert(Memory.items.a.qty == 3 and math.type(Memory.items.b.qty) == "integer")
assert(store.query("items"):where("qty", ">", 5):count() == 1)
assert(store.migrate(2, steps) == 2, "nothing to do")
local err = fails(function() store.migrate(3, steps) end, "stays at version 2")
assert(err:find("step 3 is broken", 1, true))
assert(store.version() == 2 and Memory.items.c == nil)
fails(function() store.migrate(1, steps) end, "newer than the target")
fails(function() store.migrate(5, steps) end, "no step for version 4")
fails(function() store.migrate(-1, steps) end, "non-negative")
fails(function() store.migrate(3, nil) end, "steps")
return true
