-- External tables behave like plain Lua tables: pairs (in key order),
-- ipairs, #, and the table library all work unchanged.

Memory.fruits = {"pear", "apple", "fig"}
local fruits = Memory.fruits                 -- a proxy: type(fruits) == "table"
print("type:", type(fruits), "length:", #fruits)

table.insert(fruits, "kiwi")                 -- append
table.insert(fruits, 1, "banana")            -- insert at the front
print("after insert:", table.concat(fruits, ", "))

print("removed:", table.remove(fruits, 2), "and", table.remove(fruits))
table.sort(fruits)
print("sorted:", table.concat(fruits, ", "))
print("unpacked:", table.unpack(fruits))

for i, name in ipairs(fruits) do print(("  fruits[%d] = %s"):format(i, name)) end

Memory.prices = {pear = 3, apple = 2, fig = 5, banana = 1}
local total = 0
for name, price in pairs(Memory.prices) do   -- key order: apple, banana, fig, pear
  print(("  %-6s %d"):format(name, price))
  total = total + price
end
print("total:", total)

-- next() works too (the usual emptiness test).
Memory.empty = {}
print("Memory.empty is empty:", next(Memory.empty) == nil)

-- A library function written for plain tables works on stored ones.
local function sum(t)
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s
end
Memory.numbers = {1, 2, 3, 4, 5}
print("sum:", sum(Memory.numbers), "plain:", sum({1, 2, 3, 4, 5}))
assert(sum(Memory.numbers) == 15 and #Memory.fruits == 3)
