-- A plain module: require("mymod").
local M = {}

function M.greet(who)
  return "hello, " .. who .. ", from mymod"
end

function M.fail()
  error("mymod.fail was called")
end

return M
