-- Assignments to external tables: deep copies, identity, rejected values
-- (nothing of a rejected assignment is stored), copying stored tables.

local function fails(f, pattern)
  local ok, err = pcall(f)
  assert(not ok, "expected an error matching " .. pattern)
  assert(type(err) == "string", "errors are strings, got " .. type(err))
  assert(err:find(pattern, 1, true), ("error %q does not mention %q"):format(err, pattern))
  return err
end

-- Identity: one proxy per table.
Memory.users = {u1 = {name = "ann"}}
assert(Memory.users == Memory.users)
assert(Memory.users.u1 == Memory.users.u1)
assert(rawequal(Memory.users, Memory.users))
assert(type(Memory) == "table" and type(Memory.users) == "table")
assert(getmetatable(Memory.users) == false, "the metatable is protected")
fails(function() setmetatable(Memory.users, {}) end, "protected metatable")
assert(rawget(Memory.users, "u1") == nil, "proxies are raw-empty")

-- Replacing a table with a literal keeps its identity (the proxy stays valid).
local users = Memory.users
Memory.users = {u2 = {name = "bob"}}
assert(users.u2.name == "bob" and users.u1 == nil)

-- Rejected values store nothing, and the error names the path.
Memory.kept = 1
local err = fails(function()
  Memory.bad = {ok = 1, deep = {co = coroutine.create(print)}}
end, "Memory.bad.deep.co")
assert(err:find("thread", 1, true))
assert(Memory.bad == nil, "nothing of a rejected assignment is stored")

local cyc = {name = "loop"}
cyc.child = {parent = cyc}
fails(function() Memory.cyc = cyc end, "Memory.cyc.child.parent")
assert(Memory.cyc == nil)

fails(function() Memory.k = {[{}] = 1} end, "Memory.k")
fails(function() Memory.k = {[print] = 1} end, "as a key")
assert(Memory.k == nil)

-- Userdata (a query object's handle is one) is rejected.
local q = store.query("users")
fails(function() Memory.u = {h = rawget(q, next(q))} end, "userdata")

-- Bad keys on the proxy itself.
fails(function() Memory[nil] = 1 end, "index is nil")
fails(function() Memory[0 / 0] = 1 end, "index is NaN")
fails(function() Memory[{}] = 1 end, "as a key")
assert(Memory[{}] == nil and Memory[0 / 0] == nil and Memory[nil] == nil)

-- A rejected value inside a big literal: nothing of it stored either.
local big = {}
for i = 1, 200 do big[i] = {i = i} end
big[150].bad = coroutine.create(print)
fails(function() Memory.big = big end, "Memory.big[150].bad")
assert(Memory.big == nil)

-- nil deletes recursively.
Memory.tree = {a = {b = {c = {d = 1}}}}
local c = Memory.tree.a.b.c
Memory.tree = nil
assert(Memory.tree == nil)
fails(function() return c.d end, "no longer exists")
fails(function() return #c end, "no longer exists")
fails(function() for k in pairs(c) do end end, "no longer exists")
fails(function() c.d = 2 end, "does not exist")
-- (A plain Lua table would live on, detached; a stored table is gone.)

-- Copying stored tables.
Memory.src = {x = 1, sub = {y = 2}, list = {1, 2, 3}}
Memory.dst = Memory.src
assert(Memory.dst ~= Memory.src, "a copy is a new table")
assert(Memory.dst.sub.y == 2 and #Memory.dst.list == 3)
Memory.src.sub.y = 20
assert(Memory.dst.sub.y == 2, "copies are independent")
Memory.wrapped = {inner = Memory.src, n = 1}
assert(Memory.wrapped.inner.sub.y == 20)
Memory.src = Memory.src -- a no-op: same content, same identity
assert(Memory.src.sub.y == 20)

-- Copying a table into its own subtree is refused.
fails(function() Memory.src.sub.me = Memory.src end, "into its own subtree")
fails(function() Memory.src.loop = {again = Memory.src} end, "into its own subtree")
fails(function() Memory.everything = Memory end, "into its own subtree")
assert(Memory.src.sub.me == nil and Memory.src.loop == nil)

-- Plain tables with metatables are copied raw.
local obj = setmetatable({v = 1}, {__index = function() return "meta" end})
Memory.obj = obj
assert(Memory.obj.v == 1 and Memory.obj.other == nil)

-- Deep but acceptable nesting, and too deep.
local deep = {}
local cur = deep
for i = 1, 90 do cur.next = {}; cur = cur.next end
cur.leaf = true
Memory.deep = deep
local r = Memory.deep
for i = 1, 90 do r = r.next end
assert(r.leaf == true)
local tooDeep = {}
cur = tooDeep
for i = 1, 150 do cur.next = {}; cur = cur.next end
fails(function() Memory.tooDeep = tooDeep end, "deeper than")
assert(Memory.tooDeep == nil)

-- Strings are binary-safe as keys and values.
local bin = "\0\1\2\255"
Memory.bin = {[bin] = bin}
assert(Memory.bin[bin] == bin)

-- Functions of the standard library are stored by name.
Memory.fn = math.max
assert(Memory.fn == math.max and Memory.fn(1, 5) == 5)
Memory.next_fn = next
assert(Memory.next_fn == next)
return true
