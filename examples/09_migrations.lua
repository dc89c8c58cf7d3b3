-- Migrations: the store has a schema version; store.migrate runs the
-- missing steps in order, each committed with its version bump.
-- Run it twice: the second run has nothing to do.

Memory.catalog = Memory.catalog or {
  a = {title = "Dune", year = "1965"},
  b = {title = "Neuromancer", year = "1984"},
}

local steps = {
  -- 1: years were strings; make them integers.
  [1] = function()
    for _, book in pairs(Memory.catalog) do book.year = math.tointeger(tonumber(book.year)) end
  end,
  -- 2: add an index and a schema.
  [2] = function()
    store.index("catalog", "year")
    store.schema("catalog", {title = {type = "string", required = true}, year = {type = "integer"}})
  end,
  -- 3: rename `title` to `name`.
  [3] = function()
    store.schema("catalog", nil)
    for _, book in pairs(Memory.catalog) do book.name, book.title = book.title, nil end
  end,
}

print("version before:", store.version())
store.migrate(3, steps)
print("version after:", store.version())
for key, book in store.query("catalog"):order_by("year") do
  print(("  %s %-12s %d (%s)"):format(key, book.name, book.year, math.type(book.year)))
end

-- A failing step leaves the store at the version before it.
steps[4] = function() Memory.catalog.c = {name = "x"}; error("step 4 is not ready") end
local ok, err = pcall(store.migrate, 4, steps)
print("migration to 4:", ok, err)
print("version:", store.version(), "c stored?", Memory.catalog.c ~= nil)
assert(store.version() == 3 and Memory.catalog.c == nil)
