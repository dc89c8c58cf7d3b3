-- Fixture content, phase A: the bulk of the data. Each section commits on
-- its own (store.commit), so the store sees several transactions. Run by
-- main.rs; everything here must be deterministic (no pairs() over plain
-- tables whose order matters, no clock, no addresses).

-- Scalars of every kind, as values.
Memory.scalars = {
  int = 42, neg = -7, zero = 0,
  maxint = math.maxinteger, minint = math.mininteger,
  float = 0.1, third = 1 / 3, fraction = 2.5, whole_float = 3.0,
  negzero = -0.0, tiny = 5e-324, huge = 1e308,
  inf = math.huge, ninf = -math.huge, nan = 0 / 0,
  yes = true, no = false,
  empty = "", text = "hello", utf8 = "h\u{E9}llo w\u{F6}rld \u{2713}",
  escapes = "say \"hi\"\n\ttab\\ \r\0end",
  binary = "\0\1\2\127\128\254\255 not utf-8 \192\175",
}
store.commit()

-- Keys of every kind.
Memory.keys = {
  [1] = "int 1", [0] = "int 0", [-7] = "int -7",
  [math.maxinteger] = "maxint", [math.mininteger] = "minint",
  [2.5] = "float 2.5", [-0.125] = "float -0.125", [1e300] = "float 1e300",
  [math.pi] = "float pi", [-math.huge] = "float -inf", [math.huge] = "float inf",
  [true] = "bool true", [false] = "bool false",
  ["1"] = "string 1", [""] = "empty string", ["\0\255 bin"] = "binary string",
  ["cl\u{E9}"] = "utf-8 string", [("k"):rep(200)] = "a 200-byte key",
}
store.commit()

-- Nesting several levels deep, arrays, and a table of tables.
Memory.deep = {l1 = {l2 = {l3 = {l4 = {l5 = {l6 = {bottom = "deep", list = {1, 2, 3}}}}}}}}
Memory.list = {"a", "b", "c", 4, 5.5, true, {"nested", "array"}}
Memory.empty = {}
store.commit()

-- Long values: text over a page (an overflow chain of two pages, highly
-- compressible) and 1500 pseudo-random bytes (one overflow page that lz4
-- cannot shrink).
Memory.long_text = ("moonvault keeps Lua tables on disk. "):rep(200)
local bytes, x = {}, 12345
for i = 1, 1500 do
  x = (x * 1103515245 + 12345) % 2147483648
  bytes[i] = string.char(x // 65536 % 256)
end
Memory.long_binary = table.concat(bytes)
store.commit()

-- 200 user records, a list: Memory.users[i] = {name, age, score, ...}.
-- Every 10th record nests deeper; every 7th has a boolean.
local cities = {"Oslo", "Lyon", "Quito", "Kyoto", "Lagos"}
Memory.users = {}
for i = 1, 200 do
  local u = {
    name = ("user %03d"):format(i),
    age = 18 + (i * 37) % 70,
    score = (i % 4 == 0) and (i // 4) or (i * 0.25),
    profile = {city = cities[i % #cities + 1]},
  }
  if i % 10 == 0 then
    u.profile.history = {joined = {year = 2000 + i % 25, month = i % 12 + 1}, tags = {"vip", "t" .. i}}
  end
  if i % 7 == 0 then
    u.active = (i % 2 == 0)
  end
  Memory.users[i] = u
end
store.commit()

-- Indexes: a plain one, one on a nested field path, a unique one.
store.index("users", "age")
store.index("users", "profile.city")
store.index("users", "name", {unique = true})

-- Schemas: an open one on users, a strict one on members using every rule.
store.schema("users", {
  name = {type = "string", required = true, minLength = 1, maxLength = 40},
  age = {type = "integer", min = 0, max = 150},
  score = {type = "number", min = 0},
  profile = {type = "table", schema = {city = {type = "string", required = true}}},
})
store.schema("members", {
  strict = true,
  name = {type = "string", required = true, minLength = 2, maxLength = 20},
  plan = {enum = {"free", "pro"}},
  level = {enum = {1, 2, 3}},
  admin = {type = "boolean"},
  hook = {type = "function"},
  ratio = {type = "number", min = 0, max = 1.5},
  address = {type = "table", schema = {city = {type = "string", required = true}}},
})
Memory.members.ann = {name = "Ann", plan = "pro", level = 3, admin = true, ratio = 0.75,
                      address = {city = "Oslo"}}
Memory.members.bob = {name = "Bob", plan = "free", level = 1}
Memory.members.cid = {name = "Cid", hook = math.max}

-- Packed records (format 2): records of scalars stored as one value each,
-- with a plain and a unique index over them.
Memory.pets = {}
for i = 1, 120 do
  Memory.pets[i] = {name = ("pet %03d"):format(i), legs = (i * 7) % 5, weight = i / 4, tame = i % 3 ~= 0}
end
store.index("pets", "legs")
store.index("pets", "name", {unique = true})
