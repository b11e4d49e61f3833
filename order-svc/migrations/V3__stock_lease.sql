-- The stock sync's lease on an order (docs/decisions/0017). A round of the sync leases the
-- orders it works on in one short statement, calls inventory-svc with no transaction open, then
-- records each outcome only where the order's `stock` is still the leased state and the lease is
-- still its own (order-svc/src/store/stock_sync.rs):
--   stock_lease_until  the lease runs out then, by Postgres' clock; NULL when not leased. An
--                      expired lease is free, so the orders of a replica that died mid-round
--                      are taken by another one.
--   stock_lease_owner  the round holding it (a fresh id per round), so a round whose lease ran
--                      out and was taken over neither records nor releases over the new holder.
-- Both nullable without a default: adding them rewrites nothing. No index: the sync finds its
-- candidates through orders_stock_to_sync (only orders whose units are pending, a handful) and
-- filters those on the lease.
ALTER TABLE orders
    ADD COLUMN stock_lease_until TIMESTAMPTZ,
    ADD COLUMN stock_lease_owner UUID;
