//! `Checkout`: placing and cancelling orders, the one place that decides the order of the steps
//! and what undoes what.
//!
//! Placing an order:
//!
//! 1. claim the `Idempotency-Key` (if any): a finished request's answer is replayed, a
//!    different body is a 422, a request still in flight in a live process is waited for (then
//!    409). A claim whose process is gone is taken over at once, and the hold it may have left
//!    is released first (see [`crate::incarnation`]);
//! 2. quote the price: from the [`crate::price_book`] when it holds a fresh one, else at
//!    pricing-svc (an unpriced item is a 422, an unknown one a 404);
//! 3. reserve the units at inventory-svc under the order id (short stock: the order is written
//!    as `rejected` with an `order_rejected` event, and answered 409);
//! 4. write the order as `confirmed` with its `order_created` event (and the keyed response) in
//!    one transaction; if that fails, release the hold and answer 503: no stock leaks, and if
//!    this process dies first, the hold expires by itself (or a retry releases it). The write
//!    only happens while this request still owns its key: one whose claim was taken over
//!    writes nothing, releases its hold and answers what the new owner answers;
//! 5. answer 201, and hand the order to [`crate::confirmations`], which confirms its hold at
//!    inventory-svc after the answer, in a batch with others. If that fails the order stays
//!    `pending_confirm` and [`crate::stock_sync`] confirms it later; should the hold have run
//!    out meanwhile, the order is cancelled with an `order_cancelled` event, so no order is
//!    ever confirmed without its stock.

use std::time::Duration;

use actix_web::http::StatusCode;
use platform::{
    problem::{Problem, ProblemKind},
    reservation::{Action, HoldState},
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    clients::{CallError, InventoryClient, PricingClient, Reservation, Settlement, ToSettle},
    domain::{ItemId, Order, OrderRequest, OrderStatus, Quote},
    group_commit::GroupCommit,
    price_book::PriceBook,
    store::{Finished, KeyClaim, KeyedAnswer, NewOrder, OrderStore, StockState},
};

/// An answer to `POST /orders`: its status, body and the order it is about (for `Location`).
#[derive(Debug, Clone)]
pub struct Placed {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body (an order, or a problem).
    pub body: Value,
    /// The order the answer is about, if one was recorded.
    pub order_id: Option<Uuid>,
}

impl Placed {
    fn problem(problem: &Problem, order_id: Option<Uuid>) -> Self {
        Self {
            status: StatusCode::from_u16(problem.status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: serde_json::to_value(problem).unwrap_or(Value::Null),
            order_id,
        }
    }
}

/// One attempt at placing an order under a claimed key.
enum Attempt {
    /// The request's answer.
    Answered(Placed),
    /// Nothing was written: the key was taken over meanwhile; the new owner answers.
    Superseded,
}

/// Everything placing an order needs.
pub struct Checkout {
    /// Orders in Postgres.
    pub store: OrderStore,
    /// Writes new orders, together with those written at the same moment.
    pub writes: GroupCommit,
    /// pricing-svc.
    pub pricing: PricingClient,
    /// The prices quoted lately, kept fresh by `price_changed`.
    pub prices: std::sync::Arc<PriceBook>,
    /// inventory-svc.
    pub inventory: InventoryClient,
    /// How long a retry waits for the first request with its key.
    pub idempotency_wait: Duration,
    /// When an unfinished key may be taken over although its owner seems alive.
    pub idempotency_stale_after: Duration,
    /// This process's incarnation number, recorded in the keys it claims.
    pub incarnation: i64,
    /// Wakes the outbox relay after a commit.
    pub relay_waker: std::sync::Arc<tokio::sync::Notify>,
    /// Takes the orders written with their units held, to confirm the holds after the answer.
    pub confirmations: crate::confirmations::Confirmations,
}

fn in_progress() -> Problem {
    Problem::of(
        ProblemKind::RequestInProgress,
        "a request with this Idempotency-Key is still being handled; retry in a moment",
    )
}

fn dependency_problem(e: &CallError) -> Problem {
    tracing::warn!(error = %e, "dependency call failed");
    Problem::unavailable(format!(
        "{e}; no order was placed and no stock was taken; retry shortly"
    ))
}

impl Checkout {
    /// Places an order; `key` is the request's `Idempotency-Key`, if any.
    pub async fn place(
        &self,
        request: &OrderRequest,
        key: Option<&str>,
        request_id: &str,
    ) -> Result<Placed, Problem> {
        let Some(key) = key else {
            return match self
                .place_new(Uuid::now_v7(), request, None, request_id)
                .await?
            {
                Attempt::Answered(placed) => Ok(placed),
                // Only a keyed request can lose its key.
                Attempt::Superseded => Err(in_progress()),
            };
        };
        let fingerprint = request.fingerprint();
        let deadline = tokio::time::Instant::now() + self.idempotency_wait;
        loop {
            let claim = self
                .store
                .claim_key(
                    key,
                    &fingerprint,
                    Uuid::now_v7(),
                    self.incarnation,
                    self.idempotency_stale_after,
                )
                .await?;
            match claim {
                KeyClaim::Owned { order_id, previous } => {
                    if let Some(abandoned) = previous {
                        // Its request may have reserved before its process died: give that
                        // back now rather than when the hold expires (a release of nothing
                        // also fences a reserve still on its way).
                        tracing::info!(%abandoned, %order_id, "took over an Idempotency-Key whose request never finished");
                        self.release(abandoned, &request.item_id, request.quantity, request_id)
                            .await;
                    }
                    let attempt = self
                        .place_new(order_id, request, Some(key), request_id)
                        .await;
                    let placed = match attempt {
                        Ok(Attempt::Superseded) => continue,
                        Ok(Attempt::Answered(placed)) => Ok(placed),
                        Err(problem) => Err(problem),
                    };
                    if placed.as_ref().map_or(true, |p| p.status.is_server_error()) {
                        // A passing failure: let a retry with this key start afresh.
                        if let Err(e) = self.store.release_key(key, order_id).await {
                            tracing::warn!(error = %e, "cannot release an idempotency key; a retry takes it over");
                        }
                    }
                    return placed;
                }
                KeyClaim::Done {
                    status,
                    body,
                    order_id,
                } => {
                    metrics::counter!("order_idempotent_replays_total").increment(1);
                    return Ok(Placed {
                        status: StatusCode::from_u16(status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        body,
                        order_id: Some(order_id),
                    });
                }
                KeyClaim::Mismatch => {
                    return Err(Problem::of(
                        ProblemKind::IdempotencyKeyReused,
                        "this Idempotency-Key was used with another body; use a new key for a new order",
                    ));
                }
                KeyClaim::InFlight if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                KeyClaim::InFlight => return Err(in_progress()),
            }
        }
    }

    /// Steps 2–5 for a fresh order id.
    async fn place_new(
        &self,
        order_id: Uuid,
        request: &OrderRequest,
        key: Option<&str>,
        request_id: &str,
    ) -> Result<Attempt, Problem> {
        let item = &request.item_id;
        let quantity = request.quantity;
        let quote = match self.quote(item, request_id).await {
            Ok(Some(q)) => q,
            Ok(None) => return self.refuse_unpriced(order_id, item, key, request_id).await,
            Err(e) => return Err(dependency_problem(&e)),
        };
        let now = platform::event::now_micros();
        let order = Order {
            id: order_id,
            item_id: item.clone(),
            quantity: quantity.get(),
            status: OrderStatus::Confirmed,
            unit_price_cents: quote.price_cents,
            total_cents: total(&quote, quantity.get())?,
            currency: quote.currency.clone(),
            reason: None,
            created_at: now,
            updated_at: now,
        };

        let started = std::time::Instant::now();
        let reservation = self
            .inventory
            .reserve(order_id, item, quantity, request_id)
            .await;
        metrics::histogram!("order_reservation_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match reservation {
            Ok(Reservation::Held) => {}
            Ok(Reservation::Insufficient { available }) => {
                return self.reject(order, available, key).await;
            }
            Ok(Reservation::UnknownItem) => {
                return self
                    .finish_without_order(order_id, unknown_item(item), key)
                    .await;
            }
            Ok(Reservation::Refused(detail)) => {
                tracing::error!(%order_id, %detail, "inventory refused a fresh reservation id");
                return Err(Problem::unavailable(
                    "the reservation could not be made; retry",
                ));
            }
            Err(e) => {
                // The reserve may have happened without our hearing: give it back (a release
                // of nothing also fences a late reserve).
                self.release(order_id, item, quantity, request_id).await;
                return Err(dependency_problem(&e));
            }
        }

        let body = serde_json::to_value(&order).map_err(|e| Problem::internal(&e.into()))?;
        let keyed = key.map(|k| KeyedAnswer {
            key: k.to_owned(),
            status: StatusCode::CREATED.as_u16(),
            body: body.clone(),
        });
        let written = self
            .writes
            .write(NewOrder {
                order,
                stock: StockState::PendingConfirm,
                keyed,
            })
            .await;
        match written {
            Ok(Finished::Written) => {}
            Ok(Finished::ClaimLost) => {
                tracing::warn!(%order_id, "the Idempotency-Key was taken over meanwhile; giving back this attempt's stock");
                self.release(order_id, item, quantity, request_id).await;
                return Ok(Attempt::Superseded);
            }
            Err(e) => {
                tracing::error!(%order_id, error = %e, "cannot write a confirmed order; releasing its stock");
                self.release(order_id, item, quantity, request_id).await;
                metrics::counter!("orders_total", "outcome" => "failed").increment(1);
                return Err(Problem::unavailable(
                    "the order could not be recorded; no stock was taken; retry shortly",
                ));
            }
        }
        self.relay_waker.notify_one();
        metrics::counter!("orders_total", "outcome" => "confirmed").increment(1);

        self.confirmations.written(ToSettle {
            order: order_id,
            item: item.clone(),
            quantity,
        });
        Ok(Attempt::Answered(Placed {
            status: StatusCode::CREATED,
            body,
            order_id: Some(order_id),
        }))
    }

    /// The item's price: from the book, or from pricing-svc (kept in the book).
    async fn quote(&self, item: &ItemId, request_id: &str) -> Result<Option<Quote>, CallError> {
        if let Some(quote) = self.prices.get(item) {
            metrics::counter!("order_price_quotes_total", "source" => "book").increment(1);
            return Ok(Some(quote));
        }
        metrics::counter!("order_price_quotes_total", "source" => "pricing-svc").increment(1);
        let ticket = self.prices.ticket();
        let price = self.pricing.quote(item, request_id).await?;
        Ok(price.map(|p| {
            let quote = p.quote.clone();
            self.prices.keep(ticket, item, p);
            quote
        }))
    }

    async fn release(
        &self,
        order_id: Uuid,
        item: &ItemId,
        quantity: platform::contract::Quantity,
        request_id: &str,
    ) {
        if let Err(e) = self
            .inventory
            .settle(Action::Release, order_id, item, quantity, request_id)
            .await
        {
            tracing::warn!(%order_id, error = %e, "cannot release a reservation now; its hold expires by itself");
        }
    }

    /// Short stock: the order is recorded as rejected, with its event, and answered 409.
    async fn reject(
        &self,
        mut order: Order,
        available: u64,
        key: Option<&str>,
    ) -> Result<Attempt, Problem> {
        order.status = OrderStatus::Rejected;
        order.reason = Some(format!(
            "insufficient stock: {} requested, {available} available",
            order.quantity
        ));
        let problem = Problem::of(
            ProblemKind::InsufficientStock,
            format!(
                "item {} has {available} units available; {} were asked for. The order was recorded as rejected.",
                order.item_id, order.quantity
            ),
        )
        .with("order_id", order.id.to_string())
        .with("item_id", order.item_id.as_str())
        .with("available", available)
        .with("requested", order.quantity);
        let placed = Placed::problem(&problem, Some(order.id));
        let keyed = key.map(|k| KeyedAnswer {
            key: k.to_owned(),
            status: placed.status.as_u16(),
            body: placed.body.clone(),
        });
        let finished = self
            .writes
            .write(NewOrder {
                order,
                stock: StockState::None,
                keyed,
            })
            .await?;
        if finished == Finished::ClaimLost {
            return Ok(Attempt::Superseded);
        }
        self.relay_waker.notify_one();
        metrics::counter!("orders_total", "outcome" => "rejected").increment(1);
        Ok(Attempt::Answered(placed))
    }

    /// An item without a price: 404 when the item does not exist at all, else 422.
    async fn refuse_unpriced(
        &self,
        order_id: Uuid,
        item: &ItemId,
        key: Option<&str>,
        request_id: &str,
    ) -> Result<Attempt, Problem> {
        let exists = self
            .inventory
            .item_exists(item, request_id)
            .await
            .map_err(|e| dependency_problem(&e))?;
        let problem = if exists {
            Problem::of(
                ProblemKind::UnpricedItem,
                format!("item {item} has no price yet, so it cannot be ordered"),
            )
            .with("item_id", item.as_str())
        } else {
            unknown_item(item)
        };
        self.finish_without_order(order_id, problem, key).await
    }

    /// A final refusal that wrote no order: remembered for the key (claimed with `order_id`),
    /// then answered.
    async fn finish_without_order(
        &self,
        order_id: Uuid,
        problem: Problem,
        key: Option<&str>,
    ) -> Result<Attempt, Problem> {
        let placed = Placed::problem(&problem, None);
        if let Some(k) = key {
            let answer = KeyedAnswer {
                key: k.to_owned(),
                status: placed.status.as_u16(),
                body: placed.body.clone(),
            };
            let finished = self.store.complete_key(order_id, &answer).await?;
            if finished == Finished::ClaimLost {
                return Ok(Attempt::Superseded);
            }
        }
        Ok(Attempt::Answered(placed))
    }

    /// Cancels a confirmed order and puts its units back on sale.
    pub async fn cancel(&self, id: Uuid, request_id: &str) -> Result<Order, Problem> {
        let order = match self.store.cancel(id, "cancelled by request").await? {
            None => return Err(unknown_order(id)),
            Some(Err(status)) => {
                return Err(Problem::of(
                    ProblemKind::OrderNotCancellable,
                    format!(
                        "order {id} is {}; only a confirmed order can be cancelled",
                        status.as_str()
                    ),
                )
                .with("order_status", status.as_str()));
            }
            Some(Ok(order)) => order,
        };
        self.relay_waker.notify_one();
        metrics::counter!("orders_total", "outcome" => "cancelled").increment(1);
        let returned = return_stock(&self.inventory, &order, request_id).await;
        if let Some(state) = returned
            && let Err(e) = self
                .store
                .set_stock(id, StockState::PendingReturn, state)
                .await
        {
            tracing::warn!(%id, error = %e, "stock returned but not marked; the stock sync will");
        }
        Ok(order)
    }
}

/// Puts a cancelled order's units back: cancels the sale, or releases the hold if it was never
/// confirmed. `Some(Returned)` once the units are back; `None` to try again later.
pub async fn return_stock(
    inventory: &InventoryClient,
    order: &Order,
    request_id: &str,
) -> Option<StockState> {
    let item = &order.item_id;
    let quantity = platform::contract::Quantity::new(order.quantity)?;
    let outcome = inventory
        .settle(Action::Cancel, order.id, item, quantity, request_id)
        .await;
    match outcome {
        Ok(Settlement::Done) => Some(StockState::Returned),
        Ok(Settlement::WrongState(HoldState::Held)) => {
            match inventory
                .settle(Action::Release, order.id, item, quantity, request_id)
                .await
            {
                Ok(Settlement::Done) => Some(StockState::Returned),
                _ => None,
            }
        }
        // Released or expired: the units went back already.
        Ok(Settlement::WrongState(_) | Settlement::Mismatch(_)) => Some(StockState::Returned),
        Ok(Settlement::Unknown) => {
            tracing::warn!(order = %order.id, "inventory has no record of this reservation; nothing to return");
            Some(StockState::Returned)
        }
        Err(e) => {
            tracing::warn!(order = %order.id, error = %e, "cannot return stock now; the stock sync will retry");
            None
        }
    }
}

fn total(quote: &Quote, quantity: u64) -> Result<u64, Problem> {
    quote
        .price_cents
        .checked_mul(quantity)
        .filter(|t| i64::try_from(*t).is_ok())
        .ok_or_else(|| Problem::bad_request("the order's total is too large"))
}

/// 404 for an item that does not exist.
pub fn unknown_item(item: &ItemId) -> Problem {
    Problem::of(
        ProblemKind::UnknownItem,
        format!("item {item} does not exist"),
    )
    .with("item_id", item.as_str())
}

/// 404 for an order that does not exist.
pub fn unknown_order(id: Uuid) -> Problem {
    Problem::of(
        ProblemKind::UnknownOrder,
        format!("order {id} does not exist"),
    )
    .with("order_id", id.to_string())
}
