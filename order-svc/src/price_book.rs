//! The price book: the prices order-svc quoted lately, kept fresh by `price_changed` events, so
//! an order for an item priced a moment ago costs no call to pricing-svc
//! (docs/decisions/0020-prices-held-in-order-svc-kept-fresh-by-events.md).
//!
//! - A miss (or an entry older than `PRICE_BOOK_TTL`) asks pricing-svc, as every order did
//!   before, and keeps the answer with its `version`.
//! - The [`PriceFeed`] worker binds its own exclusive queue to `price_changed` and writes each
//!   change of an item the book holds into it; a change only replaces an older version, so an
//!   event and a read that cross cannot put an older price back. A change of an item the book
//!   does not hold is not kept (a repriced catalog does not fill every replica's memory), but a
//!   read of a missing item that was in flight meanwhile is then not kept either, since the
//!   change may have been its item's.
//! - At most [`CAPACITY`] prices are held; when full, the expired ones go, and if that frees
//!   less than half, all go (each full pass frees at least half, so a catalog larger than the
//!   book costs no more than a read of pricing-svc per order, as without the book).
//! - The book only answers while the feed is bound. When the feed's connection fails the book
//!   is emptied and every order asks pricing-svc until the feed is bound again; a read that
//!   started before the feed was bound is not kept, because a change made before the binding
//!   would never reach the book.
//!
//! A price set with `PUT /price/{id}` reaches the book as fast as its event travels (outbox,
//! relay, broker): an order placed in those milliseconds gets the price before, as an order
//! racing a price change always could.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use lapin::{options::BasicConsumeOptions, types::FieldTable};
use platform::{
    backoff::Backoff,
    config::AmqpConfig,
    event::{Event, EventEnvelope, EventKind},
};
use tokio_util::sync::CancellationToken;

use crate::domain::{ItemId, Quote};

/// A price and the version pricing-svc gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The price.
    pub quote: Quote,
    /// Raised by every change.
    pub version: u64,
}

/// The most prices the book holds.
pub const CAPACITY: usize = 100_000;

struct Entry {
    price: Versioned,
    at: Instant,
}

#[derive(Default)]
struct Book {
    entries: HashMap<ItemId, Entry>,
    /// Raised every time the feed is bound again; `None` while it is not.
    bound: Option<u64>,
    bindings: u64,
    /// Changes announced for items the book did not hold.
    unheld_changes: u64,
}

/// Taken before asking pricing-svc: its answer is kept only if the feed has stayed bound since
/// (and, for an item the book does not hold, no change of an unheld item came meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    binding: Option<u64>,
    unheld_changes: u64,
}

/// The prices, shared by the requests and the feed.
pub struct PriceBook {
    book: RwLock<Book>,
    ttl: Duration,
}

impl PriceBook {
    /// An empty book whose entries are trusted for `ttl` at most (zero: never, every order asks
    /// pricing-svc).
    pub fn new(ttl: Duration) -> Self {
        Self {
            book: RwLock::new(Book::default()),
            ttl,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.book
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Book> {
        self.book
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The item's price, if the book holds a fresh one and the feed is bound.
    pub fn get(&self, item: &ItemId) -> Option<Quote> {
        let book = self.read();
        book.bound?;
        let entry = book.entries.get(item)?;
        (entry.at.elapsed() < self.ttl).then(|| entry.price.quote.clone())
    }

    /// Take one before reading a price from pricing-svc, and hand it to [`Self::keep`].
    pub fn ticket(&self) -> Ticket {
        let book = self.read();
        Ticket {
            binding: book.bound,
            unheld_changes: book.unheld_changes,
        }
    }

    /// Keeps a price read from pricing-svc with `ticket`, unless the feed was not bound the
    /// whole time, the book already has this version or a newer one, or (for an item it does
    /// not hold) a change it could not place came in meanwhile.
    pub fn keep(&self, ticket: Ticket, item: &ItemId, price: Versioned) {
        let mut book = self.write();
        if ticket.binding.is_none() || book.bound != ticket.binding || self.ttl.is_zero() {
            return;
        }
        if let Some(entry) = book.entries.get_mut(item) {
            entry.replace_if_newer(price);
            return;
        }
        if book.unheld_changes != ticket.unheld_changes {
            return;
        }
        self.make_room(&mut book);
        book.entries.insert(
            item.clone(),
            Entry {
                price,
                at: Instant::now(),
            },
        );
    }

    /// Makes room for one more price when the book is full.
    fn make_room(&self, book: &mut Book) {
        if book.entries.len() < CAPACITY {
            return;
        }
        book.entries.retain(|_, e| e.at.elapsed() < self.ttl);
        if book.entries.len() > CAPACITY / 2 {
            book.entries.clear();
        }
    }

    /// A change announced by the feed.
    fn changed(&self, item: &ItemId, price: Versioned) {
        let mut book = self.write();
        if book.bound.is_none() {
            return;
        }
        match book.entries.get_mut(item) {
            Some(entry) => entry.replace_if_newer(price),
            None => book.unheld_changes += 1,
        }
    }

    /// The feed is bound: changes from now on reach the book.
    fn bound(&self) {
        let mut book = self.write();
        book.bindings += 1;
        book.bound = Some(book.bindings);
    }

    /// The feed is lost: nothing in the book can be trusted any more.
    fn lost(&self) {
        let mut book = self.write();
        book.bound = None;
        book.entries.clear();
    }

    /// How many prices the book holds.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entry {
    fn replace_if_newer(&mut self, price: Versioned) {
        if price.version >= self.price.version {
            *self = Entry {
                price,
                at: Instant::now(),
            };
        }
    }
}

/// The worker that keeps the book fresh from `price_changed`.
pub struct PriceFeed {
    book: Arc<PriceBook>,
    amqp: AmqpConfig,
    name: String,
}

impl PriceFeed {
    /// A feed for `book` from the events exchange of `amqp`; `name` names its connection.
    pub fn new(book: Arc<PriceBook>, amqp: AmqpConfig, name: impl Into<String>) -> Self {
        Self {
            book,
            amqp,
            name: name.into(),
        }
    }

    /// Binds, follows the changes, and binds again after any failure, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.book.ttl.is_zero() {
            return;
        }
        let mut backoff = Backoff::default();
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = self.follow(&mut backoff) => outcome,
            };
            self.book.lost();
            let pause = backoff.next_delay();
            if let Err(e) = outcome {
                tracing::warn!(error = %e, retry_in = ?pause, "price feed lost; orders ask pricing-svc until it is back");
            }
            metrics::gauge!("order_price_feed_bound").set(0.0);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        self.book.lost();
    }

    async fn follow(&self, backoff: &mut Backoff) -> anyhow::Result<()> {
        let conn = platform::amqp::connect(&self.amqp.url, &self.name).await?;
        let channel = conn.create_channel().await?;
        let queue = platform::amqp::exclusive_events_queue(
            &channel,
            &self.amqp.exchange,
            EventKind::PriceChanged.as_str(),
        )
        .await?;
        // A cache: nothing to redo after a crash, so the broker may forget a delivery at once.
        let mut deliveries = channel
            .basic_consume(
                queue.name().clone(),
                self.name.as_str().into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        self.book.bound();
        backoff.reset();
        metrics::gauge!("order_price_feed_bound").set(1.0);
        tracing::info!("price feed bound: orders take prices from the book");
        while let Some(delivery) = deliveries.next().await {
            let delivery = delivery?;
            let change = serde_json::from_slice::<EventEnvelope>(&delivery.data)
                .map_err(anyhow::Error::from)
                .and_then(|e| e.decode().map_err(anyhow::Error::from));
            match change {
                Ok(Event::PriceChanged(c)) => self.book.changed(
                    &c.item_id,
                    Versioned {
                        quote: Quote {
                            price_cents: c.new.price_cents,
                            currency: c.new.currency,
                        },
                        version: c.version,
                    },
                ),
                Ok(_) => {}
                // Cannot tell which item it was about: trust nothing rather than miss a change.
                Err(e) => anyhow::bail!("unreadable price_changed: {e}"),
            }
        }
        anyhow::bail!("the broker closed the price feed")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn price(cents: u64, version: u64) -> Versioned {
        Versioned {
            quote: Quote {
                price_cents: cents,
                currency: "EUR".to_owned(),
            },
            version,
        }
    }

    fn item() -> ItemId {
        ItemId::parse("widget").unwrap()
    }

    #[test]
    fn the_book_answers_only_while_the_feed_is_bound() {
        let book = PriceBook::new(Duration::from_secs(60));
        book.keep(book.ticket(), &item(), price(100, 1));
        assert_eq!(book.get(&item()), None, "unbound: nothing kept");
        book.bound();
        book.keep(book.ticket(), &item(), price(100, 1));
        assert_eq!(book.get(&item()).unwrap().price_cents, 100);
        book.lost();
        assert_eq!(book.get(&item()), None);
        book.bound();
        assert_eq!(book.get(&item()), None, "emptied when the feed was lost");
    }

    #[test]
    fn a_read_that_began_before_the_binding_is_not_kept() {
        let book = PriceBook::new(Duration::from_secs(60));
        book.bound();
        let ticket = book.ticket();
        book.lost();
        book.bound();
        book.keep(ticket, &item(), price(100, 1));
        assert_eq!(book.get(&item()), None);
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let book = PriceBook::new(Duration::from_secs(60));
        book.bound();
        book.keep(book.ticket(), &item(), price(100, 1));
        let ticket = book.ticket();
        book.changed(&item(), price(300, 3));
        book.keep(ticket, &item(), price(200, 2));
        assert_eq!(book.get(&item()).unwrap().price_cents, 300);
        book.changed(&item(), price(100, 1));
        assert_eq!(book.get(&item()).unwrap().price_cents, 300);
        book.changed(&item(), price(400, 4));
        assert_eq!(book.get(&item()).unwrap().price_cents, 400);
    }

    #[test]
    fn a_change_of_an_unheld_item_is_not_kept_and_voids_reads_in_flight() {
        let book = PriceBook::new(Duration::from_secs(60));
        book.bound();
        let ticket = book.ticket();
        book.changed(&item(), price(300, 3));
        assert!(book.is_empty(), "an item nobody ordered lately is not held");
        book.keep(ticket, &item(), price(200, 2));
        assert!(book.is_empty(), "the read may have missed the change");
        book.keep(book.ticket(), &item(), price(300, 3));
        assert_eq!(book.get(&item()).unwrap().price_cents, 300);
    }

    #[test]
    fn a_full_book_makes_room() {
        let book = PriceBook::new(Duration::from_secs(60));
        book.bound();
        for i in 0..=CAPACITY {
            let id = ItemId::parse(&format!("item-{i}")).unwrap();
            book.keep(book.ticket(), &id, price(100, 1));
        }
        assert_eq!(book.len(), 1, "none had expired, so all went to make room");
    }

    #[test]
    fn an_entry_past_its_ttl_is_read_again_and_a_zero_ttl_keeps_nothing() {
        let book = PriceBook::new(Duration::from_millis(20));
        book.bound();
        book.keep(book.ticket(), &item(), price(100, 1));
        assert!(book.get(&item()).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(book.get(&item()), None);

        let off = PriceBook::new(Duration::ZERO);
        off.bound();
        off.keep(off.ticket(), &item(), price(100, 1));
        assert!(off.is_empty());
    }
}
