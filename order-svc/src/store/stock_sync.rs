//! The SQL of the stock sync (see [`crate::stock_sync`]).

use std::time::Duration;

use platform::{outbox, postgres::DbError};

use super::{ORDER_COLUMNS, OrderStore, StockState, order_event, order_from_row};
use crate::domain::Order;

/// An order waiting for its stock to be confirmed or returned.
#[derive(Debug, Clone)]
pub struct StockTask {
    /// The order.
    pub order: Order,
    /// What is pending.
    pub stock: StockState,
}

/// What the stock sync decided for one order.
#[derive(Debug, Clone)]
pub enum StockOutcome {
    /// Its units now stand here.
    Settled(StockState),
    /// Its hold ran out before it could be confirmed: the order is cancelled (its units are
    /// already back on sale) with this reason.
    Lapsed(String),
}

impl OrderStore {
    /// Takes up to `limit` orders whose units still have to be confirmed or returned and that
    /// nobody touched for `grace`, runs `work` on each inside one transaction that keeps them
    /// locked (`FOR UPDATE SKIP LOCKED`: replicas share the work), and records what `work`
    /// decided.
    pub async fn sync_stock<F, Fut>(
        &self,
        grace: Duration,
        limit: i64,
        mut work: F,
    ) -> Result<usize, DbError>
    where
        F: FnMut(StockTask) -> Fut,
        Fut: std::future::Future<Output = Option<StockOutcome>>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ORDER_COLUMNS} FROM orders \
                     WHERE stock IN ('pending_confirm', 'pending_return') \
                     AND updated_at < now() - make_interval(secs => $1) \
                     ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED"
                ),
                &[&grace.as_secs_f64(), &limit],
            )
            .await?;
        let mut done = 0;
        for row in &rows {
            let order = order_from_row(row)?;
            let stock_text: String = row.get("stock");
            let stock = StockState::parse(&stock_text)
                .ok_or_else(|| anyhow::anyhow!("unknown stock state {stock_text:?}"))?;
            let id = order.id;
            match work(StockTask { order, stock }).await {
                Some(StockOutcome::Settled(state)) => {
                    tx.execute(
                        "UPDATE orders SET stock = $2 WHERE id = $1",
                        &[&id, &state.as_str()],
                    )
                    .await?;
                    done += 1;
                }
                Some(StockOutcome::Lapsed(reason)) => {
                    let now = platform::event::now_micros();
                    let row = tx
                        .query_one(
                            &format!(
                                "UPDATE orders SET status = 'cancelled', reason = $2, stock = 'returned', updated_at = $3 \
                                 WHERE id = $1 RETURNING {ORDER_COLUMNS}"
                            ),
                            &[&id, &reason, &now],
                        )
                        .await?;
                    let cancelled = order_from_row(&row)?;
                    outbox::enqueue(&tx, &order_event(&cancelled)).await?;
                    done += 1;
                }
                None => {}
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}
