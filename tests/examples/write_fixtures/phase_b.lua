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

-- @chunk
Memory.log = {"first"}

-- @chunk
Memory.log[2] = "second"
