-- outbox_ack: deletes outbox entries the broker has confirmed, and the stream itself once it
-- is empty (so a removed item leaves nothing behind). Not an item script: no prelude.
-- KEYS[1] an item's outbox stream
-- ARGV[1..n] the stream entry ids that were published and confirmed
-- Replies: the number of entries left in the stream
redis.call('XDEL', KEYS[1], unpack(ARGV))
local left = redis.call('XLEN', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1]) end
return left
