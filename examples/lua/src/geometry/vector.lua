-- A dotted module: require("geometry.vector").
local V = {}
V.__index = V

function V.new(x, y) return setmetatable({ x = x, y = y }, V) end
function V.__add(a, b) return V.new(a.x + b.x, a.y + b.y) end
function V:length() return math.sqrt(self.x * self.x + self.y * self.y) end
function V:__tostring() return string.format("(%g, %g)", self.x, self.y) end

return V
