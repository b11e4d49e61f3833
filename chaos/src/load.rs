//! The load: the catalog the suite sells from, and many careful clients ordering from it at a
//! paced rate.
//!
//! Stock is limited on purpose. Each item gets a share of the units the whole run is expected
//! to ask for, from 50 % to 150 % of an even share, so items sell out one after another from
//! about the middle of the run: later orders meet short stock (409) while other items still
//! sell, and nothing may be sold that is not there.

use std::{sync::Arc, time::Duration};

use anyhow::bail;
use rand::Rng;
use tokio::{task::JoinHandle, time::MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::{
    client::{self, KeyRecord, persist},
    shop::{Reply, Shop},
};

/// The most units one order asks for (each order asks for 1 to this many).
pub const MAX_QUANTITY: u64 = 3;

/// One item the suite sells.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its id.
    pub id: String,
    /// Units provisioned when it was created (the suite never restocks).
    pub stock: u64,
    /// Its price in EUR cents.
    pub price_cents: u64,
}

/// The items of one run.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The items, in creation order.
    pub items: Vec<Item>,
}

impl Catalog {
    /// `count` items named after `run`, sharing `expected_units` unevenly (see the module
    /// docs).
    pub fn plan(run: &str, count: usize, expected_units: u64) -> Self {
        let even = expected_units as f64 / count as f64;
        let items = (0..count)
            .map(|i| {
                let share = if count == 1 {
                    1.0
                } else {
                    0.5 + i as f64 / (count - 1) as f64
                };
                Item {
                    id: format!("chaos-{run}-{i:02}"),
                    stock: ((even * share).round() as u64).max(5),
                    price_cents: 100 + 37 * i as u64,
                }
            })
            .collect();
        Self { items }
    }

    /// Creates every item and its price through the gateway (admin routes), retrying as a
    /// careful client does.
    pub async fn create(&self, shop: &Shop, budget: Duration) -> anyhow::Result<()> {
        for item in &self.items {
            let created = persist(budget, || shop.add_item(&item.id, item.stock)).await;
            expect(&created.tries, &[201], &format!("POST /items {}", item.id))?;
            let priced = persist(budget, || shop.set_price(&item.id, item.price_cents)).await;
            expect(
                &priced.tries,
                &[200, 201],
                &format!("PUT /price/{}", item.id),
            )?;
        }
        Ok(())
    }

    /// Units provisioned for `item` (0 for an item not in the catalog).
    pub fn provisioned(&self, item: &str) -> u64 {
        self.items
            .iter()
            .find(|i| i.id == item)
            .map_or(0, |i| i.stock)
    }

    /// Units provisioned for all items.
    pub fn total_stock(&self) -> u64 {
        self.items.iter().map(|i| i.stock).sum()
    }
}

fn expect(tries: &[Reply], ok: &[u16], what: &str) -> anyhow::Result<()> {
    match tries.last() {
        Some(Reply::Answered { status, .. }) if ok.contains(status) => Ok(()),
        Some(reply) => bail!(
            "{what} answered {} after {} attempts",
            reply.describe(),
            tries.len()
        ),
        None => bail!("{what} was not attempted"),
    }
}

/// How the careful clients behave.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Clients running at once.
    pub clients: usize,
    /// New orders per second, all clients together.
    pub rate: f64,
    /// How long one request is retried.
    pub retry_budget: Duration,
    /// The share of confirmed orders their client cancels.
    pub cancel_share: f64,
}

/// Running clients. [`Load::finish`] stops them placing new orders and waits until each has
/// its final answer (or has spent its retry budget).
pub struct Load {
    stop: CancellationToken,
    clients: Vec<JoinHandle<Vec<KeyRecord>>>,
}

impl Load {
    /// Starts `plan.clients` clients, each placing an order every `clients / rate` seconds
    /// (their start spread over one period), on random items of `catalog`.
    pub fn start(shop: Arc<Shop>, catalog: Arc<Catalog>, plan: LoadPlan) -> Self {
        let stop = CancellationToken::new();
        let period = Duration::from_secs_f64(plan.clients as f64 / plan.rate);
        let clients = (0..plan.clients)
            .map(|i| {
                let (shop, catalog, stop) = (shop.clone(), catalog.clone(), stop.clone());
                let offset = period.mul_f64(i as f64 / plan.clients as f64);
                tokio::spawn(async move {
                    let mut records = Vec::new();
                    tokio::time::sleep(offset).await;
                    let mut tick = tokio::time::interval(period);
                    // After a long retry, carry on at the pace; never catch up in a burst.
                    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            biased;
                            () = stop.cancelled() => break,
                            _ = tick.tick() => {}
                        }
                        let (item, quantity, cancel) = {
                            let mut rng = rand::rng();
                            (
                                &catalog.items[rng.random_range(0..catalog.items.len())].id,
                                rng.random_range(1..=MAX_QUANTITY),
                                rng.random_bool(plan.cancel_share),
                            )
                        };
                        records.push(
                            client::order(&shop, plan.retry_budget, item, quantity, cancel).await,
                        );
                    }
                    records
                })
            })
            .collect();
        Self { stop, clients }
    }

    /// Stops new orders, waits for every client to finish its retries, and returns what every
    /// key saw.
    pub async fn finish(self) -> anyhow::Result<Vec<KeyRecord>> {
        self.stop.cancel();
        let mut records = Vec::new();
        for client in futures::future::join_all(self.clients).await {
            records.extend(client?);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_is_shared_unevenly_so_items_sell_out_one_after_another() {
        let catalog = Catalog::plan("t", 12, 12_000);
        let stocks: Vec<u64> = catalog.items.iter().map(|i| i.stock).collect();
        assert_eq!(stocks.first(), Some(&500));
        assert_eq!(stocks.last(), Some(&1500));
        assert!(stocks.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(catalog.total_stock(), 12_000);
        assert_eq!(catalog.provisioned("chaos-t-00"), 500);
        assert_eq!(catalog.provisioned("elsewhere"), 0);
    }
}
