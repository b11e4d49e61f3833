-- Current prices, one row per item: integer minor units (cents) and an ISO 4217 currency.
CREATE TABLE prices (
    item_id     TEXT PRIMARY KEY,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    CHAR(3) NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Every price an item ever had, in order.
CREATE TABLE price_history (
    id          BIGSERIAL PRIMARY KEY,
    item_id     TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency    CHAR(3) NOT NULL,
    version     BIGINT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX price_history_by_item ON price_history (item_id, id);

-- The transactional outbox (see platform::outbox).
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    source      TEXT NOT NULL,
    data        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
