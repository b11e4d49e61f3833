//! A careful client: what a well-behaved caller of SIOMS does when the system is in trouble,
//! and what it saw.
//!
//! Each order gets a fresh `Idempotency-Key`. A retryable outcome (no answer, a 5xx, a 429, a
//! 409 `request-in-progress`) is retried with the same key and body after a short backoff
//! (100 ms doubling to 1 s, with jitter), until the retry budget (20 s) is spent. A final
//! answer is a 201 (confirmed), a 409 `insufficient-stock` (rejected), or any other 4xx (a
//! refusal the suite reports as a defect). A cancel is retried the same way. Every answer and
//! every order id seen is kept in the key's [`KeyRecord`].

use std::{
    collections::BTreeSet,
    future::Future,
    time::{Duration, Instant},
};

use rand::Rng;
use serde_json::Value;
use uuid::Uuid;

use crate::shop::{Reply, Shop, problem};

/// The first pause between two attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two attempts: a recovering service is tried at least once a
/// second.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The attempts of one request, retried while retryable and the budget lasts.
#[derive(Debug)]
pub struct Persisted {
    /// Every attempt's reply, in order.
    pub tries: Vec<Reply>,
    /// The last reply is final (not retryable); otherwise the budget ran out.
    pub answered: bool,
    /// From the first attempt to the last reply.
    pub took: Duration,
}

impl Persisted {
    /// The last reply.
    pub fn last(&self) -> Option<&Reply> {
        self.tries.last()
    }
}

/// Tries `attempt` until its reply is final or `budget` is spent (no attempt starts after it).
pub async fn persist<F, Fut>(budget: Duration, mut attempt: F) -> Persisted
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let started = Instant::now();
    let mut tries = Vec::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let reply = attempt().await;
        let again = reply.retryable();
        tries.push(reply);
        let jitter =
            Duration::from_millis(rand::rng().random_range(0..=backoff.as_millis() as u64 / 2));
        if !again || started.elapsed() + backoff + jitter >= budget {
            return Persisted {
                tries,
                answered: !again,
                took: started.elapsed(),
            };
        }
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How an order's key ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201: the order is confirmed.
    Confirmed(Uuid),
    /// 409 `insufficient-stock`: the order is recorded as rejected (its id, when the answer
    /// named one).
    Rejected(Option<Uuid>),
    /// Another final answer (a 4xx the suite never provokes): a defect.
    Refused(String),
    /// The retry budget ran out; the last thing seen.
    Unanswered(String),
}

/// How a cancel ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// 200, or (after an attempt whose answer was lost) 409 saying it is cancelled already.
    Cancelled,
    /// Another final answer: a defect.
    Refused(String),
    /// The retry budget ran out; the last thing seen.
    Unanswered(String),
}

/// A client's cancel of one of its confirmed orders.
#[derive(Debug, Clone)]
pub struct CancelRecord {
    /// Attempts made.
    pub attempts: usize,
    /// How it ended.
    pub outcome: CancelOutcome,
    /// From the first attempt to the last reply.
    pub took: Duration,
}

/// Everything one `Idempotency-Key` saw.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// The key.
    pub key: Uuid,
    /// The item ordered.
    pub item: String,
    /// Units ordered.
    pub quantity: u64,
    /// Every attempt's reply, described (`201`, `503 dependency-unavailable`, `timeout`, …).
    pub answers: Vec<String>,
    /// Every order id any answer named (a 201's `id`, a 409's `order_id`).
    pub order_ids: BTreeSet<Uuid>,
    /// How it ended.
    pub outcome: Outcome,
    /// From the first attempt to the final answer (or to giving up).
    pub took: Duration,
    /// The client's cancel of this order, if it cancelled it.
    pub cancel: Option<CancelRecord>,
}

impl KeyRecord {
    /// More than one attempt was needed.
    pub fn retried(&self) -> bool {
        self.answers.len() > 1
    }

    /// The units this order holds now, as its client knows it: a confirmed order that the
    /// client did not cancel (an unanswered cancel counts as not cancelled).
    pub fn held_units(&self) -> u64 {
        match (&self.outcome, &self.cancel) {
            (Outcome::Confirmed(_), None) => self.quantity,
            (Outcome::Confirmed(_), Some(c)) if c.outcome != CancelOutcome::Cancelled => {
                self.quantity
            }
            _ => 0,
        }
    }
}

/// The order id an answer names: a 201's `id`, or a problem's `order_id`.
fn order_id(reply: &Reply) -> Option<Uuid> {
    let Reply::Answered { body, .. } = reply else {
        return None;
    };
    ["id", "order_id"]
        .iter()
        .filter_map(|f| body.get(*f).and_then(Value::as_str))
        .find_map(|s| Uuid::parse_str(s).ok())
}

/// Places one order with a fresh key, as a careful client does; `cancel` it once confirmed.
pub async fn order(
    shop: &Shop,
    budget: Duration,
    item: &str,
    quantity: u64,
    cancel: bool,
) -> KeyRecord {
    let key = Uuid::new_v4();
    let placed = persist(budget, || shop.place(key, item, quantity)).await;
    let order_ids: BTreeSet<Uuid> = placed.tries.iter().filter_map(order_id).collect();
    let last = placed.last();
    let outcome = match last {
        Some(reply) if !placed.answered => Outcome::Unanswered(reply.describe()),
        Some(reply @ Reply::Answered { status: 201, .. }) => match order_id(reply) {
            Some(id) => Outcome::Confirmed(id),
            None => Outcome::Refused("201 without an order id".to_owned()),
        },
        Some(reply @ Reply::Answered { status: 409, .. })
            if reply.problem() == Some(problem::INSUFFICIENT_STOCK) =>
        {
            Outcome::Rejected(order_id(reply))
        }
        Some(reply) => Outcome::Refused(detail(reply)),
        None => Outcome::Unanswered("no attempt".to_owned()),
    };
    let cancel = match &outcome {
        Outcome::Confirmed(id) if cancel => Some(cancel_order(shop, budget, *id).await),
        _ => None,
    };
    KeyRecord {
        key,
        item: item.to_owned(),
        quantity,
        answers: placed.tries.iter().map(Reply::describe).collect(),
        order_ids,
        outcome,
        took: placed.took,
        cancel,
    }
}

/// Cancels a confirmed order, retried like an order.
async fn cancel_order(shop: &Shop, budget: Duration, id: Uuid) -> CancelRecord {
    let done = persist(budget, || shop.cancel(id)).await;
    let outcome = match done.last() {
        Some(reply) if !done.answered => CancelOutcome::Unanswered(reply.describe()),
        Some(Reply::Answered { status: 200, .. }) => CancelOutcome::Cancelled,
        // An earlier attempt went through but its answer was lost: the order is cancelled.
        Some(reply @ Reply::Answered { status: 409, body })
            if done.tries.len() > 1
                && reply.problem() == Some(problem::ORDER_NOT_CANCELLABLE)
                && body.get("order_status").and_then(Value::as_str) == Some("cancelled") =>
        {
            CancelOutcome::Cancelled
        }
        Some(reply) => CancelOutcome::Refused(detail(reply)),
        None => CancelOutcome::Unanswered("no attempt".to_owned()),
    };
    CancelRecord {
        attempts: done.tries.len(),
        outcome,
        took: done.took,
    }
}

/// A final answer with its `detail`, for the report.
fn detail(reply: &Reply) -> String {
    match reply {
        Reply::Answered { body, .. } => match body.get("detail").and_then(Value::as_str) {
            Some(d) => format!("{}: {d}", reply.describe()),
            None => reply.describe(),
        },
        Reply::Failed(e) => e.clone(),
    }
}
