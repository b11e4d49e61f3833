//! Invariants under concurrency, over HTTP: never oversold, never negative, and at rest
//! stock + held + sold = provisioned for every item.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::{StreamExt as _, stream};
use rand::Rng as _;
use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, assert_conserved, spawn_app_with};

const CONCURRENCY: usize = 64;

/// What happened to one reservation attempt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Refused,
    Confirmed,
    Released,
    LeftToExpire,
}

async fn rush(
    app: &TestApp,
    attempts: usize,
    lines_for: impl Fn(usize, u64) -> Vec<(&'static str, u64)>,
) -> Vec<(Vec<(&'static str, u64)>, Fate)> {
    let quantities: Vec<u64> = {
        let mut rng = rand::rng();
        (0..attempts).map(|_| rng.random_range(1..=5)).collect()
    };
    stream::iter(quantities.into_iter().enumerate())
        .map(|(i, q)| {
            let lines = lines_for(i, q);
            async move {
                let rid = format!("r{i}");
                let res = app.reserve(&rid, &lines).await;
                let fate = match res.status() {
                    StatusCode::CREATED => {
                        // Settle most holds right away, as order-svc would; leave some to expire.
                        match i % 4 {
                            0 | 1 => {
                                let c = app.settle("confirm", &rid, &lines).await;
                                if c.status() == StatusCode::OK {
                                    Fate::Confirmed
                                } else {
                                    Fate::LeftToExpire
                                }
                            }
                            2 => {
                                assert_eq!(
                                    app.settle("release", &rid, &lines).await.status(),
                                    StatusCode::OK
                                );
                                Fate::Released
                            }
                            _ => Fate::LeftToExpire,
                        }
                    }
                    StatusCode::CONFLICT => Fate::Refused,
                    other => panic!(
                        "unexpected status {other} for {rid}: {}",
                        res.text().await.unwrap()
                    ),
                };
                (lines, fate)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

#[tokio::test]
async fn thousands_of_concurrent_reservations_never_oversell() {
    let app = spawn_app_with(Options {
        hold: Duration::from_secs(2),
        reaper_interval: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    const STOCK: u64 = 600;
    app.add_item("hot", STOCK, None).await;

    // A watcher samples the stock all along: it is never seen negative (it is unsigned in the
    // API, so a negative value would fail to parse) and never above what was provisioned.
    let samples = AtomicU64::new(0);
    let watch = async {
        for _ in 0..50 {
            let l = app.ledger("hot").await;
            assert!(l.stock + l.reserved <= STOCK);
            assert!(l.sold <= STOCK);
            samples.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (outcomes, ()) = tokio::join!(rush(&app, 3000, |_, q| vec![("hot", q)]), watch);
    assert!(samples.load(Ordering::Relaxed) > 0);

    let sum = |fate: Fate| -> u64 {
        outcomes
            .iter()
            .filter(|(_, f)| *f == fate)
            .map(|(l, _)| l[0].1)
            .sum()
    };
    let confirmed = sum(Fate::Confirmed);
    let refused = outcomes.iter().filter(|(_, f)| *f == Fate::Refused).count();
    assert!(confirmed <= STOCK, "oversold: {confirmed} > {STOCK}");
    assert!(refused > 0, "the rush was meant to exhaust the stock");

    // At rest (every hold left alone has expired): nothing held, and every unit accounted for.
    let settled = platform::testing::eventually(Duration::from_secs(10), || async {
        app.ledger("hot").await.reserved == 0
    })
    .await;
    assert!(
        settled,
        "holds did not expire: {:?}",
        app.ledger("hot").await
    );
    let l = app.ledger("hot").await;
    assert_conserved(&l);
    assert_eq!(l.provisioned, STOCK as i64);
    assert_eq!(l.sold, confirmed, "sold = what was confirmed");
    assert_eq!(l.stock, STOCK - confirmed);
}

#[tokio::test]
async fn concurrent_two_line_reservations_stay_all_or_nothing() {
    let app = spawn_app_with(Options {
        hold: Duration::from_secs(2),
        reaper_interval: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    app.add_item("frame", 300, None).await;
    app.add_item("wheel", 150, None).await;

    // Every reservation wants one frame and two wheels per unit; wheels run out first.
    let outcomes = rush(&app, 1000, |_, q| vec![("frame", q), ("wheel", 2 * q)]).await;
    let confirmed: u64 = outcomes
        .iter()
        .filter(|(_, f)| *f == Fate::Confirmed)
        .map(|(l, _)| l[0].1)
        .sum();

    let settled = platform::testing::eventually(Duration::from_secs(10), || async {
        app.ledger("frame").await.reserved == 0 && app.ledger("wheel").await.reserved == 0
    })
    .await;
    assert!(settled);
    let (frame, wheel) = (app.ledger("frame").await, app.ledger("wheel").await);
    assert_conserved(&frame);
    assert_conserved(&wheel);
    assert_eq!(
        frame.sold, confirmed,
        "a frame sold for each confirmed unit"
    );
    assert_eq!(
        wheel.sold,
        2 * confirmed,
        "and two wheels with it, never one without the other"
    );
    assert!(wheel.sold <= 150);
}
