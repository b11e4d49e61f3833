-- Shared prelude of every item script: SIOMS puts this text in front of each item_*.lua,
-- reserve.lua, confirm.lua, release.lua, cancel.lua and expire.lua before loading it (see
-- inventory-svc/src/store/scripts.rs), so each runs as ONE atomic script.
--
-- Every item script gets the same five keys, all hash-tagged with the item id ("...{id}...")
-- so they share one Redis Cluster slot:
--   KEYS[1] item    hash: name, stock (available now), held, sold, provisioned, threshold,
--                         low_armed (1 = a low_stock event may fire), version
--   KEYS[2] holds   hash: reservation id -> "<state>:<quantity>", state one of
--                         held | confirmed | released | expired | cancelled
--   KEYS[3] expiry  zset: reservation id -> deadline (ms) of each live hold
--   KEYS[4] done    zset: reservation id -> when its record reached a final state (ms)
--   KEYS[5] outbox  stream: events decided here; the relay publishes them, then deletes them
-- and the same leading arguments:
--   ARGV[1] item id
--   ARGV[2] now, in ms since the epoch (the caller's clock, so deadlines are testable)
--   ARGV[3] how long final reservation records are kept (ms), for idempotent retries
--   ARGV[4], ARGV[5] fresh event ids (UUIDs) for the at most two events one call emits
-- Each script answers through reply(): { events emitted, status, details... }, all strings.
--
-- Invariant kept by every script: stock + held + sold = provisioned, and stock >= 0.

local ITEM, HOLDS, EXPIRY, DONE, OUTBOX = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ITEM_ID, NOW, RETENTION = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local EVENT_IDS = { ARGV[4], ARGV[5] }
local emitted = 0

local function reply(...)
  local out = { tostring(emitted) }
  for _, v in ipairs({ ... }) do
    out[#out + 1] = tostring(v)
  end
  return out
end

-- Appends an event to the item's outbox stream, in the same atomic step as the change.
local function emit(kind, data)
  emitted = emitted + 1
  data.item_id = ITEM_ID
  redis.call('XADD', OUTBOX, '*', 'event_id', EVENT_IDS[emitted], 'type', kind,
    'occurred_at_ms', NOW, 'data', cjson.encode(data))
end

local function read_item()
  local v = redis.call('HMGET', ITEM, 'stock', 'held', 'sold', 'provisioned', 'threshold',
    'low_armed', 'version', 'name')
  return {
    stock = tonumber(v[1]), held = tonumber(v[2]), sold = tonumber(v[3]),
    provisioned = tonumber(v[4]), threshold = tonumber(v[5]), low_armed = tonumber(v[6]),
    version = tonumber(v[7]), name = v[8],
  }
end

local function create_item(name, stock, threshold)
  redis.call('HSET', ITEM, 'name', name, 'stock', stock, 'held', 0, 'sold', 0,
    'provisioned', stock, 'threshold', threshold, 'low_armed', 1, 'version', 0)
end

-- "<state>:<quantity>" -> state, quantity (nil, nil when there is no record).
local function parse_hold(record)
  if not record then return nil, nil end
  local state, qty = string.match(record, '^(%a+):(%d+)$')
  return state, tonumber(qty)
end

local function finish_hold(rid, state, qty)
  redis.call('HSET', HOLDS, rid, state .. ':' .. qty)
  redis.call('ZREM', EXPIRY, rid)
  redis.call('ZADD', DONE, NOW, rid)
end

-- Gives back every hold whose deadline has passed, and forgets final records older than the
-- retention. Returns the units given back and the number of holds that expired.
local function reclaim()
  local back, count = 0, 0
  local due = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', NOW, 'LIMIT', 0, 1000)
  for _, rid in ipairs(due) do
    local state, qty = parse_hold(redis.call('HGET', HOLDS, rid))
    if state == 'held' then
      back, count = back + qty, count + 1
      finish_hold(rid, 'expired', qty)
    else
      redis.call('ZREM', EXPIRY, rid)
    end
  end
  if back > 0 then
    redis.call('HINCRBY', ITEM, 'stock', back)
    redis.call('HINCRBY', ITEM, 'held', -back)
  end
  local old = redis.call('ZRANGEBYSCORE', DONE, '-inf', NOW - RETENTION, 'LIMIT', 0, 100)
  if #old > 0 then
    redis.call('HDEL', HOLDS, unpack(old))
    redis.call('ZREM', DONE, unpack(old))
  end
  return back, count
end

-- Records a change: bumps the version, emits stock_changed with the values after it, fires
-- low_stock when available stock is below the threshold while armed (once per crossing), and,
-- when `rearm` (an admin change), arms it again if stock is back at or above the threshold.
local function changed(reason, delta, rearm)
  local version = redis.call('HINCRBY', ITEM, 'version', 1)
  local s = read_item()
  local fire = false
  if s.stock < s.threshold then
    if s.low_armed == 1 then
      redis.call('HSET', ITEM, 'low_armed', 0)
      fire = true
    end
  elseif rearm and s.low_armed ~= 1 then
    redis.call('HSET', ITEM, 'low_armed', 1)
  end
  emit('stock_changed', { reason = reason, delta = delta, name = s.name, stock = s.stock,
    reserved = s.held, threshold = s.threshold, version = version })
  if fire then
    emit('low_stock', { name = s.name, stock = s.stock, threshold = s.threshold,
      version = version })
  end
  return s
end

