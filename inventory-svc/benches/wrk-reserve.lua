-- wrk script for the reservation benchmark: every request reserves one unit of the item
-- "bench" under a reservation id no other request uses (thread tag + counter).
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tag", "t" .. threads .. "-" .. math.random(1000000000))
end

function request()
  counter = counter + 1
  local body = '{"reservation_id":"' .. tag .. '-' .. counter ..
    '","lines":[{"item_id":"bench","quantity":1}]}'
  return wrk.format("POST", "/reserve", { ["Content-Type"] = "application/json" }, body)
end
