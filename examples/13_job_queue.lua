-- A job queue: a list of records in the store, used with table.insert,
-- table.remove and table.sort exactly as with a plain list. Records move
-- with their identity, so a reference held across a sort still points at
-- the same job.

Memory.queue = {}
local queue = Memory.queue
for i, name in ipairs({"resize images", "send mail", "rebuild index", "backup", "report"}) do
  table.insert(queue, {name = name, priority = (i * 3) % 5, tries = 0})
end

local mail = queue[2]
table.sort(queue, function(a, b)
  if a.priority ~= b.priority then return a.priority > b.priority end
  return a.name < b.name
end)
print("by priority:")
for i, job in ipairs(queue) do print(("  %d. [%d] %s"):format(i, job.priority, job.name)) end
print("the reference taken before sorting still names:", mail.name)

-- Urgent work jumps the queue.
table.insert(queue, 1, {name = "fix outage", priority = 9, tries = 0})

-- Take jobs from the front; a removed job comes back as a plain table.
while #queue > 3 do
  local job = table.remove(queue, 1)
  job.tries = job.tries + 1        -- a plain copy: the store is not touched
  print(("ran %-14s (priority %d)"):format(job.name, job.priority))
end
print("left:", #queue, "first:", queue[1].name)
assert(#queue == 3 and mail.name == "send mail")
