-- The program itself, also run from the table by the C host.
-- require returns, second, what the searcher that found the module said
-- about where it came from.
local mymod, mymod_from = require("mymod")
print(mymod.greet("world"))

local vector, vector_from = require("geometry.vector")
local geometry, geometry_from = require("geometry")
local v = geometry.vector.new(3, 4) + geometry.origin
print("geometry.vector: " .. tostring(v) .. " has length " .. v:length())
assert(v:length() == 5)
assert(geometry.vector == vector, "one module, loaded once")

print("  mymod            loaded from " .. mymod_from)
print("  geometry.vector  loaded from " .. vector_from)
print("  geometry         loaded from " .. geometry_from)

-- An error inside a module keeps its source name and line, frozen or not.
local _, err = pcall(mymod.fail)
print("  error raised in mymod: " .. err)

-- A missing module lists every place looked (the tables first, if any).
local ok, err2 = pcall(require, "nosuchmod")
assert(not ok)
local looked = {}
for place in err2:gmatch("\n\t([^\n]*)") do looked[#looked + 1] = place end
print("  require('nosuchmod') fails; 2nd place looked: " .. looked[2])
