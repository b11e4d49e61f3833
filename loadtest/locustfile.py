"""Locust load test for SIOMS, through the public gateway.

The mix
-------
``Shopper`` (about 20 of every 21 users) behaves like a customer of the shop:

* browses the catalog a page at a time (``GET /items?limit=&cursor=``, following
  ``next_cursor``), and remembers which items it has seen;
* looks at an item (``GET /items/{id}``, ``GET /price/{id}``, now and then
  ``GET /inventory/{id}`` and ``GET /price/{id}/history``), scans ``GET /prices`` and checks
  stock (``GET /items/{id}/check?quantity=N``);
* places orders (``POST /orders``) for the demo items (widget, gadget, gizmo) and the
  operator's load items it has seen in the catalog, each with a fresh ``Idempotency-Key``
  (uuid4). On a transport error or a 5xx it retries once with the same key (reported as
  "/orders (retry)"); now and then it replays a key on purpose and checks that the answer is
  the same order ("/orders (replay)");
* reads its own orders back (``GET /orders/{id}``) and checks their status, lists the newest
  orders (``GET /orders?limit=``), cancels about 10% of its confirmed orders
  (``POST /orders/{id}/cancel``; sometimes twice, like a double click, expecting 409 the second
  time);
* reads the reports (``GET /report/orders``, ``GET /report/low-stock``) and the notifications
  (``GET /notifications?kind=&limit=``) occasionally.

``Operator`` (about 1 of every 21 users) is the shop's admin: on start it makes sure its load
items ``load-item-0``..``load-item-<N-1>`` exist with a price (``PUT /price/{id}`` first, then
``POST /items``; 409 there means the item exists already), then periodically restocks them
(``PUT /items/{id}`` with a high absolute stock), nudges a price by a few percent and glances at
the low-stock report. The demo items are never restocked: once they run out their orders become
409 (short stock), which is a normal outcome of this API.

Expected outcomes are successes: 201 for an order, 409 short stock for an order (the order is
recorded as rejected), 409 for a second cancel. Everything else outside 2xx is a failure with a
message that says what it was; a 429 (the gateway's rate limit on POST /orders, per client
address) is reported as "429 rate limited by the gateway". URLs with ids are grouped under
templates ("/orders/{id}", ...) so the report has one row per route.

Environment
-----------
``ADMIN_TOKEN``  the bearer token of the admin routes (the Operator's). When unset, it is read
                 from the repository's ``.env``, else ``.env.example`` (local-dev-admin-token).
``LOAD_ITEMS``   how many load items the Operator keeps (default 10: load-item-0..load-item-9).

Running it
----------
``scripts/load.sh [users] [duration] [gateway URL]`` installs Locust and runs this headless,
with an HTML report in ``.stack/loadtest/``. By hand, with Locust installed::

    ADMIN_TOKEN=local-dev-admin-token locust -f loadtest/locustfile.py \\
        --host http://127.0.0.1:8080 --headless -u 50 -r 10 -t 1m

(without ``--headless`` Locust serves its web UI on http://localhost:8089). The gateway limits
POST /orders to a rate per client address (200/s, burst 400 locally) and all users of one
Locust process share an address, so keep the user count modest or expect 429s.
"""

import os
import random
import uuid
from pathlib import Path

from locust import HttpUser, between, events, task

# --- Settings -----------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent

# The demo catalog that `make up` (scripts/seed-demo.sh) creates, with prices.
SEEDED_ITEMS = ["widget", "gadget", "gizmo"]

# The Operator's own items; their stock is topped up to RESTOCK_LEVEL periodically.
LOAD_ITEM_COUNT = int(os.environ.get("LOAD_ITEMS", "10"))
LOAD_ITEMS = [f"load-item-{i}" for i in range(LOAD_ITEM_COUNT)]
INITIAL_STOCK = 2000
RESTOCK_LEVEL = 5000

# Everything a Shopper may order; it orders only those it has actually seen in the catalog.
ORDERABLE = set(SEEDED_ITEMS) | set(LOAD_ITEMS)

# Seconds before a request is given up (a transport error, retried once for orders).
TIMEOUT = 10

NOTIFICATION_KINDS = ["low_stock", "order_confirmed", "order_cancelled", "price_changed"]

CANCEL_SHARE = 0.10  # of confirmed orders
DOUBLE_CANCEL_SHARE = 0.20  # of cancellations: a second cancel, which must be a 409
REPLAY_SHARE = 0.03  # of orders: the same Idempotency-Key sent again on purpose
MAX_REMEMBERED_ORDERS = 200  # per shopper, for reading back


def admin_token():
    """ADMIN_TOKEN from the environment, else from .env, else from .env.example."""
    token = os.environ.get("ADMIN_TOKEN")
    if token:
        return token
    for name in (".env", ".env.example"):
        path = REPO_ROOT / name
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.startswith("ADMIN_TOKEN="):
                    return line.split("=", 1)[1].strip().strip("'\"")
    return ""


ADMIN_HEADERS = {"Authorization": f"Bearer {admin_token()}"}


# --- A small tally of business outcomes, printed when the test stops -----------------------

# Locust's users are greenlets in one thread, so plain increments are safe.
_tally = {"confirmed": 0, "rejected (short stock)": 0, "cancelled": 0, "retried": 0, "replayed": 0}


def count(outcome):
    _tally[outcome] += 1


@events.test_stop.add_listener
def print_tally(**_kwargs):
    summary = ", ".join(f"{n} {k}" for k, n in _tally.items())
    print(f"SIOMS orders: {summary}")


# --- Helpers ------------------------------------------------------------------------------


def json_body(response):
    """The decoded JSON body, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def problem_type(response):
    """The `type` of a problem+json answer ("" when there is none)."""
    body = json_body(response)
    return body.get("type", "") if isinstance(body, dict) else ""


def fail_unexpected(response, what="unexpected status"):
    """Marks a response as a failure with a message that says what went wrong."""
    if response.status_code == 0:
        # e.g. "transport error: ReadTimeout": the exception's name keeps the failure rows short
        response.failure(f"transport error: {type(response.error).__name__}")
    elif response.status_code == 429:
        response.failure("429 rate limited by the gateway")
    elif response.status_code >= 500:
        response.failure(f"{response.status_code} server error ({problem_type(response) or 'no problem type'})")
    else:
        response.failure(f"{response.status_code} {what} ({problem_type(response) or 'no problem type'})")


def expect_json(response, key):
    """A 200 whose JSON body has `key` is a success; anything else a failure. Returns the body."""
    if response.status_code != 200:
        fail_unexpected(response)
        return None
    body = json_body(response)
    if not isinstance(body, dict) or key not in body:
        response.failure(f"200 without '{key}' in the body")
        return None
    response.success()
    return body


def transient(response):
    """A transport error or a 5xx: worth one retry with the same Idempotency-Key."""
    return response.status_code == 0 or response.status_code >= 500


# --- Users --------------------------------------------------------------------------------


class Shopper(HttpUser):
    """A customer: browses, checks, orders, reads back and sometimes cancels its orders."""

    weight = 20
    wait_time = between(0.5, 2.5)
    host = "http://127.0.0.1:8080"

    def on_start(self):
        self.known_items = set()  # orderable items seen in the catalog
        self.orders = {}  # order id -> the status this shopper expects it to have
        self.browse_catalog()

    # Browsing ---------------------------------------------------------------------------

    @task(5)
    def browse_catalog(self):
        """Reads the catalog a page at a time, following next_cursor for a few pages."""
        cursor = None
        for _ in range(random.randint(1, 4)):
            params = {"limit": 5}
            if cursor:
                params["cursor"] = cursor
            with self.client.get("/items", params=params, name="/items", timeout=TIMEOUT,
                                 catch_response=True) as r:
                body = expect_json(r, "items")
            if body is None:
                return
            self.known_items.update(i["id"] for i in body["items"] if i.get("id") in ORDERABLE)
            cursor = body.get("next_cursor")
            if not cursor:
                return

    @task(4)
    def view_item(self):
        """An item's page: its stock and price, sometimes its raw stock and price history."""
        item = self.pick_item()
        if item is None:
            return
        with self.client.get(f"/items/{item}", name="/items/{id}", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "stock")
        with self.client.get(f"/price/{item}", name="/price/{id}", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "price_cents")
        if random.random() < 0.3:
            with self.client.get(f"/inventory/{item}", name="/inventory/{id}", timeout=TIMEOUT,
                                 catch_response=True) as r:
                expect_json(r, "stock")
        if random.random() < 0.2:
            with self.client.get(f"/price/{item}/history", name="/price/{id}/history",
                                 timeout=TIMEOUT, catch_response=True) as r:
                expect_json(r, "history")

    @task(1)
    def browse_prices(self):
        with self.client.get("/prices", params={"limit": 10}, name="/prices", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "prices")

    @task(2)
    def check_stock(self):
        item = self.pick_item()
        if item is None:
            return
        with self.client.get(f"/items/{item}/check", params={"quantity": random.randint(1, 5)},
                             name="/items/{id}/check", timeout=TIMEOUT, catch_response=True) as r:
            expect_json(r, "available")

    # Ordering ---------------------------------------------------------------------------

    @task(4)
    def place_order(self):
        """An order with a fresh Idempotency-Key; one retry with that key on a transient error."""
        item = self.pick_item()
        if item is None:
            return
        body = {"item_id": item, "quantity": random.choice([1, 1, 1, 1, 2, 2, 3, 5])}
        key = str(uuid.uuid4())
        outcome = self.post_order(body, key, "/orders")
        if outcome is None:
            return
        if outcome == "retry":
            count("retried")
            outcome = self.post_order(body, key, "/orders (retry)")
            if outcome in (None, "retry"):
                return
        order_id, status = outcome
        self.orders[order_id] = status
        if len(self.orders) > MAX_REMEMBERED_ORDERS:
            del self.orders[next(iter(self.orders))]  # forget the oldest
        if random.random() < REPLAY_SHARE:
            self.replay_order(body, key, order_id, status)
        if status == "confirmed" and random.random() < CANCEL_SHARE:
            self.cancel(order_id)

    def post_order(self, body, key, name):
        """Sends one POST /orders. Returns (order id, status), "retry" for a transient error,
        or None for any other failure (already recorded as such)."""
        with self.client.post("/orders", json=body, headers={"Idempotency-Key": key}, name=name,
                              timeout=TIMEOUT, catch_response=True) as r:
            data = json_body(r)
            if r.status_code == 201:
                if not isinstance(data, dict) or data.get("status") != "confirmed" or "id" not in data:
                    r.failure("201 without a confirmed order in the body")
                    return None
                r.success()
                count("confirmed")
                return data["id"], "confirmed"
            if r.status_code == 409 and problem_type(r).endswith(":insufficient-stock"):
                # Short stock: a normal answer; the order is recorded as rejected.
                r.success()
                count("rejected (short stock)")
                order_id = data.get("order_id") if isinstance(data, dict) else None
                return (order_id, "rejected") if order_id else None
            if r.status_code == 409:
                fail_unexpected(r, "conflict")  # e.g. request-in-progress on a retry
                return None
            fail_unexpected(r)
            return "retry" if transient(r) else None

    def replay_order(self, body, key, order_id, status):
        """Sends an order again with its key: the same order must come back, not a new one."""
        count("replayed")
        with self.client.post("/orders", json=body, headers={"Idempotency-Key": key},
                              name="/orders (replay)", timeout=TIMEOUT,
                              catch_response=True) as r:
            data = json_body(r)
            if r.status_code not in (201, 409):
                fail_unexpected(r)
                return
            got = (data.get("id") or data.get("order_id")) if isinstance(data, dict) else None
            if got != order_id:
                r.failure(f"replay answered order {got}, not {order_id}")
            elif (r.status_code == 201) != (status == "confirmed"):
                r.failure(f"replay answered {r.status_code} for a {status} order")
            else:
                r.success()

    @task(3)
    def read_my_order(self):
        """Reads back one of this shopper's orders and checks it has the expected status."""
        if not self.orders:
            return
        order_id = random.choice(list(self.orders))
        expected = self.orders[order_id]
        with self.client.get(f"/orders/{order_id}", name="/orders/{id}", timeout=TIMEOUT,
                             catch_response=True) as r:
            body = expect_json(r, "status")
            if body is not None and body["status"] != expected:
                r.failure(f"order is {body['status']}, expected {expected}")

    @task(1)
    def list_orders(self):
        with self.client.get("/orders", params={"limit": 10}, name="/orders", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "orders")

    def cancel(self, order_id):
        """Cancels a confirmed order; sometimes twice (a double click): the second is a 409."""
        with self.client.post(f"/orders/{order_id}/cancel", name="/orders/{id}/cancel",
                              timeout=TIMEOUT, catch_response=True) as r:
            body = expect_json(r, "status")
            if body is None:
                return
            if body["status"] != "cancelled":
                r.failure(f"cancel answered status {body['status']}")
                return
        self.orders[order_id] = "cancelled"
        count("cancelled")
        if random.random() < DOUBLE_CANCEL_SHARE:
            with self.client.post(f"/orders/{order_id}/cancel", name="/orders/{id}/cancel (again)",
                                  timeout=TIMEOUT, catch_response=True) as r:
                if r.status_code == 409:
                    r.success()  # already cancelled: the expected answer
                else:
                    fail_unexpected(r, "for a second cancel (expected 409)")

    # Reports ----------------------------------------------------------------------------

    @task(1)
    def read_reports(self):
        with self.client.get("/report/orders", name="/report/orders", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "confirmed")
        if random.random() < 0.5:
            with self.client.get("/report/low-stock", name="/report/low-stock", timeout=TIMEOUT,
                                 catch_response=True) as r:
                expect_json(r, "items")

    @task(1)
    def read_notifications(self):
        params = {"limit": 10}
        if random.random() < 0.7:
            params["kind"] = random.choice(NOTIFICATION_KINDS)
        with self.client.get("/notifications", params=params, name="/notifications",
                             timeout=TIMEOUT, catch_response=True) as r:
            expect_json(r, "notifications")

    # -------------------------------------------------------------------------------------

    def pick_item(self):
        """An orderable item this shopper has seen in the catalog (None before it has seen any)."""
        return random.choice(sorted(self.known_items)) if self.known_items else None


class Operator(HttpUser):
    """The shop's admin: keeps the load items in stock and adjusts their prices."""

    weight = 1
    wait_time = between(3, 8)
    host = "http://127.0.0.1:8080"

    def on_start(self):
        self.base_price = {}  # item -> its starting price in cents
        for i, item in enumerate(LOAD_ITEMS):
            cents = 500 + 250 * i
            self.base_price[item] = cents
            # The price first: an item that shows in the catalog can then always be ordered.
            self.set_price(item, cents)
            with self.client.post("/items", headers=ADMIN_HEADERS, name="/items (create)",
                                  json={"id": item, "name": f"Load item {i}", "stock": INITIAL_STOCK},
                                  timeout=TIMEOUT, catch_response=True) as r:
                if r.status_code in (201, 409):  # 409: it exists already, fine
                    r.success()
                else:
                    fail_unexpected(r)
        self.restock()

    @task(3)
    def restock(self):
        """Sets every load item's stock back to a high level."""
        for item in LOAD_ITEMS:
            with self.client.put(f"/items/{item}", headers=ADMIN_HEADERS, name="/items/{id} (restock)",
                                 json={"stock": RESTOCK_LEVEL}, timeout=TIMEOUT,
                                 catch_response=True) as r:
                body = expect_json(r, "stock")
                if body is not None and body["stock"] != RESTOCK_LEVEL:
                    r.failure(f"restock to {RESTOCK_LEVEL} answered stock {body['stock']}")

    @task(2)
    def change_price(self):
        """Moves one load item's price a few percent around its starting price."""
        if not LOAD_ITEMS:
            return
        item = random.choice(LOAD_ITEMS)
        self.set_price(item, round(self.base_price[item] * random.uniform(0.95, 1.05)))

    @task(1)
    def low_stock_report(self):
        with self.client.get("/report/low-stock", name="/report/low-stock", timeout=TIMEOUT,
                             catch_response=True) as r:
            expect_json(r, "items")

    def set_price(self, item, cents):
        with self.client.put(f"/price/{item}", headers=ADMIN_HEADERS, name="/price/{id} (set)",
                             json={"price_cents": cents, "currency": "EUR"}, timeout=TIMEOUT,
                             catch_response=True) as r:
            if r.status_code in (200, 201):  # 201 the first time, 200 after
                r.success()
            else:
                fail_unexpected(r)
