-- expire: gives back this item's holds that are past their deadline (the reaper calls it for
-- items with due holds; every other item script does the same first, so no read of stock ever
-- waits for the reaper to be exact).
-- KEYS and ARGV[1..5]: see item_prelude.lua. No further arguments.
-- Replies: ok <units given back> <holds expired> | unknown_item
if redis.call('EXISTS', ITEM) == 0 then return reply('unknown_item') end
local back, count = reclaim()
if back > 0 then changed('expired', back, false) end
return reply('ok', back, count)
