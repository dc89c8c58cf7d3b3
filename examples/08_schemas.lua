-- Schemas: rules for the records of a table, checked on every write.

Memory.members = nil
store.schema("members", {
  strict = true,                                     -- no fields beyond these
  name = {type = "string", required = true, minLength = 1, maxLength = 40},
  age = {type = "integer", min = 0, max = 150},
  plan = {enum = {"free", "pro"}},
  address = {type = "table", schema = {city = {type = "string", required = true}}},
})

Memory.members.m1 = {name = "Ann", age = 31, plan = "pro", address = {city = "Oslo"}}
Memory.members.m2 = {name = "Bob"}

local function try(label, f)
  local ok, err = pcall(f)
  print(("%-22s %s"):format(label, ok and "ok" or ("refused: " .. err)))
end
try("negative age", function() Memory.members.m3 = {name = "Cid", age = -4} end)
try("age as float", function() Memory.members.m3 = {name = "Cid", age = 4.5} end)
try("unknown plan", function() Memory.members.m3 = {name = "Cid", plan = "gold"} end)
try("missing name", function() Memory.members.m3 = {age = 20} end)
try("extra field", function() Memory.members.m3 = {name = "Cid", shoe = 44} end)
try("address without city", function() Memory.members.m3 = {name = "Cid", address = {}} end)
try("valid record", function() Memory.members.m3 = {name = "Cid", age = 20} end)
try("field update", function() Memory.members.m1.age = 32 end)
try("bad field update", function() Memory.members.m1.name = 7 end)

local s = store.schema("members")                    -- read it back
print("strict:", s.strict, "name rule:", s.name.type, s.name.required, s.name.maxLength)
store.schema("members", nil)                         -- remove it
Memory.members.m4 = {anything = "goes"}
print("members:", #store.query("members"):keys())
assert(Memory.members.m3.age == 20 and Memory.members.m1.age == 32)
