-- A small to-do app on the store, driven by arguments:
--   moonvault run examples/12_todo_app.lua -- add "buy milk"
--   moonvault run examples/12_todo_app.lua -- done 1
--   moonvault run examples/12_todo_app.lua -- list
-- (With no arguments it runs a short demo.)

Memory.todo = Memory.todo or {items = {}, next_id = 1}
local todo = Memory.todo
if store.schema("todo.items") == nil then
  store.schema("todo.items", {text = {type = "string", required = true}, done = {type = "boolean"}})
  store.index("todo.items", "done")
end

local commands = {}
function commands.add(text)
  assert(text, "usage: add TEXT")
  local id = todo.next_id
  todo.items[id] = {text = text, done = false, created = os.time()}
  todo.next_id = id + 1
  print(("added #%d: %s"):format(id, text))
end
function commands.done(id)
  local item = todo.items[tonumber(id)]
  if not item then error("no item #" .. tostring(id)) end
  item.done = true
  print(("done #%s: %s"):format(id, item.text))
end
function commands.list()
  local open = store.query("todo.items"):where("done", "=", false)
  print(("%d open, %d done"):format(open:count(), store.query("todo.items"):where("done", "=", true):count()))
  for id, item in open:order_by("created") do print(("  #%d %s"):format(id, item.text)) end
end

local cmd = arg[1]
if cmd then
  local f = commands[cmd] or error("unknown command " .. cmd .. " (add, done, list)")
  f(select(2, ...))
else
  commands.add("write the report")
  commands.add("water the plants")
  commands.done(todo.next_id - 2)
  commands.list()
end
