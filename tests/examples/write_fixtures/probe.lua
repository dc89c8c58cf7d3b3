-- Reads a fixture store and prints what it finds, one fact a line; the
-- output of today's code is the golden `probe.out`. Read-only: it writes
-- nothing (a refused write is undone), so running it leaves the content as
-- it was. Prints no error messages (their wording may change), only whether
-- something was refused.

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "boolean" then return not a and b end
    return a < b
  end)
  return keys
end

-- A value in one line of printable ASCII: tables with sorted keys, strings
-- quoted with every other byte as \ddd, floats marked, functions unnamed
-- (tostring would show an address).
local function show(v)
  if type(v) == "table" then
    local parts = {}
    for _, k in ipairs(sorted_keys(v)) do parts[#parts + 1] = show(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return '"' .. v:gsub('[%c"\\\128-\255]', function(c) return ("\\%03d"):format(c:byte()) end) .. '"'
  elseif type(v) == "function" then
    return "function"
  elseif v ~= v then
    return "nan:float" -- printf spells a NaN's sign differently per platform
  elseif math.type(v) == "float" then
    return ("%s:float"):format(("%.17g"):format(v))
  end
  return tostring(v)
end

local function refused(f)
  local ok = pcall(f)
  return ok and "accepted" or "refused"
end

print("version", store.version())

-- Queries through each index, and a scan.
local users = store.query("users")
print("users", users:count())
print("age>80 by age", table.concat(users:where("age", ">", 80):order_by("age"):keys(), ","))
print("age between 30 and 33", table.concat(users:where("age", "between", 30, 33):keys(), ","))
print("city=Oslo", users:where("profile.city", "=", "Oslo"):count())
print("city in Lyon,Kyoto and age<25",
  table.concat(users:where("profile.city", "in", {"Lyon", "Kyoto"}):where("age", "<", 25):keys(), ","))
print("name startsWith user 19", table.concat(users:where("name", "startsWith", "user 19"):keys(), ","))
local top = {}
for key, u in users:order_by("score", "desc"):limit(5) do
  top[#top + 1] = key .. ":" .. show(u.score)
end
print("top scores", table.concat(top, " "))
print("score = 25 (int) and 25.0", users:where("score", "=", 25):count(), users:where("score", "=", 25.0):count())
print("badge exists", table.concat(users:where("badge", "exists"):keys(), ","))
print("joined 2010 (no index)", table.concat(users:where("profile.history.joined.year", "=", 2010):keys(), ","))
print("active=false", users:where("active", "=", false):count())
local first, key = users:where("age", ">=", 80):order_by("name", "desc"):first()
print("last name aged 80+", key, first.name)
local pets = store.query("pets")
print("pets", pets:count())
print("pets legs=4", table.concat(pets:where("legs", "=", 4):keys(), ","))
local light = {}
for key, p in pets:where("legs", "<", 2):where("weight", "<", 6):order_by("legs") do
  light[#light + 1] = key .. ":" .. show(p.legs) .. "/" .. show(p.weight)
end
print("pets light", table.concat(light, " "))
print("pet named pet 003", table.concat(pets:where("name", "=", "pet 003"):keys(), ","))

-- Records, values and their subtypes.
print("user 4", show(Memory.users[4]))
print("user 150", show(Memory.users[150]))
print("user 200", show(Memory.users[200]))
print("scalars", show(Memory.scalars))
print("negzero sign", 1 / Memory.scalars.negzero)
print("nan", Memory.scalars.nan ~= Memory.scalars.nan)
print("keys", show(Memory.keys))
print("deep", show(Memory.deep))
print("list", show(Memory.list), #Memory.list)
print("empty", show(Memory.empty), next(Memory.empty))
print("log", show(Memory.log))
local sum = 0
for i = 1, #Memory.long_binary do sum = (sum * 31 + Memory.long_binary:byte(i)) % 1000000007 end
print("long_binary", #Memory.long_binary, sum)
print("long_text", #Memory.long_text, Memory.long_text:sub(1, 16), Memory.long_text:sub(-8))
print("members", show(Memory.members))
print("pets 2..6", show(Memory.pets[2]), show(Memory.pets[3]), show(Memory.pets[4]), show(Memory.pets[5]), show(Memory.pets[6]))

-- Stored functions: call them.
print("f is math.sin", Memory.f == math.sin, Memory.f(0))
print("fns", Memory.fns.sin == math.sin, Memory.fns.print == print, Memory.fns.format("%05.1f", 2.25))
print("cid hook", Memory.members.cid.hook == math.max, Memory.members.cid.hook(3, 9))
local inc, get = Memory.counter[1], Memory.counter[2]
print("counter", get(), inc(), inc(5), get())
print("greet", Memory.greet("Ann"), Memory.greet(42, 2))
print("fact", Memory.fact(10), Memory.fact(20))
print("area", Memory.area(3, 4), Memory.area(2.5, 2))

-- Schemas: read back, and bad records refused.
print("users schema", show(store.schema("users")))
print("members schema", show(store.schema("members")))
print("negative age", refused(function() Memory.users[1].age = -1 end), Memory.users[1].age)
print("missing name", refused(function() Memory.users[999] = {age = 20} end), Memory.users[999])
print("city not a string", refused(function() Memory.users[2].profile.city = 7 end))
print("strict extra field", refused(function() Memory.members.ann.shoe = 44 end))
print("enum", refused(function() Memory.members.ann.plan = "gold" end), Memory.members.ann.plan)
print("valid record", refused(function() Memory.members.dan = {name = "Dan"} end))
print("duplicate pet name", refused(function() Memory.pets[7].name = "pet 008" end), Memory.pets[7].name)
print("duplicate unique name", refused(function() Memory.users[2].name = "user 001" end))
store.rollback()
print("after rollback", Memory.members.dan)
