-- Queries agree with plain Lua filtering of the same records, with and
-- without indexes.

local function fails(f, pattern)
  local ok, err = pcall(f)
  assert(not ok, "expected an error matching " .. pattern)
  assert(err:find(pattern, 1, true), ("error %q does not mention %q"):format(err, pattern))
end

-- The data, in a plain table and in the store.
local cities = {"Oslo", "Bergen", "Trondheim", "Stavanger", nil}
local plain = {}
for i = 1, 120 do
  local r = {
    name = ("user%03d"):format(i),
    age = (i * 37) % 90,
    score = (i % 7 == 0) and (i / 4) or (i % 11),
    vip = (i % 5 == 0),
  }
  if i % 13 ~= 0 then r.profile = {city = cities[(i % 4) + 1]} end
  if i % 17 == 0 then r.age = "unknown" end -- mixed types
  if i % 19 == 0 then r.score = nil end
  plain["u" .. i] = r
end
Memory.people = plain

local function get(r, field)
  for part in field:gmatch("[^.]+") do
    if type(r) ~= "table" then return nil end
    r = r[part]
  end
  return r
end

local function comparable(a, b)
  return (type(a) == "number" and type(b) == "number") or (type(a) == "string" and type(b) == "string")
end

local function keyish(v)
  local t = type(v)
  return t == "number" or t == "string" or t == "boolean"
end

local function matches(r, field, op, a, b)
  local v = get(r, field)
  if op == "=" then return keyish(v) and v == a
  elseif op == "!=" then return not (keyish(v) and v == a)
  elseif op == "<" then return comparable(v, a) and v < a
  elseif op == "<=" then return comparable(v, a) and v <= a
  elseif op == ">" then return comparable(v, a) and v > a
  elseif op == ">=" then return comparable(v, a) and v >= a
  elseif op == "between" then return comparable(v, a) and comparable(v, b) and v >= a and v <= b
  elseif op == "in" or op == "not in" then
    local found = false
    if keyish(v) then for _, x in ipairs(a) do if x == v then found = true end end end
    if op == "in" then return found end
    return not found
  elseif op == "startsWith" then return type(v) == "string" and v:sub(1, #a) == a
  elseif op == "endsWith" then return type(v) == "string" and (a == "" or v:sub(-#a) == a)
  elseif op == "contains" then return type(v) == "string" and v:find(a, 1, true) ~= nil
  elseif op == "exists" then return v ~= nil
  elseif op == "missing" then return v == nil
  end
  error("unknown op " .. op)
end

local conditions = {
  {"age", "=", 37}, {"age", "=", 37.0}, {"age", "!=", 37}, {"age", "<", 30}, {"age", "<=", 30},
  {"age", ">", 60}, {"age", ">=", 60.5}, {"age", "between", 20, 40}, {"age", "in", {1, 2, 74, 37}},
  {"age", "not in", {1, 2, 74}}, {"age", "=", "unknown"}, {"age", "<", "v"},
  {"name", "startsWith", "user1"}, {"name", "endsWith", "7"}, {"name", "contains", "04"},
  {"name", ">", "user100"}, {"score", "exists"}, {"score", "missing"}, {"score", ">", 10},
  {"score", "<=", 2.5}, {"vip", "=", true}, {"vip", "!=", true},
  {"profile.city", "=", "Oslo"}, {"profile.city", "in", {"Bergen", "Stavanger"}},
  {"profile.city", "missing"}, {"profile.city", "startsWith", "B"}, {"profile", "exists"},
}

local function expected(conds)
  local keys = {}
  for k, r in pairs(plain) do
    local ok = true
    for _, c in ipairs(conds) do
      if not matches(r, c[1], c[2], c[3], c[4]) then ok = false break end
    end
    if ok then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function actual(conds)
  local q = store.query("people")
  for _, c in ipairs(conds) do q = q:where(c[1], c[2], c[3], c[4]) end
  local keys = {}
  for k, r in q do
    assert(type(r) == "table" and r == Memory.people[k], "records are proxies")
    keys[#keys + 1] = k
  end
  table.sort(keys)
  assert(q:count() == #keys, "count agrees with iteration")
  return keys, q
end

local function same(a, b, what)
  assert(#a == #b, ("%s: %d records, expected %d"):format(what, #a, #b))
  for i = 1, #a do assert(a[i] == b[i], what .. ": differs at " .. i) end
end

local function describe(conds)
  local parts = {}
  for _, c in ipairs(conds) do parts[#parts + 1] = c[1] .. " " .. c[2] end
  return table.concat(parts, " and ")
end

local function check_all(label)
  for _, c in ipairs(conditions) do
    same(actual({c}), expected({c}), label .. ": " .. describe({c}))
  end
  for i = 1, #conditions, 3 do
    local pair = {conditions[i], conditions[(i * 7) % #conditions + 1]}
    same(actual(pair), expected(pair), label .. ": " .. describe(pair))
  end
end

check_all("scan")
store.index("people", "age")
store.index("people", "name")
store.index("people", "profile.city")
store.index("people", "score")
store.index("people", "vip")
check_all("indexed")
local _, q = actual({{"age", ">", 60}})
assert(q:explain():find("index"), q:explain())

-- order_by, limit, offset (missing or non-scalar values last, ties by key)
local function ordered(field, dir)
  local rows = {}
  for k, r in pairs(plain) do rows[#rows + 1] = {k = k, v = get(r, field)} end
  local function rank(v)
    if type(v) == "boolean" then return 1 elseif type(v) == "number" then return 2
    elseif type(v) == "string" then return 3 end
    return 4
  end
  table.sort(rows, function(x, y)
    local rx, ry = rank(x.v), rank(y.v)
    if rx == 4 or ry == 4 then
      if rx ~= ry then return rx < ry end
      return x.k < y.k
    end
    if rx ~= ry then
      if dir == "desc" then return rx > ry end
      return rx < ry
    end
    if x.v ~= y.v then
      if rx == 1 then
        if dir == "desc" then return x.v and not y.v end
        return (not x.v) and y.v
      end
      if dir == "desc" then return x.v > y.v end
      return x.v < y.v
    end
    if dir == "desc" then return x.k > y.k end
    return x.k < y.k
  end)
  local keys = {}
  for i, row in ipairs(rows) do keys[i] = row.k end
  return keys
end

for _, field in ipairs({"age", "name", "score", "profile.city", "vip"}) do
  for _, dir in ipairs({"asc", "desc"}) do
    local want = ordered(field, dir)
    local got = store.query("people"):order_by(field, dir):keys()
    same(got, want, "order_by " .. field .. " " .. dir)
    local page = store.query("people"):order_by(field, dir):offset(10):limit(5):keys()
    same(page, {table.unpack(want, 11, 15)}, "page of " .. field .. " " .. dir)
  end
end

-- terminal operations
local q2 = store.query("people"):where("age", "between", 10, 20):order_by("age")
local all = q2:all()
local keys = q2:keys()
assert(#all == #keys and #all == q2:count() and #all > 0)
for i, r in ipairs(all) do assert(r == Memory.people[keys[i]]) end
local first, firstKey = q2:first()
assert(first == all[1] and firstKey == keys[1])
assert(store.query("people"):where("age", ">", 1000):first() == nil)
assert(store.query("people"):limit(0):count() == 0)
assert(store.query("people"):offset(115):count() == 5)

-- builders are immutable; iterators are independent
local base = store.query("people"):where("vip", "=", true)
local older = base:where("age", ">", 45)
assert(base:count() > older:count())
local n = 0
for _ in base:iter() do
  for _ in base:iter() do n = n + 1 end
end
assert(n == base:count() * base:count())
local again = 0
for _ in base do again = again + 1 end
for _ in base do again = again + 1 end
assert(again == 2 * base:count(), "a query object iterates again from the start")

-- writing records while iterating a query
for k, r in store.query("people"):where("vip", "=", true) do r.seen = true end
assert(store.query("people"):where("seen", "=", true):count() == base:count())

-- queries on missing tables are empty; by array path and by proxy
assert(store.query("nope.nothing"):count() == 0)
for _ in store.query("nope") do error("no rows expected") end
assert(store.query({"people"}):count() == 120)
assert(store.query(Memory.people):where("age", "=", 37):count() == #expected({{"age", "=", 37}}))

-- bad queries
fails(function() store.query("people"):where("age", "~~", 1) end, "unknown operator")
fails(function() store.query("people"):where("age", "in", 5) end, "array")
fails(function() store.query("people"):where("age", "=", {}) end, "expected a boolean, number or string")
fails(function() store.query("people"):where("age", "=", 0 / 0) end, "NaN")
fails(function() store.query("people"):order_by("age", "sideways") end, "asc")
fails(function() store.query("people"):limit(-1) end, "non-negative")
fails(function() store.query(nil) end, "path")
return true
