-- store.batch: many set/delete operations applied atomically.

Memory.inventory = nil
local n = store.batch({
  {op = "set", path = "inventory.apples", value = {qty = 10, price = 0.5}},
  {op = "set", path = "inventory.pears", value = {qty = 4, price = 0.75}},
  {op = "set", path = "inventory.plums", value = {qty = 0, price = 1.25}},
  {op = "delete", path = "inventory.plums"},
  {op = "set", path = {"sales", 2024}, value = 1200},       -- non-string keys: an array path
})
print("applied", n, "operations")
for name, item in pairs(Memory.inventory) do print(("  %-6s qty %2d at %.2f"):format(name, item.qty, item.price)) end
print("sales[2024] =", Memory.sales[2024])

-- If one operation fails, none is applied and the error names it.
store.schema("inventory", {qty = {type = "integer", min = 0}})
local ok, err = pcall(store.batch, {
  {op = "set", path = "inventory.kiwis", value = {qty = 3}},
  {op = "set", path = "inventory.limes", value = {qty = -1}},   -- breaks the schema
})
print("batch failed:", not ok)
print(err)
print("kiwis stored?", Memory.inventory.kiwis ~= nil)
assert(Memory.inventory.kiwis == nil and Memory.inventory.apples.qty == 10)
