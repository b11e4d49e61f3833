-- Events already applied (see platform::consumer::first_delivery).
CREATE TABLE processed_events (
    event_id     UUID PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Order outcomes per UTC day: confirmed and rejected on the day they happened, cancelled on the
-- day of the cancellation.
CREATE TABLE daily_orders (
    day       DATE PRIMARY KEY,
    confirmed BIGINT NOT NULL DEFAULT 0,
    rejected  BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0
);

-- Revenue of the orders placed each UTC day that still stand (a cancellation takes its total
-- off the day the order was placed), per currency.
CREATE TABLE daily_revenue (
    day      DATE NOT NULL,
    currency CHAR(3) NOT NULL,
    cents    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
);

-- Each item's latest known stock, from stock_changed / low_stock (newest version wins).
CREATE TABLE items (
    item_id   TEXT PRIMARY KEY,
    name      TEXT,
    stock     BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    version   BIGINT NOT NULL
);

-- Each item's latest price, from price_changed (newest version wins).
CREATE TABLE prices (
    item_id     TEXT PRIMARY KEY,
    price_cents BIGINT NOT NULL,
    currency    CHAR(3) NOT NULL,
    version     BIGINT NOT NULL
);
