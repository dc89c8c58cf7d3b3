-- The metatable of external tables (see proxy/mod.rs), and the proxy
-- versions of next, table.insert, table.remove and table.sort (see
-- dispatch.rs). Raw Rust functions answer `true, results...` or
-- `false, message`; `check` raises the message at the caller's position
-- (level 2: the metamethods tail-call `check`, so its caller is the
-- script), so errors are plain strings, as with plain tables.
local mt, raw, originals = ...
local error, select, type, tointeger, rawget = error, select, type, math.tointeger, rawget
local tonumber = tonumber
local rindex, rnewindex, rlen, rnext = raw.index, raw.newindex, raw.len, raw.next
local rshift, rpermute, rdetach = raw.shift, raw.permute, raw.detach
local sort = table.sort

local function check(ok, ...)
  if ok then return ... end
  error((...), 2)
end

mt.__index = function(t, k) return check(rindex(t, k)) end
-- A hot proxy (proxy/cache.rs) has its own metatable whose __index is a
-- table of cached values; a miss there reaches this, with the value
-- table's owner proxy stored under the shared metatable as key.
local values_mt = {__index = function(c, k) return check(rindex(rawget(c, mt), k)) end}
mt.__newindex = function(t, k, v) return check(rnewindex(t, k, v)) end
mt.__len = function(t) return check(rlen(t)) end

-- `next` in key order, stateless (continues after any key, even one
-- deleted meanwhile).
local function pnext(t, k)
  local ok, nk, nv = rnext(t, k)
  if not ok then error(nk, 2) end
  if nk == nil then return nil end -- one value at the end, as Lua's next
  return nk, nv
end
mt.__pairs = function(t) return pnext, t, nil end

-- Scripts can neither read nor replace the metatable.
mt.__metatable = false

-- The proxy versions below run under the C dispatcher (dispatch.rs). An
-- argument error goes back to it as `mt, arg, message` (mt: a value no
-- proxy version returns otherwise; arg 0: not about one argument), and the
-- dispatcher raises it in its own frame as Lua's own functions do, so it
-- names the script's position and the name the function was called by.

-- luaL_checkinteger's verdict on `v`: the integer, or nil and the message.
local function intarg(v)
  local p = tointeger(v)
  if p ~= nil then return p end
  if type(v) == "number" or (type(v) == "string" and tonumber(v) ~= nil) then
    return nil, "number has no integer representation"
  end
  return nil, ("number expected, got %s"):format(type(v))
end

-- table.insert(t, [pos,] v): elements from pos up move one key up (the
-- records keep their identity), then t[pos] = v.
local function pinsert(t, ...)
  local n = select("#", ...)
  local e = #t + 1
  if n == 1 then
    t[e] = ...
    return
  elseif n ~= 2 then
    return mt, 0, "wrong number of arguments to 'insert'"
  end
  local pos, v = ...
  local p, why = intarg(pos)
  if p == nil then return mt, 2, why end
  pos = p
  if pos < 1 or pos > e then return mt, 2, "position out of bounds" end
  if pos < e then
    local ok, err = rshift(t, pos, e - 1, 1)
    if not ok then error(err, 2) end
  end
  t[pos] = v
end

-- table.remove(t [, pos]): returns t[pos] (a stored table comes back as a
-- plain copy: it leaves the store), and the elements above move one key
-- down.
local function premove(t, pos)
  local size = #t
  if pos == nil then
    pos = size
  else
    local p, why = intarg(pos)
    if p == nil then return mt, 2, why end
    pos = p
    if pos ~= size and (pos < 1 or pos > size + 1) then
      return mt, 2, "position out of bounds"
    end
  end
  local ok, v = rdetach(t, pos)
  if not ok then error(v, 2) end
  if pos < size then
    local done, err = rshift(t, pos + 1, size, -1)
    if not done then error(err, 2) end
  else
    t[pos] = nil
  end
  return v
end

-- table.sort(t [, comp]): sorts the positions, then moves the entries
-- into the new order at once.
local function psort(t, comp)
  if comp ~= nil and type(comp) ~= "function" then
    return mt, 2, ("function expected, got %s"):format(type(comp))
  end
  local n = #t
  if n < 2 then return end
  local items, order = {}, {}
  for i = 1, n do
    items[i] = t[i]
    order[i] = i
  end
  if comp then
    sort(order, function(a, b) return comp(items[a], items[b]) end)
  else
    sort(order, function(a, b) return items[a] < items[b] end)
  end
  local ok, err = rpermute(t, order)
  if not ok then error(err, 2) end
end

-- The originals themselves: the dispatcher runs them in its own frame
-- (dispatch.rs), so their errors name the script's position and the name
-- the script called them by, as when scripts call them directly.
local plain = {
  next = originals.next,
  insert = originals.insert,
  remove = originals.remove,
  sort = originals.sort,
}

return {next = pnext, insert = pinsert, remove = premove, sort = psort}, plain, values_mt
