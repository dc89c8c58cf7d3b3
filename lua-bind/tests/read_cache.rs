//! The read cache of external tables (proxy/cache.rs): a hot proxy answers
//! repeated reads from Lua, and nothing it answers is older than the last
//! write, savepoint restore, commit or rollback.

mod common;

use common::{memory_vault, run, run_err};

#[test]
fn writes_rollbacks_and_commits_are_seen_through_hot_proxies() {
    let v = memory_vault();
    run(
        &v,
        "Memory.users = {a = {name = 'Ann', age = 31}, b = {name = 'Bob', age = 40}}",
    );
    run(
        &v,
        "local a = Memory.users.a
         assert(a.age == 31 and a.age == 31)          -- a miss, then a hit
         a.age = 32
         assert(a.age == 32, 'a write is seen')
         Memory.users.a = {name = 'Ann', age = 33}    -- a literal over it
         assert(a.age == 33, 'a replacement is seen')
         local ok = pcall(store.transaction, function()
           a.age = 99
           assert(a.age == 99)
           error('undo')
         end)
         assert(not ok and a.age == 33, 'a rolled back transaction is not seen')
         local ok2 = pcall(function() a.bad = coroutine.create(print) end)
         assert(not ok2 and a.bad == nil)
         store.commit()
         assert(a.age == 33)
         a.age = 34
         store.rollback()
         assert(a.age == 33, 'store.rollback() is seen')
         -- hot proxies stay proxies for the library
         assert(getmetatable(a) == false)
         local n = 0
         for k in pairs(a) do n = n + 1 end
         assert(n == 2)
         assert(next(a) ~= nil)",
    );
    // A chunk that fails leaves nothing cached that it wrote.
    let err = run_err(
        &v,
        "Memory.users.a.age = 50 assert(Memory.users.a.age == 50) error('x')",
    );
    assert!(err.contains('x'), "{err}");
    run(&v, "assert(Memory.users.a.age == 33)");
}

#[test]
fn a_deleted_table_is_never_answered_from_the_cache() {
    let v = memory_vault();
    run(
        &v,
        "Memory.users = {a = {name = 'Ann', age = 31, tags = {1, 2}}}",
    );
    let err = run_err(
        &v,
        "local a = Memory.users.a
         assert(a.name == 'Ann')
         Memory.users.a = nil
         return a.name",
    );
    assert!(err.contains("no longer exists"), "{err}");
}

#[test]
fn table_library_sees_hot_proxies_as_external_tables() {
    let v = memory_vault();
    run(
        &v,
        "Memory.list = {{n = 1}, {n = 2}, {n = 3}}
         local l = Memory.list
         assert(l[1].n == 1 and l[2].n == 2)   -- l and its records are hot
         local first = l[1]
         table.insert(l, 1, {n = 0})            -- a move, not copies
         assert(#l == 4 and l[1].n == 0 and l[2] == first and first.n == 1)
         table.sort(l, function(x, y) return x.n > y.n end)
         assert(l[1].n == 3 and l[4].n == 0 and first.n == 1)
         local r = table.remove(l, 1)
         assert(r.n == 3 and #l == 3 and l[1].n == 2)",
    );
}

#[test]
fn many_records_read_in_one_chunk_stay_correct_past_the_bounds() {
    let v = memory_vault();
    run(
        &v,
        "Memory.users = {}
         for i = 1, 3000 do Memory.users[i] = {name = 'u' .. i, age = i % 50} end",
    );
    run(
        &v,
        "local s = 0
         for round = 1, 2 do
           for i = 1, 3000 do
             local u = Memory.users[i]
             assert(u.name == 'u' .. i)
             s = s + u.age
           end
         end
         local expect = 0
         for i = 1, 3000 do expect = expect + i % 50 end
         assert(s == 2 * expect)",
    );
}

#[test]
fn reads_on_a_full_heap_never_leave_a_stale_value_cached() {
    // Near the heap limit, some reads fail, and some succeed while the
    // cache cannot take their values (proxy/cache.rs empties itself then).
    // Either way, no proxy may keep answering from values a later write
    // replaced.
    let v = memory_vault();
    run(
        &v,
        "Memory.recs = {}
         for i = 1, 300 do Memory.recs[i] = {a = i, b = 'r' .. i} end",
    );
    run(
        &v,
        "local hog, proxies, read, failed = {}, {}, 0, 0
         -- Everything the loop below does outside its pcall is allocated
         -- before the heap fills: the reader function, every slot of
         -- `proxies` (an allocation there would fail the chunk itself).
         local function read_one(i)
           local p = Memory.recs[i]
           assert(p.a == i and p.b == 'r' .. i)
           return p
         end
         for i = 1, 300 do proxies[i] = false end
         pcall(function()
           while true do hog[#hog + 1] = string.rep('x', 200) .. #hog end
         end)
         for i = 1, 300 do
           local ok, p = pcall(read_one, i)
           if ok then proxies[i] = p; read = read + 1 else failed = failed + 1 end
           -- a little room at a time: the next reads fail at different points
           hog[#hog] = nil
           if i % 3 == 0 then hog[#hog] = nil end
         end
         hog = nil
         collectgarbage()
         assert(read > 0 and failed > 0, ('read %d, failed %d'):format(read, failed))
         for i = 1, 300 do Memory.recs[i].a = -i end
         for i = 1, 300 do
           local p = proxies[i]
           if p then assert(p.a < 0, 'a stale cached value') end
         end
         for i = 1, 300 do assert(Memory.recs[i].a == -i) end",
    );
}
