-- cancel: puts the units of a confirmed (sold) reservation back on sale (sold -> stock), when
-- its order is cancelled. Once only: a retry answers 'cancelled' without a second restock.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] reservation id, ARGV[7] quantity (must match)
-- Replies: cancelled <qty> (also on a retry) | unknown_item | unknown_reservation
--        | conflict <state> <qty> | <other state> <qty>
local rid, qty = ARGV[6], tonumber(ARGV[7])
if redis.call('EXISTS', ITEM) == 0 then return reply('unknown_item') end
local back = reclaim()
local state, held_qty = parse_hold(redis.call('HGET', HOLDS, rid))
if state ~= 'confirmed' or held_qty ~= qty then
  if back > 0 then changed('expired', back, false) end
  if not state then return reply('unknown_reservation') end
  if held_qty ~= qty then return reply('conflict', state, held_qty) end
  return reply(state, qty)
end
redis.call('HINCRBY', ITEM, 'stock', qty)
redis.call('HINCRBY', ITEM, 'sold', -qty)
finish_hold(rid, 'cancelled', qty)
changed('cancelled', back + qty, false)
return reply('cancelled', qty)
