//! Holds: reserve, confirm, release and cancel one line of a reservation, expire holds past
//! their deadline (for the reaper), and read the live holds (for the auditor).

use std::time::Duration;

use anyhow::Context as _;
use platform::redis::LuaScript as Script;

use super::{StockStore, StoreError, duration_ms, now_ms};
use crate::domain::{ItemId, Line, ReservationId};

pub use platform::reservation::HoldState;

/// What a reserve, confirm, release or cancel of one line found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// The line's record is (now) in this state with this quantity; for a live hold, its
    /// deadline and the item's available stock after it.
    Recorded {
        /// The record's state after the call.
        state: HoldState,
        /// Its quantity.
        quantity: u64,
        /// For a live hold: its deadline in ms since the epoch.
        deadline_ms: Option<i64>,
        /// Whether this call made the record (false: a retry found it).
        fresh: bool,
    },
    /// Not enough available stock for the line.
    Insufficient {
        /// Units available when the script ran.
        available: u64,
    },
    /// The item does not exist.
    UnknownItem,
    /// There is no record of this reservation for this item.
    UnknownReservation,
    /// The reservation exists for this item with another quantity.
    Conflict {
        /// Its state.
        state: HoldState,
        /// Its quantity.
        quantity: u64,
    },
}

impl StockStore {
    /// Holds `line.quantity` units of `line.item_id` for `rid` until `now + hold`.
    pub async fn reserve_line(
        &self,
        rid: &ReservationId,
        line: &Line,
        hold: Duration,
    ) -> Result<LineOutcome, StoreError> {
        if self.settings.default_stock.is_some() {
            // The item may be created by the script: index it first (see the module docs).
            self.add_to_index(&line.item_id).await?;
        }
        let reply = self
            .run_item_script(
                &self.scripts.reserve,
                &line.item_id,
                &[
                    rid.to_string(),
                    line.quantity.get().to_string(),
                    duration_ms(hold).to_string(),
                    self.settings
                        .default_stock
                        .map_or_else(String::new, |s| s.get().to_string()),
                    self.settings.default_threshold.get().to_string(),
                ],
            )
            .await?;
        parse_line_outcome(&reply)
    }

    /// Turns `rid`'s hold on `line.item_id` into a sale.
    pub async fn confirm_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.confirm, rid, line).await
    }

    /// Gives `rid`'s hold on `line.item_id` back.
    pub async fn release_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.release, rid, line).await
    }

    /// Puts `rid`'s sold units of `line.item_id` back on sale.
    pub async fn cancel_line(
        &self,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        self.line_script(&self.scripts.cancel, rid, line).await
    }

    async fn line_script(
        &self,
        script: &Script,
        rid: &ReservationId,
        line: &Line,
    ) -> Result<LineOutcome, StoreError> {
        let reply = self
            .run_item_script(
                script,
                &line.item_id,
                &[rid.to_string(), line.quantity.get().to_string()],
            )
            .await?;
        parse_line_outcome(&reply)
    }

    /// Gives back the item's holds that are past their deadline; returns how many expired.
    pub async fn expire_due(&self, id: &ItemId) -> Result<u64, StoreError> {
        let reply = self.run_item_script(&self.scripts.expire, id, &[]).await?;
        Ok(match reply.as_slice() {
            [status, _units, count] if status == "ok" => count.parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// Which of `ids` have a hold past its deadline now.
    pub async fn with_due_holds(&self, ids: &[String]) -> Result<Vec<ItemId>, StoreError> {
        let now = now_ms();
        let parsed: Vec<ItemId> = ids.iter().filter_map(|id| ItemId::parse(id).ok()).collect();
        self.with_timeout(async {
            let mut conn = self.pool.get().await?;
            let counts: Vec<redis::Cmd> = parsed
                .iter()
                .map(|id| {
                    let mut cmd = redis::cmd("ZCOUNT");
                    cmd.arg(self.keys(id).expiry).arg("-inf").arg(now);
                    cmd
                })
                .collect();
            let counts: Vec<u64> = conn.query_all(&counts).await?;
            Ok(parsed
                .into_iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(id, _)| id)
                .collect())
        })
        .await
    }

    /// The units held by the live holds of each of `ids` (read-only, for the auditor): the sum
    /// of the quantities of the records in state `held` in `item:{id}:holds`, which `held` must
    /// equal. The hashes keep a week of closed records, so they are read with HSCAN (1000
    /// fields a call, pipelined over the items, one timeout per round) rather than HGETALL,
    /// which would block Redis on a large hash; a record the scan returns twice counts once.
    pub async fn live_held(&self, ids: &[String]) -> Result<Vec<u64>, StoreError> {
        let mut live: Vec<std::collections::HashMap<String, u64>> =
            vec![Default::default(); ids.len()];
        // (index into ids, cursor) of the scans not finished yet.
        let mut scans: Vec<(usize, u64)> = (0..ids.len()).map(|i| (i, 0)).collect();
        while !scans.is_empty() {
            let pages: Vec<(u64, Vec<String>)> = self
                .with_timeout(async {
                    let mut conn = self.pool.get().await?;
                    let pages: Vec<redis::Cmd> = scans
                        .iter()
                        .map(|&(i, cursor)| {
                            let mut cmd = redis::cmd("HSCAN");
                            cmd.arg(format!("{}:holds", self.item_key(&ids[i])))
                                .arg(cursor)
                                .arg("COUNT")
                                .arg(1000);
                            cmd
                        })
                        .collect();
                    Ok(conn.query_all(&pages).await?)
                })
                .await?;
            let mut next = Vec::new();
            for (&(i, _), (cursor, flat)) in scans.iter().zip(pages) {
                for pair in flat.chunks_exact(2) {
                    let (rid, record) = (&pair[0], &pair[1]);
                    let (state, quantity) = record
                        .split_once(':')
                        .and_then(|(s, q)| Some((HoldState::parse(s)?, q.parse::<u64>().ok()?)))
                        .with_context(|| {
                            format!(
                                "item {}: hold record {rid} is malformed: {record:?}",
                                ids[i]
                            )
                        })?;
                    if state == HoldState::Held {
                        live[i].insert(rid.clone(), quantity);
                    }
                }
                if cursor != 0 {
                    next.push((i, cursor));
                }
            }
            scans = next;
        }
        Ok(live.iter().map(|holds| holds.values().sum()).collect())
    }
}

fn parse_line_outcome(reply: &[String]) -> Result<LineOutcome, StoreError> {
    let num = |s: &String| -> Result<u64, StoreError> {
        Ok(s.parse::<u64>()
            .with_context(|| format!("script reply {reply:?}"))?)
    };
    let bad = || StoreError::from(anyhow::anyhow!("unexpected script reply {reply:?}"));
    Ok(match reply {
        [s] if s == "unknown_item" => LineOutcome::UnknownItem,
        [s] if s == "unknown_reservation" => LineOutcome::UnknownReservation,
        [s, available] if s == "insufficient" => LineOutcome::Insufficient {
            available: num(available)?,
        },
        [s, state, qty] if s == "conflict" => LineOutcome::Conflict {
            state: HoldState::parse(state).ok_or_else(bad)?,
            quantity: num(qty)?,
        },
        [s, qty, deadline, _stock, new] if s == "held" => LineOutcome::Recorded {
            state: HoldState::Held,
            quantity: num(qty)?,
            deadline_ms: Some(
                deadline
                    .parse::<f64>()
                    .map(|d| d as i64)
                    .map_err(|_| bad())?,
            ),
            fresh: new == "new",
        },
        [state, qty] => LineOutcome::Recorded {
            state: HoldState::parse(state).ok_or_else(bad)?,
            quantity: num(qty)?,
            deadline_ms: None,
            fresh: false,
        },
        _ => return Err(bad()),
    })
}
