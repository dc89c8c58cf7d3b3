-- External tables behave like plain tables: every case below runs twice,
-- once on a plain table and once on a fresh table of Memory, and the two
-- transcripts must be identical.

local function show(v)
  local ty = type(v)
  if ty == "number" then
    if math.type(v) == "integer" then return "i:" .. tostring(v) end
    if v ~= v then return "f:nan" end
    if v == 0 and 1 / v < 0 then return "f:-0.0" end
    return ("f:%.17g"):format(v)
  elseif ty == "string" then
    return ("%q"):format(v)
  elseif ty == "table" then
    return "table"
  end
  return tostring(v)
end

-- A transcript: every out(...) call appends one line.
local function recorder()
  local lines = {}
  local function out(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = show((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, " ")
  end
  return lines, out
end

-- The contents of t, sorted (pairs order of plain tables is arbitrary).
local function sorted_pairs(t, out)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "boolean" then return (not a) and b end
    return a < b
  end)
  for _, k in ipairs(keys) do out("pair", k, t[k]) end
end

local cases = {}

cases.reads_and_writes = function(t, out)
  t.a = 1
  t.b = "two"
  t[3] = 3.5
  t[true] = false
  out(t.a, t.b, t[3], t[true], t.missing, t[false])
  t.a = t.a + 41
  out(t.a)
  t.b = nil
  out(t.b)
  out(t[nil], t[0 / 0])
end

cases.nested_tables = function(t, out)
  t.user = {name = "ann", profile = {city = "Oslo", tags = {"a", "b"}}}
  out(t.user.name, t.user.profile.city, t.user.profile.tags[2])
  t.user.profile.city = "Bergen"
  t.user.profile.zip = 5003
  out(t.user.profile.city, t.user.profile.zip, #t.user.profile.tags)
  local p = t.user.profile
  p.tags[3] = "c"
  out(#t.user.profile.tags, t.user.profile.tags[3])
  out(type(t.user), type(t.user.profile.tags))
end

cases.missing_intermediate_errors_like_lua = function(t, out)
  local ok, err = pcall(function() t.a.b.c = 1 end)
  out(ok, (tostring(err):gsub("^.-:%d+: ", "")))
  t.a = {}
  ok, err = pcall(function() t.a.b.c = 1 end)
  out(ok, (tostring(err):gsub("^.-:%d+: ", "")))
  t.a.b = {}
  t.a.b.c = 1
  out(t.a.b.c)
end

cases.float_keys_are_integer_keys = function(t, out)
  t[2.0] = "two"
  out(t[2], t[2.0])
  t[2] = "deux"
  out(t[2.0])
  t[2.5] = "half"
  out(t[2.5], t[2])
  t[-0.0] = "zero"
  out(t[0])
  sorted_pairs(t, out)
end

cases.number_subtypes = function(t, out)
  t.i = 3
  t.f = 3.0
  t.min = math.mininteger
  t.max = math.maxinteger
  t.inf = math.huge
  t.ninf = -math.huge
  t.nz = -0.0
  t.big = 2 ^ 63
  t.tiny = 5e-324
  out(t.i, t.f, t.min, t.max, t.inf, t.ninf, t.nz, t.big, t.tiny)
  out(math.type(t.i), math.type(t.f), math.type(t.min), math.type(t.max))
  t.nan = 0 / 0
  out(t.nan ~= t.nan)
  t[math.maxinteger] = "maxkey"
  t[math.mininteger] = "minkey"
  out(t[math.maxinteger], t[math.mininteger])
end

cases.binary_strings = function(t, out)
  local s = "a\0b\255\0"
  t[s] = s .. s
  out(t[s], #t[s])
  t.empty = ""
  out(t.empty, #t.empty)
  t[""] = "empty key"
  out(t[""])
end

cases.length_and_ipairs = function(t, out)
  out(#t)
  for i = 1, 10 do t[i] = i * i end
  out(#t)
  for i, v in ipairs(t) do out(i, v) end
  t[#t + 1] = "next"
  out(#t, t[11])
  t[11] = nil
  t[10] = nil
  out(#t)
end

cases.table_library = function(t, out)
  t.list = {}
  local l = t.list
  for i = 1, 5 do table.insert(l, i * 10) end
  table.insert(l, 1, 5)
  table.insert(l, 3, 15)
  out(#l, table.concat(l, ","))
  out(table.remove(l), table.remove(l, 1), table.remove(l, 2))
  out(#l, table.concat(l, ","))
  table.sort(l, function(a, b) return a > b end)
  out(table.concat(l, ","))
  out(table.unpack(l))
  out(table.unpack(l, 2, 3))
  local moved = table.move(l, 1, 3, 2)
  out(moved == l, table.concat(l, ","))
  table.sort(l)
  out(table.concat(l, " ", 2, 4))
  t.words = {"pear", "apple", "fig"}
  table.sort(t.words)
  out(table.concat(t.words, "+"))
end

cases.lists_of_records = function(t, out)
  t.list = {}
  for i = 1, 6 do table.insert(t.list, {id = i, name = "n" .. (7 - i) % 4, tags = {i}}) end
  local held = t.list[2]
  table.sort(t.list, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.id < b.id
  end)
  for i, r in ipairs(t.list) do out(i, r.id, r.name, r.tags[1]) end
  out("held follows its record", held.id, held.name)
  local removed = table.remove(t.list, 1)
  out("removed", removed.id, removed.name, removed.tags[1], #t.list)
  table.insert(t.list, 2, {id = 99, name = "inserted"})
  table.insert(t.list, {id = 100})
  for i, r in ipairs(t.list) do out(i, r.id) end
  out("held", held.id)
  table.sort(t.list, function(a, b) return a.id > b.id end)
  for i, r in ipairs(t.list) do out(i, r.id) end
  local last = table.remove(t.list)
  out("last", last.id, #t.list)
  out(table.remove(t.list, #t.list + 1), #t.list)
  local ok, err = pcall(table.sort, t.list)
  out(ok, (tostring(err):gsub("^.-:%d+: ", "")))
  ok, err = pcall(table.insert, t.list, 99, {})
  out(ok, (tostring(err):gsub("^.-:%d+: ", "")))
  ok, err = pcall(table.remove, t.list, 99)
  out(ok, (tostring(err):gsub("^.-:%d+: ", "")))
  ok = pcall(table.insert, t.list, 1, 2, 3)
  out(ok)
end

cases.sort_scalars_and_stability_of_content = function(t, out)
  t.nums = {5, 3, 9, 1, 3.5, -2, 7}
  table.sort(t.nums)
  out(table.concat(t.nums, " "))
  table.sort(t.nums, function(a, b) return a > b end)
  out(table.concat(t.nums, " "))
  t.words = {"b", "a", "c"}
  table.sort(t.words)
  table.insert(t.words, 1, "z")
  out(table.remove(t.words, 2), table.concat(t.words, ","))
  t.empty = {}
  table.sort(t.empty)
  out(table.remove(t.empty), #t.empty)
end

cases.pairs_sees_everything = function(t, out)
  t.x = 1
  t.y = {1, 2}
  t[1] = "one"
  t[false] = 0
  t[1.5] = "x"
  sorted_pairs(t, out)
  local n = 0
  for k, v in pairs(t) do n = n + 1 end
  out(n)
end

cases.next_works = function(t, out)
  out(next(t) == nil)
  t.only = 1
  local k, v = next(t)
  out(k, v, next(t, k))
  t.only = nil
  out(next(t) == nil)
end

cases.deleting_while_iterating = function(t, out)
  for i = 1, 10 do t["k" .. i] = i end
  for k, v in pairs(t) do
    if v % 2 == 0 then t[k] = nil end
  end
  sorted_pairs(t, out)
end

cases.assigning_tables_copies = function(t, out)
  -- (Assignment copies; a plain table stores a reference. Scripts that
  -- do not modify a table after assigning it cannot tell; assignment.lua
  -- tests the copy semantics.)
  t.copy = {a = 1, nested = {b = 2}}
  out(t.copy.a, t.copy.nested.b)
  t.copy.a = 5
  out(t.copy.a)
  -- replacing a table with another table
  t.copy = {c = 3}
  out(t.copy.a, t.copy.c, t.copy.nested)
  -- replacing a table with a scalar, and back
  t.copy = 7
  out(t.copy)
  t.copy = {d = {e = {f = 1}}}
  out(t.copy.d.e.f)
  t.copy = nil
  out(t.copy)
end

cases.shared_subtables_become_copies = function(t, out)
  local shared = {v = 1}
  t.pair = {left = shared, right = shared}
  out(t.pair.left.v, t.pair.right.v)
end

cases.counters_and_strings = function(t, out)
  t.count = 0
  for i = 1, 100 do t.count = t.count + 1 end
  t.text = ""
  for i = 1, 5 do t.text = t.text .. i end
  out(t.count, t.text, #t.text, t.text:upper(), ("x"):rep(3) .. t.text)
end

cases.boolean_and_mixed_keys = function(t, out)
  t[true] = "yes"
  t[false] = "no"
  t[1] = "one"
  t["1"] = "string one"
  out(t[true], t[false], t[1], t["1"])
  sorted_pairs(t, out)
end

cases.rawlen_and_type = function(t, out)
  t.sub = {1, 2, 3}
  out(type(t.sub), select("#", table.unpack(t.sub)))
end

local function run_case(name, case, t)
  local lines, out = recorder()
  local ok, err = pcall(case, t, out)
  if not ok then lines[#lines + 1] = "ERROR " .. tostring(err) end
  return lines
end

local names = {}
for name in pairs(cases) do names[#names + 1] = name end
table.sort(names)

local failures = {}
Memory.side_by_side = {}
for _, name in ipairs(names) do
  local plain = run_case(name, cases[name], {})
  Memory.side_by_side[name] = {}
  local external = run_case(name, cases[name], Memory.side_by_side[name])
  local n = math.max(#plain, #external)
  for i = 1, n do
    if plain[i] ~= external[i] then
      failures[#failures + 1] = ("%s line %d:\n  plain:    %s\n  external: %s")
        :format(name, i, tostring(plain[i]), tostring(external[i]))
      break
    end
  end
end
assert(#failures == 0, "external tables differ from plain tables:\n" .. table.concat(failures, "\n"))
return #names
