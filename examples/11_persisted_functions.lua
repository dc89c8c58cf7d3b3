-- Functions are values like any other: closures are stored with their
-- upvalues, standard-library functions by name, and store.fn keeps a
-- function as source text (loadable even by an untrusted store).

-- A closure and its state.
local function make_counter(start)
  local n = start
  return function() n = n + 1; return n end
end
Memory.tickets = make_counter(100)
print("ticket:", Memory.tickets(), Memory.tickets())

-- Two closures sharing one upvalue stay joined after a reload.
local function make_account(balance)
  local function deposit(x) balance = balance + x; return balance end
  local function read() return balance end
  return {deposit = deposit, read = read}
end
Memory.account = make_account(10)
Memory.account.deposit(5)
print("balance:", Memory.account.read())

-- Recursive local functions work.
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
Memory.fib = fib
print("fib(20) =", Memory.fib(20))

-- Standard-library C functions are stored by name and come back as themselves.
Memory.sqrt = math.sqrt
print("Memory.sqrt == math.sqrt:", Memory.sqrt == math.sqrt, Memory.sqrt(2))

-- Functions in records: a tiny event handler table.
Memory.handlers = {
  greet = function(name) return "hello, " .. name end,
  shout = function(name) return string.upper(name) .. "!" end,
}
for name, handler in pairs(Memory.handlers) do print(name, handler("world")) end

-- store.fn: a function kept as source text.
Memory.area = store.fn("local w, h = ... return w * h")
print("area(3, 4) =", Memory.area(3, 4))

-- Other C functions cannot be stored (they could not be restored by name).
local ok, err = pcall(function() Memory.bad = coroutine.wrap(print) end)
print("storing a C closure:", ok, err)
assert(Memory.fib(10) == 55 and Memory.area(2, 5) == 10)
