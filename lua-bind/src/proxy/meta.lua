-- The metatable of external tables (see proxy/mod.rs). Each metamethod
-- calls a raw Rust function that answers `true, results...` or
-- `false, message`; `check` raises the message at the script's position
-- (level 2: the metamethod tail-calls `check`, so its caller is the
-- script), so errors are plain strings, as with plain tables.
local mt, raw = ...
local error = error
local rindex, rnewindex, rlen, rnext = raw.index, raw.newindex, raw.len, raw.next

local function check(ok, ...)
  if ok then return ... end
  error((...), 2)
end

mt.__index = function(t, k) return check(rindex(t, k)) end
mt.__newindex = function(t, k, v) return check(rnewindex(t, k, v)) end
mt.__len = function(t) return check(rlen(t)) end

-- `next` for external tables: key order, stateless (continues after any
-- key, even one deleted meanwhile).
local function pnext(t, k)
  local ok, nk, nv = rnext(t, k)
  if not ok then error(nk, 2) end
  if nk == nil then return nil end -- one value at the end, as Lua's next
  return nk, nv
end
mt.__pairs = function(t) return pnext, t, nil end

-- Scripts can neither read nor replace the metatable.
mt.__metatable = false

return pnext
