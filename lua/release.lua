-- release: gives a live hold back (held -> stock), e.g. when the order could not be written.
-- Releasing an id that holds nothing leaves a 'released' record, so a reserve for it that
-- arrives late (a retried or delayed request) is refused instead of holding stock.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] reservation id, ARGV[7] quantity (must match the hold)
-- Replies: released <qty> (also on a retry) | unknown_item | conflict <state> <qty>
--        | <other final state> <qty>
local rid, qty = ARGV[6], tonumber(ARGV[7])
if redis.call('EXISTS', ITEM) == 0 then return reply('unknown_item') end
local back = reclaim()
local state, held_qty = parse_hold(redis.call('HGET', HOLDS, rid))
if not state then
  redis.call('HSET', HOLDS, rid, 'released:' .. qty)
  redis.call('ZADD', DONE, NOW, rid)
  if back > 0 then changed('expired', back, false) end
  return reply('released', qty)
end
if held_qty ~= qty then
  if back > 0 then changed('expired', back, false) end
  return reply('conflict', state, held_qty)
end
if state ~= 'held' then
  if back > 0 then changed('expired', back, false) end
  return reply(state, qty)
end
redis.call('HINCRBY', ITEM, 'stock', qty)
redis.call('HINCRBY', ITEM, 'held', -qty)
finish_hold(rid, 'released', qty)
changed('released', back + qty, false)
return reply('released', qty)
