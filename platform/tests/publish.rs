//! Publishing with publisher confirms against the real broker: a batch that the publisher hands
//! to lapin all at once (`platform::amqp::publish_together`) arrives whole, once, and in the
//! order given, batch after batch on one connection.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use chrono::Utc;
use platform::{
    amqp::ConfirmingPublisher,
    event::EventEnvelope,
    testing::{self, EventTap},
};
use serde_json::json;
use uuid::Uuid;

fn numbered(n: usize) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7(),
        kind: "stock_changed".to_owned(),
        occurred_at: Utc::now(),
        source: "test".to_owned(),
        data: json!({ "n": n }),
    }
}

#[tokio::test]
async fn a_batch_published_together_arrives_whole_once_and_in_order() {
    let amqp = testing::amqp_config();
    let mut publisher = ConfirmingPublisher::new(amqp.clone(), "test-publish");
    // The first batch declares the exchange the tap binds to; the tap sees what follows.
    publisher.publish_all(&[numbered(0)]).await.unwrap();
    let tap = EventTap::bind(&amqp).await;
    // A small batch and large ones: `try_join_all` drives more than 30 futures another way.
    let events: Vec<EventEnvelope> = (1..=1_000).map(numbered).collect();
    for batch in [&events[..3], &events[3..500], &events[500..]] {
        publisher.publish_all(batch).await.unwrap();
    }
    let arrived = testing::eventually(Duration::from_secs(10), || async {
        tap.events().len() >= events.len()
    })
    .await;
    assert!(
        arrived,
        "{} of {} arrived",
        tap.events().len(),
        events.len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<Uuid> = tap.events().iter().map(|e| e.event_id).collect();
    let sent: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(got.len(), sent.len(), "each event arrives once");
    assert!(got == sent, "the events arrive in the order published");
    drop(tap);
    testing::delete_exchange(&amqp.url, &amqp.exchange).await;
}
