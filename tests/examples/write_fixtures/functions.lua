-- The stored Lua closures. main.rs runs this in a scratch in-memory vault,
-- takes the payloads and gives each share group a fixed id (see main.rs),
-- then writes them into the fixture stores through the engine.
--
-- Plain tables reached from upvalues have at most one hash key each: Lua's
-- traversal order of several string keys depends on a per-VM hash seed, and
-- the payload records tables in traversal order.

-- Two closures sharing one upvalue, stored in one assignment.
local n = 10
local function inc(by) n = n + (by or 1) return n end
local function get() return n end
Memory.counter = {inc, get}

-- Upvalues of every kind: a table with a metatable, an array, a string, a
-- float, a standard-library function and table, and the globals (_ENV).
local settings = setmetatable({greeting = "Hello"}, {__index = {punctuation = "!"}})
local suffixes = {"", " and welcome", " again"}
local prefix = ">> "
local ratio = 0.5
local fmt, mathlib = string.format, math
local function greet(name, k)
  return fmt("%s%s, %s%s%s (x%g, %d)", prefix, settings.greeting, tostring(name),
    suffixes[k or 1], settings.punctuation, ratio, mathlib.floor(7.9))
end
Memory.greet = greet

-- A recursive local function (its upvalue is itself).
local function fact(k) if k <= 1 then return 1 end return k * fact(k - 1) end
Memory.fact = fact

-- A function kept as source text.
Memory.area = store.fn("local w, h = ... return w * h")
