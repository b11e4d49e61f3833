//! Acking a channel's deliveries in as few frames as their order allows: one `basic.ack` with
//! `multiple` for every run of deliveries whose effects are committed, instead of one frame per
//! delivery.
//!
//! A multiple ack acks every unacked delivery up to its tag, so it may only be sent once every
//! delivery before that tag is settled: up to `concurrency` batches are applied at once and
//! finish in any order, and a batch that commits before an earlier one must not ack the earlier
//! one's deliveries. [`Acks`] keeps the channel's unsettled delivery tags in order; a batch that
//! commits marks its tags settled, and the run of settled tags at the front (if any) is acked
//! with one frame, up to its last tag. A batch that finishes before an earlier one is thus acked
//! by the frame the earlier one sends. A delivery that goes back to the queue (`basic.nack`
//! with requeue, when even forwarding it to a retry level failed) is settled by its own frame.
//! Every frame is sent under one lock, so a multiple ack never reaches the broker before a frame
//! for a tag it covers, and no tag is acked twice (which the broker answers by closing the
//! channel).
//!
//! Should the channel close with deliveries unacked, the broker redelivers them, as before; the
//! handlers' dedupe makes that harmless.

use std::{collections::BTreeMap, sync::Mutex};

use lapin::{
    Channel,
    options::{BasicAckOptions, BasicNackOptions},
};

/// The unsettled deliveries of one channel, in delivery order (delivery tags only grow on a
/// channel), each with whether its effect is committed.
#[derive(Debug, Default)]
struct Unsettled(BTreeMap<u64, bool>);

impl Unsettled {
    fn received(&mut self, tag: u64) {
        self.0.insert(tag, false);
    }

    /// Marks `tags` committed and takes the run of committed deliveries at the front: its last
    /// tag, which one multiple ack settles, or `None` while the first delivery is not committed.
    fn commit(&mut self, tags: impl IntoIterator<Item = u64>) -> Option<u64> {
        for tag in tags {
            if let Some(committed) = self.0.get_mut(&tag) {
                *committed = true;
            }
        }
        self.take_front()
    }

    /// Forgets a delivery settled by a frame of its own (a requeue), then takes the front as
    /// [`Self::commit`] does: the delivery may have held back the ones after it.
    fn forget(&mut self, tag: u64) -> Option<u64> {
        self.0.remove(&tag);
        self.take_front()
    }

    fn take_front(&mut self) -> Option<u64> {
        let mut last = None;
        while let Some(front) = self.0.first_entry() {
            if !*front.get() {
                break;
            }
            last = Some(front.remove_entry().0);
        }
        last
    }
}

/// The acks of one consuming channel.
pub(super) struct Acks {
    channel: Channel,
    queue: String,
    unsettled: Mutex<Unsettled>,
    /// Held while a frame is chosen and sent, so frames leave in the order they were chosen.
    sending: tokio::sync::Mutex<()>,
}

impl Acks {
    /// The acks of deliveries from `channel`, consuming `queue`.
    pub(super) fn new(channel: Channel, queue: &str) -> Self {
        Self {
            channel,
            queue: queue.to_owned(),
            unsettled: Mutex::new(Unsettled::default()),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    /// Records a delivery as it arrives, before any handler sees it.
    pub(super) fn received(&self, tag: u64) {
        self.lock().received(tag);
    }

    /// Acks the deliveries of `tags` now that their effects are committed (or they were
    /// forwarded to a retry level): at once when no earlier delivery is unsettled, else with
    /// the frame of the earlier one's batch.
    pub(super) async fn committed(&self, tags: impl IntoIterator<Item = u64>) {
        let _sending = self.sending.lock().await;
        let front = self.lock().commit(tags);
        self.ack_up_to(front).await;
    }

    /// Puts a delivery back on the queue with a frame of its own.
    pub(super) async fn requeue(&self, tag: u64) {
        let _sending = self.sending.lock().await;
        let options = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        if let Err(e) = self.channel.basic_nack(tag, options).await {
            tracing::warn!(queue = %self.queue, error = %e, "requeue failed; the broker redelivers the event when the channel closes");
        }
        let front = self.lock().forget(tag);
        self.ack_up_to(front).await;
    }

    async fn ack_up_to(&self, tag: Option<u64>) {
        let Some(tag) = tag else { return };
        metrics::counter!("consumer_ack_frames_total", "queue" => self.queue.clone()).increment(1);
        if let Err(e) = self
            .channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await
        {
            // After a reconnect the broker redelivers; the handler's dedupe absorbs it.
            tracing::warn!(queue = %self.queue, error = %e, "ack failed; the events will be redelivered and deduplicated");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Unsettled> {
        // Nothing panics while holding it; should it, the tags are still whole.
        self.unsettled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Unsettled;

    fn received(tags: impl IntoIterator<Item = u64>) -> Unsettled {
        let mut u = Unsettled::default();
        for tag in tags {
            u.received(tag);
        }
        u
    }

    #[test]
    fn a_batch_committed_in_order_is_acked_up_to_its_last_tag() {
        let mut u = received(1..=8);
        assert_eq!(u.commit([1, 2, 3, 4]), Some(4));
        assert_eq!(u.commit([5, 6, 7, 8]), Some(8));
        assert!(u.0.is_empty());
    }

    #[test]
    fn a_batch_that_commits_before_an_earlier_one_waits_for_its_frame() {
        let mut u = received(1..=12);
        assert_eq!(u.commit([9, 10, 11, 12]), None, "1..=8 are not committed");
        assert_eq!(u.commit([5, 6, 7, 8]), None, "1..=4 are not committed");
        assert_eq!(
            u.commit([1, 2, 3, 4]),
            Some(12),
            "one frame settles all three"
        );
        assert!(u.0.is_empty());
    }

    #[test]
    fn deliveries_received_after_a_batch_are_not_covered_by_its_ack() {
        let mut u = received(1..=4);
        u.received(5);
        assert_eq!(u.commit([1, 2, 3, 4]), Some(4));
        u.received(6);
        assert_eq!(u.commit([6]), None, "5 is still being applied");
        assert_eq!(u.commit([5]), Some(6));
    }

    #[test]
    fn a_requeued_delivery_releases_the_ones_it_held_back() {
        // 3 failed and goes back to the queue with its own frame; the ack may not cover it
        // before that frame is sent, and covers the rest after it.
        let mut u = received(1..=6);
        assert_eq!(u.commit([1, 2]), Some(2));
        assert_eq!(u.commit([4, 5, 6]), None, "3 is not settled");
        assert_eq!(u.forget(3), Some(6));
        assert!(u.0.is_empty());
    }

    #[test]
    fn a_tag_committed_twice_or_unknown_changes_nothing() {
        let mut u = received([7, 8]);
        assert_eq!(u.commit([7]), Some(7));
        assert_eq!(
            u.commit([7, 99]),
            None,
            "no frame for what is settled or unknown"
        );
        assert_eq!(u.commit([8]), Some(8));
    }
}
