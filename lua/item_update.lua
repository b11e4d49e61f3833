-- item_update: an admin change of stock (absolute), name and/or threshold. Each may be '' to
-- keep the current value. Changing stock changes `provisioned` by the same amount (a restock or
-- a write-off), so conservation holds. An admin change that leaves stock at or above the
-- threshold arms low_stock again.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] name or '', ARGV[7] stock or '', ARGV[8] threshold or ''
-- Replies: updated | unknown_item
if redis.call('EXISTS', ITEM) == 0 then
  return reply('unknown_item')
end
local back = reclaim()
local delta = back
if ARGV[7] ~= '' then
  local old = tonumber(redis.call('HGET', ITEM, 'stock'))
  local new = tonumber(ARGV[7])
  redis.call('HSET', ITEM, 'stock', new)
  redis.call('HINCRBY', ITEM, 'provisioned', new - old)
  delta = delta + new - old
end
if ARGV[6] ~= '' then redis.call('HSET', ITEM, 'name', ARGV[6]) end
if ARGV[8] ~= '' then redis.call('HSET', ITEM, 'threshold', tonumber(ARGV[8])) end
changed('adjusted', delta, true)
return reply('updated')
