//! The consumer's queue topology against the real broker: `QUEUE_TYPE=quorum` makes every queue
//! of it (work, retry levels, parking) a quorum queue, and classic stays classic.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use platform::{
    config::{Env, ProcessEnv},
    consumer::{ConsumerSettings, QueueType, declare_topology, topology_queues},
    testing,
};

fn settings(queue: &str, queue_type: QueueType) -> ConsumerSettings {
    let mut s = ConsumerSettings::from_env(&Env::new(&ProcessEnv), queue, &["#"]).unwrap();
    s.amqp = testing::amqp_config();
    s.queue = queue.to_owned();
    s.retry_delays = vec![Duration::from_millis(100), Duration::from_secs(1)];
    s.queue_type = queue_type;
    s
}

/// Declares `queue` with `args` on a channel of its own; RabbitMQ refuses (406, and closes the
/// channel) to declare an existing queue with other arguments, its type among them.
async fn declares(conn: &lapin::Connection, queue: &str, args: lapin::types::FieldTable) -> bool {
    let ch = conn.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), options, args).await.is_ok()
}

#[tokio::test]
async fn every_queue_of_the_topology_is_of_the_configured_type() {
    for (made_as, other) in [
        (QueueType::Quorum, QueueType::Classic),
        (QueueType::Classic, QueueType::Quorum),
    ] {
        let name = testing::unique_name("test.topology");
        let made = settings(&name, made_as);
        let conn = platform::amqp::connect(&made.amqp.url, "test-topology")
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        declare_topology(&ch, &made).await.unwrap();
        // Declaring it again is harmless: every replica does at start.
        declare_topology(&ch, &made).await.unwrap();
        let same = topology_queues(&made);
        let differing = topology_queues(&settings(&name, other));
        assert_eq!(same.len(), 4, "work, two retry levels, parking");
        for ((queue, args), (_, other_args)) in same.into_iter().zip(differing) {
            assert!(
                declares(&conn, &queue, args).await,
                "{queue} is as declared"
            );
            assert!(
                !declares(&conn, &queue, other_args).await,
                "{queue} is not a {other:?} queue"
            );
        }
        let _ = conn.close(0, "done".into()).await;
        let names: Vec<String> = topology_queues(&made).into_iter().map(|(q, _)| q).collect();
        testing::delete_queues(&made.amqp.url, &names).await;
        testing::delete_exchange(&made.amqp.url, &made.amqp.exchange).await;
    }
}
