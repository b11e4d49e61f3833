-- reserve: holds `quantity` units of one item for a reservation, until the deadline.
-- Idempotent by reservation id: a retry answers what the first call did.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] reservation id, ARGV[7] quantity (>= 1), ARGV[8] hold time (ms),
-- ARGV[9] stock for an unknown item ('' = an unknown item is refused), ARGV[10] its threshold
-- Replies: held <qty> <deadline ms> <stock after> <new|replay>
--        | insufficient <stock> | unknown_item | conflict <state> <qty>
--        | <final state> <qty>   (confirmed, released, expired, cancelled: a retry of a closed one)
local rid, qty, ttl = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
if not qty or qty < 1 then
  return redis.error_reply('quantity must be a positive integer')
end
if redis.call('EXISTS', ITEM) == 0 then
  if ARGV[9] == '' then return reply('unknown_item') end
  create_item(ITEM_ID, tonumber(ARGV[9]), tonumber(ARGV[10]))
end
local back = reclaim()
local state, held_qty = parse_hold(redis.call('HGET', HOLDS, rid))
if state then
  if back > 0 then changed('expired', back, false) end
  if held_qty ~= qty then return reply('conflict', state, held_qty) end
  if state == 'held' then
    return reply('held', qty, redis.call('ZSCORE', EXPIRY, rid), redis.call('HGET', ITEM, 'stock'),
      'replay')
  end
  return reply(state, qty)
end
local stock = tonumber(redis.call('HGET', ITEM, 'stock'))
if stock < qty then
  if back > 0 then changed('expired', back, false) end
  return reply('insufficient', stock)
end
redis.call('HINCRBY', ITEM, 'stock', -qty)
redis.call('HINCRBY', ITEM, 'held', qty)
redis.call('HSET', HOLDS, rid, 'held:' .. qty)
redis.call('ZADD', EXPIRY, NOW + ttl, rid)
local after = changed('reserved', back - qty, false)
return reply('held', qty, NOW + ttl, after.stock, 'new')
