-- item_delete: removes an item, its holds and its reservation records. The outbox stream stays
-- until the relay has published what is in it (it deletes the stream once empty).
-- KEYS and ARGV[1..5]: see item_prelude.lua. No further arguments.
-- Replies: removed | unknown_item
if redis.call('EXISTS', ITEM) == 0 then
  return reply('unknown_item')
end
local s = read_item()
redis.call('DEL', ITEM, HOLDS, EXPIRY, DONE)
emit('item_removed', { name = s.name, stock = s.stock, reserved = s.held })
return reply('removed')
