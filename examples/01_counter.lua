-- A counter that survives restarts: Memory is a table on disk.
--
--   moonvault run examples/01_counter.lua            -- 1
--   moonvault run examples/01_counter.lua            -- 2 (the store remembers)
--   moonvault run examples/01_counter.lua -- 10      -- adds 10 (script arguments are in `arg`)

local step = tonumber(arg[1]) or 1
Memory.counter = (Memory.counter or 0) + step
Memory.history = Memory.history or {}
table.insert(Memory.history, Memory.counter)

print(("counter = %d (after %d run(s))"):format(Memory.counter, #Memory.history))
print("history:", table.concat(Memory.history, " "))
assert(Memory.history[#Memory.history] == Memory.counter)
