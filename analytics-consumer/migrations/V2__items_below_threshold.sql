-- The items below their threshold, indexed by themselves: the low-stock report and the
-- analytics_items_below_threshold gauge read only them, however large the catalog grows.
CREATE INDEX items_below_threshold ON items (stock, item_id) WHERE stock < threshold;
