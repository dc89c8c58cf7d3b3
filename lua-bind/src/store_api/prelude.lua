-- The `store` global (see store_api/mod.rs). Raw Rust functions answer
-- `true, results...` or `false, message`; the wrappers raise messages at
-- the caller's position (`check` is tail-called, so level 2 is the
-- script), so scripts see plain string errors.
local raw = ...
local error, pcall, type, tostring, setmetatable, rawget, rawset =
  error, pcall, type, tostring, setmetatable, rawget, rawset
local pack, unpack, mtype = table.pack, table.unpack, math.type

local function check(ok, ...)
  if ok then return ... end
  error((...), 2)
end

local store = {}

function store.commit() return check(raw.commit()) end
function store.rollback() return check(raw.rollback()) end
function store.version() return check(raw.version()) end
function store.batch(ops) return check(raw.batch(ops)) end
function store.index(path, field, opts) return check(raw.index(path, field, opts)) end
function store.drop_index(path, field) return check(raw.drop_index(path, field)) end
function store.schema(path, ...) return check(raw.schema(path, select("#", ...) > 0, ...)) end
function store.stats(path) return check(raw.stats(path)) end
store["fn"] = function(source) return check(raw.fn(source)) end

-- Atomic: an error inside rolls back what `fn` did (a savepoint of the
-- chunk's transaction) and is raised again unchanged. What `fn` did
-- commits with the chunk (or at the next store.commit()).
function store.transaction(fn, ...)
  if type(fn) ~= "function" then
    error("store.transaction expects a function, got " .. type(fn), 2)
  end
  local _, serial, ops = raw.savepoint()
  local r = pack(pcall(fn, ...))
  if r[1] then return unpack(r, 2, r.n) end
  local ok, msg = raw.rollback_to(serial, ops)
  if not ok then
    error(tostring(msg) .. " (while undoing store.transaction after: " .. tostring(r[2]) .. ")", 2)
  end
  error(r[2], 0)
end

-- steps[v] brings the store from version v - 1 to v. Pending changes are
-- committed first; each step then commits with its version bump, so a
-- failing step leaves the store at the version before it.
function store.migrate(target, steps)
  if mtype(target) ~= "integer" or target < 0 then
    error("store.migrate: the target version must be a non-negative integer", 2)
  end
  if type(steps) ~= "table" then
    error("store.migrate: steps must be a table of functions keyed by version", 2)
  end
  local ok, e = raw.commit()
  if not ok then error(e, 2) end
  local current = check(raw.version())
  if current > target then
    error(("store.migrate: the store is at version %d, newer than the target %d; this code is "
      .. "older than the data, upgrade it instead of migrating down"):format(current, target), 2)
  end
  for v = current + 1, target do
    if type(steps[v]) ~= "function" then
      error(("store.migrate: no step for version %d (steps[%d] must be a function)"):format(v, v), 2)
    end
  end
  for v = current + 1, target do
    raw.progress(v - current - 1, target - current)
    local done, err = pcall(steps[v], v)
    if done then done, err = raw.set_version(v) end
    if done then done, err = raw.commit() end
    if not done then
      raw.rollback()
      error(("store.migrate: migration to version %d failed, the store stays at version %d: %s")
        :format(v, v - 1, tostring(err)), 2)
    end
  end
  raw.progress(target - current, target - current)
  return target
end

-- Queries: immutable builders over a Rust handle; iterable with
-- `for key, record in q do`.
local HANDLE, CURSOR = {}, {}
local Query = {}
Query.__index = Query
Query.__metatable = false

local function handle(q)
  return type(q) == "table" and rawget(q, HANDLE) or nil
end

local function wrap(ok, h)
  if not ok then return false, h end
  return true, setmetatable({[HANDLE] = h}, Query)
end

function store.query(path) return check(wrap(raw.query(path))) end
function Query:where(field, op, a, b) return check(wrap(raw.q_where(handle(self), field, op, a, b))) end
function Query:order_by(field, dir) return check(wrap(raw.q_order_by(handle(self), field, dir))) end
function Query:limit(n) return check(wrap(raw.q_limit(handle(self), n))) end
function Query:offset(n) return check(wrap(raw.q_offset(handle(self), n))) end
function Query:count() return check(raw.q_count(handle(self))) end
function Query:first() return check(raw.q_first(handle(self))) end
function Query:all() return check(raw.q_all(handle(self))) end
function Query:keys() return check(raw.q_keys(handle(self))) end
function Query:explain() return check(raw.q_explain(handle(self))) end

-- An independent iterator (nested loops over one query need this).
function Query:iter()
  local ok, cur = raw.q_open(handle(self))
  if not ok then error(cur, 2) end
  return function() return check(raw.c_next(cur)) end
end

-- `for k, r in q do`: Lua calls q(nil, nil) first (a new iteration),
-- then q(nil, previous key).
function Query.__call(self, _, control)
  local cur = rawget(self, CURSOR)
  if control == nil or cur == nil then
    local ok, c = raw.q_open(handle(self))
    if not ok then error(c, 2) end
    cur = c
    rawset(self, CURSOR, c)
  end
  return check(raw.c_next(cur))
end

return store
