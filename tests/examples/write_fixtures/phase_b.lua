-- Fixture content, phase B: the last commits. In store-wal they are only in
-- the write-ahead log. Each `-- @chunk` section runs as one chunk (one or
-- more commits); main.rs writes the stored closures (functions.lua) in a
-- transaction of its own after the first section.

-- Standard-library functions, stored by name.
Memory.fns = {sin = math.sin, print = print, format = string.format}
Memory.f = math.sin

-- @chunk
-- A user schema version set by a migration (two steps, two commits).
store.migrate(2, {
  function()
    for i = 50, 200, 50 do Memory.users[i].badge = "gold" end
  end,
  function()
    store.index("users", "score")
  end,
})

-- @chunk
-- Updates, including an indexed nested field, and deletions.
Memory.users[3].score = 1000.25
Memory.users[4].profile.city = "Lyon"
Memory.users[150] = nil
Memory.scalars.text = "hello again"
Memory.members.bob = nil
-- Packed records: field writes (indexed and not), a replacement, a
-- deletion, and one unpacked by a nested table.
Memory.pets[2].legs = 0
Memory.pets[3].weight = 99.5
Memory.pets[4] = {name = "pet 004", legs = 8}
Memory.pets[5] = nil
Memory.pets[6].collar = {color = "red"}

-- @chunk
Memory.log = {"first"}

-- @chunk
Memory.log[2] = "second"
