-- Which process incarnation (see order-svc/src/incarnation.rs) claimed an in-flight key. That
-- process holds a Postgres advisory lock on this number for as long as it lives, so a retry can
-- tell at once that the claim's owner is gone and take the key over, instead of waiting for
-- IDEMPOTENCY_STALE_AFTER. NULL for claims made before this column existed.
ALTER TABLE idempotency_keys ADD COLUMN owner BIGINT;
