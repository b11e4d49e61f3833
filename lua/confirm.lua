-- confirm: turns a live hold into a sale (held -> sold). A hold past its deadline can no
-- longer be confirmed: its stock is already back on sale.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] reservation id, ARGV[7] quantity (must match the hold)
-- Replies: confirmed <qty> (also on a retry) | unknown_item | unknown_reservation
--        | conflict <state> <qty> | <other final state> <qty>
local rid, qty = ARGV[6], tonumber(ARGV[7])
if redis.call('EXISTS', ITEM) == 0 then return reply('unknown_item') end
local back = reclaim()
if back > 0 then changed('expired', back, false) end
local state, held_qty = parse_hold(redis.call('HGET', HOLDS, rid))
if not state then return reply('unknown_reservation') end
if held_qty ~= qty then return reply('conflict', state, held_qty) end
if state ~= 'held' then return reply(state, qty) end
redis.call('HINCRBY', ITEM, 'held', -qty)
redis.call('HINCRBY', ITEM, 'sold', qty)
finish_hold(rid, 'confirmed', qty)
return reply('confirmed', qty)
