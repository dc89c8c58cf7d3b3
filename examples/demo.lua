-- moonvault demo: plain Lua tables that live on disk.
--
-- Run it twice on the same store to see everything come back:
--   moonvault run --db demo.db examples/demo.lua   -- first run: writes
--   moonvault run --db demo.db examples/demo.lua   -- second run: reopens
-- (`moonvault demo` does exactly that in a temporary directory.)

local function section(title) print(("\n== %s"):format(title)) end
local function kb(n) return ("%.1f KiB"):format(n / 1024) end

if Memory.demo == nil then
  ---------------------------------------------------------------- first run
  section("1. external tables: Memory is a table on disk")
  Memory.settings = { theme = "dark", volume = 7, ratio = 0.5 }
  Memory.settings.volume = Memory.settings.volume + 1
  Memory.log = {}
  table.insert(Memory.log, "created")
  table.insert(Memory.log, "tuned")
  print("Memory.settings.theme  =", Memory.settings.theme)
  print("Memory.settings.volume =", Memory.settings.volume, math.type(Memory.settings.volume))
  print("Memory.settings.ratio  =", Memory.settings.ratio, math.type(Memory.settings.ratio))
  print("#Memory.log =", #Memory.log, "->", table.concat(Memory.log, ", "))
  local seen = {}
  for k, v in pairs(Memory.settings) do seen[#seen + 1] = k .. "=" .. tostring(v) end
  print("pairs(Memory.settings), in key order:", table.concat(seen, " "))

  section("2. a nested record, written and read at any depth")
  Memory.users = {}
  Memory.users.ann = {
    name = "Ann", age = 34,
    address = { city = "Lyon", zip = "69001" },
    tags = { "admin", "ops" },
  }
  Memory.users.ann.address.city = "Paris"   -- rewrites one stored entry
  local ann = Memory.users.ann
  print("Memory.users.ann.address.city =", ann.address.city)
  print("tags:", table.concat(ann.tags, ", "), "| age:", ann.age)

  section("3. an index and a query")
  local cities = { "Lyon", "Oslo", "Quito", "Kyoto", "Paris" }
  for i = 1, 500 do
    Memory.users[("u%03d"):format(i)] = {
      name = "user " .. i,
      age = 18 + (i * 37) % 70,
      address = { city = cities[i % #cities + 1] },
    }
  end
  store.index("users", "age")
  print("users aged over 80, oldest first (via the age index):")
  for key, u in store.query("users"):where("age", ">", 80):order_by("age", "desc"):limit(3) do
    print(("  %-5s %-9s age %d, %s"):format(key, u.name, u.age, u.address.city))
  end
  print("users in Oslo:", store.query("users"):where("address.city", "=", "Oslo"):count())

  section("4. a persisted closure")
  local greeting = "Hello"
  Memory.greet = function(name) return ("%s, %s!"):format(greeting, name) end
  local function counter(start)
    local n = start
    return function() n = n + 1; return n end
  end
  Memory.next_ticket = counter(100)
  print("Memory.greet('world') =", Memory.greet("world"))
  print("Memory.next_ticket()  =", Memory.next_ticket())

  section("5. stats")
  local s = store.stats("users")
  print(("Memory.users: %d records, %d entries in %d tables"):format(s.records, s.entries, s.tables))
  print(("  %s of Lua data stored in about %s (%.2fx); index on age: %d entries")
    :format(kb(s.logical_bytes), kb(s.stored_bytes), s.logical_bytes / math.max(s.stored_bytes, 1),
            s.indexes[1].entries))
  local all = store.stats()
  print(("store: %d pages of %d bytes, %d index(es)"):format(all.pages, all.page_size, all.indexes))

  Memory.demo = { runs = 1 }
  print("\nEverything above is committed when this chunk ends. Run the script again to reopen it.")
else
  ---------------------------------------------------------------- after reopening
  Memory.demo.runs = Memory.demo.runs + 1
  section(("6. reopened the store (run %d): nothing was lost"):format(Memory.demo.runs))
  print("Memory.settings.theme =", Memory.settings.theme, "| volume =", Memory.settings.volume)
  print("Memory.log =", table.concat(Memory.log, ", "))
  print("Memory.users.ann.address.city =", Memory.users.ann.address.city)
  local n = 0
  for _ in pairs(Memory.users) do n = n + 1 end
  print("users stored:", n)
  print("the index still answers: users aged 87 =",
        store.query("users"):where("age", "=", 87):count())
  print("restored closure: Memory.greet('again') =", Memory.greet("again"))
  print("restored counter: Memory.next_ticket() =", Memory.next_ticket())
end
