//! Group commit: the orders written at the same moment go to Postgres in one statement, each
//! with its own outcome.

use order_svc::{
    domain::{Order, OrderStatus},
    group_commit,
    store::{Finished, NewOrder, OrderStore, StockState},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn new_order(currency: &str) -> NewOrder {
    let now = platform::event::now_micros();
    NewOrder {
        order: Order {
            id: Uuid::now_v7(),
            item_id: platform::contract::ItemId::parse("widget").unwrap(),
            quantity: 1,
            status: OrderStatus::Confirmed,
            unit_price_cents: 100,
            total_cents: 100,
            currency: currency.into(),
            reason: None,
            created_at: now,
            updated_at: now,
        },
        stock: StockState::PendingConfirm,
        keyed: None,
    }
}

#[tokio::test]
async fn an_order_that_fails_its_batch_fails_alone() {
    let db = platform::testing::TestDatabase::create(order_svc::migrations()).await;
    let store = OrderStore::new(platform::postgres::pool(&db.config).unwrap());
    let (writes, committer) = group_commit::channel(store.clone());
    let orders = [new_order("EUR"), new_order("EURO"), new_order("EUR")];
    let ids: Vec<Uuid> = orders.iter().map(|o| o.order.id).collect();
    let shutdown = CancellationToken::new();
    let committer = tokio::spawn(committer.run(shutdown.clone()));
    // Handed over together, so the committer takes all three at once: the currency that does
    // not fit `CHAR(3)` fails the statement, and the batch is written again order by order.
    let [a, b, c] = orders;
    let (a, b, c) = tokio::join!(writes.write(a), writes.write(b), writes.write(c));
    assert_eq!(a.unwrap(), Finished::Written);
    assert!(b.is_err(), "the bad order fails: {b:?}");
    assert_eq!(c.unwrap(), Finished::Written);
    assert!(store.get(ids[0]).await.unwrap().is_some());
    assert!(store.get(ids[1]).await.unwrap().is_none());
    assert!(store.get(ids[2]).await.unwrap().is_some());

    // Once the committer has stopped, a write is refused (the request answers 503).
    shutdown.cancel();
    committer.await.unwrap();
    assert!(writes.write(new_order("EUR")).await.is_err());
}
