-- wrk script of scripts/bench/scale.sh: POST /orders for one unit of an item picked at random,
-- per request, among `count` items named <prefix><number>, the number zero-padded to `width`
-- digits and drawn uniformly from 1..count (bench-scale-0000001 .. bench-scale-1000000).
--
-- Arguments, after wrk's `--`: prefix count width. Every id must exist with a price and stock
-- (scale.sh creates them), so every answer should be a 201.
--
-- Each wrk thread has its own Lua state and so its own generator: setup() gives each thread a
-- number that init() mixes into the seed, or every thread would order the same items in the
-- same sequence.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  prefix = args[1]
  count = tonumber(args[2])
  id_format = "%s%0" .. tonumber(args[3]) .. "d"
  if not prefix or not count or count < 1 then
    error("usage: wrk ... -s scale.lua <url> -- <prefix> <count> <width>")
  end
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local id = string.format(id_format, prefix, math.random(count))
  return wrk.format(nil, nil, nil, '{"item_id":"' .. id .. '","quantity":1}')
end
