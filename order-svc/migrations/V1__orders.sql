-- Orders. `stock` tracks the order's units at inventory-svc, so no path leaks or loses them:
--   none             a rejected order took nothing
--   pending_confirm  written as confirmed; the hold still has to be confirmed at inventory
--   committed        the units are sold
--   pending_return   cancelled; the units still have to go back
--   returned         the units are back on sale
CREATE TABLE orders (
    id               UUID PRIMARY KEY,
    item_id          TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    status           TEXT NOT NULL CHECK (status IN ('confirmed', 'rejected', 'cancelled')),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    total_cents      BIGINT NOT NULL CHECK (total_cents >= 0),
    currency         CHAR(3) NOT NULL,
    reason           TEXT,
    stock            TEXT NOT NULL
        CHECK (stock IN ('none', 'pending_confirm', 'committed', 'pending_return', 'returned')),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
-- Order ids are UUIDv7 (time-ordered): newest first is id order, descending.
CREATE INDEX orders_stock_to_sync ON orders (updated_at)
    WHERE stock IN ('pending_confirm', 'pending_return');

-- Idempotency-Key: the first request's outcome, replayed for retries with the same key and body.
CREATE TABLE idempotency_keys (
    key             TEXT PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    order_id        UUID NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status SMALLINT,
    response_body   JSONB,
    locked_at       TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

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
