//! The images under a real container engine: `docker stop` while orders stream in through the
//! containerised gateway stops every container gracefully and loses no accepted order.
//!
//! It needs the stack built from the images, which the container phase of `make test`
//! (`scripts/test-containers.sh`) starts and describes with `E2E_GATEWAY`, `E2E_CONTAINERS`
//! (every container, order-svc first), `AMQP_URL` and `EVENTS_EXCHANGE`; elsewhere it is
//! ignored.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use e2e::{eventually, gateway, unique};
use platform::{
    config::{AmqpConfig, Env, ProcessEnv},
    testing::EventTap,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::Command;

/// `docker stop`'s grace period: longer than a service's own drain (HTTP, workers, relay).
const GRACE: Duration = Duration::from_secs(30);

/// Clients sending orders one after another, all at once.
const CLIENTS: usize = 16;

/// What the clients saw.
#[derive(Default)]
struct Seen {
    accepted: Vec<String>,
    refused: usize,
    failed: usize,
}

async fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Stops one container with `docker stop` and returns how long it took and its exit code.
async fn stop(container: String) -> (String, Duration, i64) {
    let started = Instant::now();
    let grace = GRACE.as_secs().to_string();
    docker(&["stop", "-t", &grace, &container]).await;
    let took = started.elapsed();
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &container])
        .await
        .parse()
        .unwrap();
    (container, took, code)
}

#[tokio::test]
#[ignore = "needs the stack built from the images: the container phase of make test runs it"]
async fn docker_stop_during_a_stream_of_orders_loses_no_accepted_order() {
    let gw = Arc::new(gateway().await);
    let containers: Vec<String> = std::env::var("E2E_CONTAINERS")
        .expect("E2E_CONTAINERS names the stack's containers, order-svc first")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let (first, others) = containers.split_first().expect("at least one container");
    let amqp = AmqpConfig::from_env(&Env::new(&ProcessEnv)).unwrap();
    let tap = EventTap::bind(&amqp).await;
    let item = unique("stream");
    gw.add_item(&item, 1_000_000, 100).await;

    // The stream: every client orders one unit after another until told to stop.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (gw, seen, done, item) = (gw.clone(), seen.clone(), done.clone(), item.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let sent = gw
                        .client
                        .post(format!("{}/orders", gw.base))
                        .json(&json!({"item_id": item, "quantity": 1}))
                        .send()
                        .await;
                    match sent {
                        Ok(res) if res.status() == StatusCode::CREATED => {
                            let order: Value = res.json().await.unwrap();
                            let id = order["id"].as_str().unwrap().to_owned();
                            seen.lock().unwrap().accepted.push(id);
                        }
                        Ok(_) => seen.lock().unwrap().refused += 1,
                        Err(_) => {
                            seen.lock().unwrap().failed += 1;
                            // Nothing listens any more: do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    eventually("the stream has orders accepted", || async {
        seen.lock().unwrap().accepted.len() >= 100
    })
    .await;

    // order-svc first, with requests in flight; then every other container at once.
    let mut stopped = vec![stop(first.clone()).await];
    let accepted_while_running = seen.lock().unwrap().accepted.len();
    stopped.extend(futures::future::join_all(others.iter().cloned().map(stop)).await);
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    for (container, took, code) in &stopped {
        println!("{container}: stopped in {took:.1?}, exit code {code}");
        assert_eq!(*code, 0, "{container} did not exit cleanly on docker stop");
        assert!(*took < GRACE, "{container} needed its whole grace period");
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    println!(
        "{} orders accepted ({accepted_while_running} by the time order-svc had stopped), {} refused, {} failed to connect",
        seen.accepted.len(),
        seen.refused,
        seen.failed
    );

    // Bring everything back, then every accepted order must be there, and announced.
    for container in containers.iter().rev() {
        docker(&["start", container]).await;
    }
    eventually("the stack answers again", || async {
        gw.client
            .get(format!("{}/orders?limit=1", gw.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    for id in &seen.accepted {
        let res = gw
            .call(Method::GET, &format!("/orders/{id}"), None, false)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "accepted order {id} is lost");
        let order: Value = res.json().await.unwrap();
        assert_eq!(order["status"], "confirmed", "accepted order {id}");
    }
    eventually(
        "every accepted order's order_created event arrives",
        || async {
            let announced: HashSet<String> = tap
                .of_kind("order_created")
                .iter()
                .filter_map(|e| e.data["order_id"].as_str().map(str::to_owned))
                .collect();
            seen.accepted.iter().all(|id| announced.contains(id))
        },
    )
    .await;
}
