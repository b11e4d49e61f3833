-- item_create: adds an item to the catalog.
-- KEYS and ARGV[1..5]: see item_prelude.lua.
-- ARGV[6] name, ARGV[7] initial stock, ARGV[8] low-stock threshold
-- Replies: created | exists
if redis.call('EXISTS', ITEM) == 1 then
  return reply('exists')
end
create_item(ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
changed('created', tonumber(ARGV[7]), true)
return reply('created')
