-- idempotency_keys keeps a key for IDEMPOTENCY_KEY_RETENTION after its first request
-- (platform::retention): the retention pass finds the old keys by this index.
-- On a large table, build the index first with CREATE INDEX CONCURRENTLY and this name: the
-- migration then takes it as it is instead of blocking writes while it builds.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
