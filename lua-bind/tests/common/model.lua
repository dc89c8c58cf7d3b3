-- Lua helpers shared by the model tests (model.rs, packed_model.rs):
-- deep copies, a structural diff that names the first difference, and a
-- canonical text of a value.
function deepcopy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = deepcopy(v) end
  return c
end

function diff(a, b, path)
  if type(a) ~= type(b) then return path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a ~= b and not (a ~= a and b ~= b) then return path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    if math.type(a) ~= math.type(b) then return path .. ": subtype" end
    return nil
  end
  for k, v in pairs(a) do
    local d = diff(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return path .. "." .. tostring(k) .. ": extra" end
  end
  return nil
end

-- A canonical text of a value (sorted keys; floats exact).
function ser(x)
  if type(x) == "table" then
    local parts = {}
    for k, v in pairs(x) do parts[#parts + 1] = "[" .. ser(k) .. "]=" .. ser(v) end
    table.sort(parts)
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(x) == "string" then return ("%q"):format(x)
  elseif math.type(x) == "float" then return ("%a"):format(x)
  end
  return tostring(x)
end
