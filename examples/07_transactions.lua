-- Atomicity: a chunk commits when it ends and rolls back on an uncaught
-- error; store.transaction makes a part of it atomic; store.commit makes
-- the changes so far durable at once.

Memory.accounts = {alice = 100, bob = 50}

local function transfer(from, to, amount)
  store.transaction(function()
    Memory.accounts[from] = Memory.accounts[from] - amount
    if Memory.accounts[from] < 0 then error(("%s cannot pay %d"):format(from, amount)) end
    Memory.accounts[to] = Memory.accounts[to] + amount
  end)
end

transfer("alice", "bob", 30)
print("after a good transfer:", Memory.accounts.alice, Memory.accounts.bob)

local ok, err = pcall(transfer, "bob", "alice", 500)
print("bad transfer refused:", not ok, err)
print("balances untouched:", Memory.accounts.alice, Memory.accounts.bob)

store.commit()                          -- durable now, whatever happens next
Memory.accounts.alice = 0
store.rollback()                        -- back to the last commit
print("after rollback:", Memory.accounts.alice)

-- pcall does not undo writes by itself (as with plain tables); wrap the
-- risky part in store.transaction when it must be all-or-nothing.
pcall(function() Memory.accounts.carol = 10; error("oops") end)
print("carol after a plain pcall:", Memory.accounts.carol)
assert(Memory.accounts.alice == 70 and Memory.accounts.bob == 80)
-- An uncaught error here would roll back everything since store.commit().
