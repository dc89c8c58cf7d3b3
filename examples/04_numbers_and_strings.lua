-- Values keep their exact Lua types: integers stay integers, floats stay
-- floats (math.type), extremes and -0.0 survive; strings are bytes.

Memory.values = {
  int = 42, float = 42.0, min = math.mininteger, max = math.maxinteger,
  huge = math.huge, neg_zero = -0.0, third = 1 / 3,
  bytes = "zero\0byte \255", utf8 = "héllo wörld",
}
local v = Memory.values
for _, k in ipairs({"int", "float", "min", "max", "huge", "neg_zero", "third"}) do
  print(("%-8s %-22s %s"):format(k, tostring(v[k]), math.type(v[k])))
end
print("-0.0 keeps its sign:", 1 / v.neg_zero == -math.huge)
print("bytes:", #v.bytes, "utf8 chars:", utf8.len(v.utf8))

-- Float keys with integral values are integer keys, as in Lua.
Memory.sparse = {}
Memory.sparse[2.0] = "two"
print("sparse[2] =", Memory.sparse[2], "sparse[2.0] =", Memory.sparse[2.0])
Memory.sparse[2.5] = "two and a half"
for k, val in pairs(Memory.sparse) do print(("  key %s (%s) -> %s"):format(k, math.type(k), val)) end

-- Integer arithmetic stays exact at the edges.
Memory.values.max = Memory.values.max - 1
print("max - 1 =", Memory.values.max, math.type(Memory.values.max))
assert(math.type(v.int) == "integer" and math.type(v.float) == "float")
