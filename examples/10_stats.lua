-- Statistics: the store as a whole, and the size of one table.

Memory.logs = nil
Memory.logs = {}
for i = 1, 2000 do
  Memory.logs[i] = {level = (i % 10 == 0) and "error" or "info", msg = ("request %d served"):format(i)}
end
store.index("logs", "level")
store.commit()

local s = store.stats()
print(("store: %d pages of %d bytes (%d bytes stored), %d free"):format(s.pages, s.page_size, s.stored_bytes, s.free_pages))
print(("       %d index(es), %d schema(s), version %d, %d commits"):format(s.indexes, s.schemas, s.version, s.commits))
print(("       WAL: %d records, %d bytes; cache hit rate %.2f"):format(s.wal_records, s.wal_bytes, s.cache_hit_rate))
print(("       Lua heap: %d of %d bytes"):format(s.lua_memory, s.lua_memory_limit))

local t = store.stats("logs")
print(("%s: %d records, %d entries in %d tables"):format(t.name, t.records, t.entries, t.tables))
print(("  %d logical bytes -> ~%d stored (%.2f stored per logical byte)"):format(t.logical_bytes, t.stored_bytes, t.stored_per_logical))
for _, ix in ipairs(t.indexes) do
  print(("  index on %s: %d entries, ~%d bytes%s"):format(ix.field, ix.entries, ix.stored_bytes, ix.unique and " (unique)" or ""))
end
assert(t.records == 2000 and t.indexes[1].entries == 2000)
