-- A package: require("geometry") loads this init module, which requires its
-- submodule by its dotted name.
local vector = require("geometry.vector")
return { vector = vector, origin = vector.new(0, 0) }
