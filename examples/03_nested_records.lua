-- Nested records: write and read at any depth; assigning a table copies
-- it into the store; nil deletes a whole subtree.

Memory.company = {
  name = "Acme",
  address = {street = "1 Main St", city = "Springfield", geo = {lat = 39.78, lon = -89.65}},
  staff = {
    ann = {role = "ceo", skills = {"strategy", "golf"}},
    bob = {role = "dev", skills = {"lua", "rust"}},
  },
}

local c = Memory.company
c.address.geo.lat = 39.80                          -- one stored entry rewritten
c.staff.cid = {role = "dev", skills = {"sql"}}     -- a new nested record
table.insert(c.staff.bob.skills, "wasm")

print(c.name, "in", c.address.city, c.address.geo.lat, c.address.geo.lon)
for name, person in pairs(c.staff) do
  print(("  %-4s %-4s %s"):format(name, person.role, table.concat(person.skills, ", ")))
end

-- Plain Lua semantics: indexing a missing field gives nil, so writing
-- below it is an error (no tables are created behind your back).
local ok, err = pcall(function() Memory.company.missing.field = 1 end)
print("write below a missing table:", ok, err)

-- Assigning a table copies it: later changes to the plain table do not
-- reach the store.
local template = {role = "intern", skills = {}}
c.staff.dan = template
template.role = "changed"
print("dan's role:", c.staff.dan.role)

-- Copying a stored table makes an independent copy.
Memory.company_backup = Memory.company
Memory.company.name = "Acme 2"
print("name:", Memory.company.name, "backup:", Memory.company_backup.name)

-- nil deletes recursively.
Memory.company_backup = nil
print("backup after delete:", Memory.company_backup)
assert(c.staff.dan.role == "intern" and Memory.company.name == "Acme 2")
