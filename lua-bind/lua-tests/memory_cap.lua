-- The Lua heap cap: going past it raises a catchable error; the VM and
-- the store stay usable and committed data survives.

Memory.committed = {value = 42}
store.commit()
Memory.pending = "pending"

local hog = {}
local ok, err = pcall(function()
  for i = 1, 1e9 do hog[i] = ("x"):rep(1024) .. i end
end)
assert(not ok, "the heap cap must stop the loop")
assert(tostring(err):find("not enough memory", 1, true), tostring(err))
hog = nil
collectgarbage()

-- Building a huge value to store also hits the cap, catchably.
ok, err = pcall(function()
  local big = {}
  for i = 1, 1e9 do big[i] = {i, tostring(i)} end
  Memory.big = big
end)
assert(not ok and tostring(err):find("not enough memory", 1, true), tostring(err))
collectgarbage()

-- Everything still works.
assert(Memory.committed.value == 42 and Memory.pending == "pending")
Memory.after = {1, 2, 3}
assert(#Memory.after == 3)
assert(store.query("after"):count() == 3)
return true
