-- processed_events keeps an event's id for PROCESSED_EVENTS_RETENTION (platform::retention):
-- the retention pass finds the old rows by this index.
-- On a large table, build the index first with CREATE INDEX CONCURRENTLY and this name: the
-- migration then takes it as it is instead of blocking writes while it builds.
CREATE INDEX IF NOT EXISTS processed_events_processed_at ON processed_events (processed_at);
