-- Indexes and queries over a table of records.

Memory.people = nil                    -- start over (also drops its indexes)
Memory.people = {}
local cities = {"Oslo", "Lyon", "Quito", "Kyoto"}
for i = 1, 200 do
  Memory.people[("p%03d"):format(i)] = {
    name = ("person %d"):format(i),
    age = 18 + (i * 37) % 70,
    email = ("p%d@example.org"):format(i),
    profile = {city = cities[i % #cities + 1], vip = (i % 10 == 0)},
  }
end

store.index("people", "age")
store.index("people", "profile.city")                 -- nested field
store.index("people", "email", {unique = true})

-- Iterate a query directly: for key, record in query do ... end
print("over 80, oldest first:")
for key, p in store.query("people"):where("age", ">", 80):order_by("age", "desc"):limit(5) do
  print(("  %s %-11s %d %s"):format(key, p.name, p.age, p.profile.city))
end

local q = store.query("people")
print("in Oslo:", q:where("profile.city", "=", "Oslo"):count())
print("aged 30..39 in Lyon or Kyoto:",
  q:where("age", "between", 30, 39):where("profile.city", "in", {"Lyon", "Kyoto"}):count())
print("not in Oslo:", q:where("profile.city", "not in", {"Oslo"}):count())
print("emails ending in 7@example.org:", q:where("email", "endsWith", "7@example.org"):count())
print("names starting with 'person 1':", q:where("name", "startsWith", "person 1"):count())
print("names containing '99':", table.concat(q:where("name", "contains", "99"):keys(), ", "))
print("vip:", q:where("profile.vip", "=", true):count(), "age != 50:", q:where("age", "!=", 50):count())
print("with a nickname:", q:where("nickname", "exists"):count(),
      "without:", q:where("nickname", "missing"):count())

-- Terminal operations: count, first, all, keys; pagination with offset.
local young = q:where("age", "<", 21):order_by("age")
local first, key = young:first()
print("youngest:", key, first.name, first.age)
print("page 2 of the young (3 per page):", table.concat(young:offset(3):limit(3):keys(), " "))
print("all young records:", #young:all())
print("plan:", q:where("age", ">=", 60):explain())

-- Records are live external tables: change them while iterating.
for _, p in q:where("profile.vip", "=", true) do p.age = p.age + 1 end

-- A unique index refuses duplicates.
local ok, err = pcall(function() Memory.people.p001.email = "p2@example.org" end)
print("duplicate email refused:", not ok)
print(err)

-- The same filter written by hand agrees with the query.
local by_hand = 0
for _, p in pairs(Memory.people) do if p.age > 60 then by_hand = by_hand + 1 end end
print("age > 60:", q:where("age", ">", 60):count(), "by hand:", by_hand)
assert(by_hand == q:where("age", ">", 60):count())
