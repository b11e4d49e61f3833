//! [`Backoff`]: the pause between attempts of a long-lived loop that keeps going while the
//! broker, Redis or Postgres is away (a consumer reconnecting, an outbox relay publishing): a
//! short first pause, doubled after every failure up to a ceiling, and back to the first after a
//! success.
//!
//! The schedule is backon's [`ExponentialBuilder`], the one order-svc already retries its calls
//! with. backon's `Retryable` wraps one call and retries it until it succeeds; these loops
//! instead run for the life of the process and decide themselves what counts as a success (a
//! session that got as far as consuming, a batch that went out), so they hold the schedule as a
//! running iterator and start it again with [`Backoff::reset`]. Sleeping is left to the loop
//! ([`crate::shutdown::sleep`]), because some loops wait for other wake-ups at the same time.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The first pause after a failure.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause: a dependency that is back is noticed within this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The pauses of [`ExponentialBuilder`], one per failure.
type Delays = <ExponentialBuilder as BackoffBuilder>::Backoff;

/// Where a retrying loop is in its schedule of pauses.
#[derive(Debug)]
pub struct Backoff {
    schedule: ExponentialBuilder,
    delays: Delays,
    max: Duration,
}

impl Default for Backoff {
    /// From [`MIN_BACKOFF`], doubling up to [`MAX_BACKOFF`].
    fn default() -> Self {
        Self::new(MIN_BACKOFF, MAX_BACKOFF)
    }
}

impl Backoff {
    /// From `min`, doubling after every failure up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        // No jitter: the pauses are exactly min, 2·min, 4·min … max. No limit on attempts: the
        // loop goes on until shutdown, not until the schedule runs out.
        let schedule = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times();
        Self {
            schedule,
            delays: schedule.build(),
            max,
        }
    }

    /// The pause to take after this failure; the one after the next failure is twice as long
    /// (at most the ceiling).
    pub fn next_delay(&mut self) -> Duration {
        // The schedule has no limit on attempts, so it never runs out; were it to, the ceiling
        // is the pause it would have given.
        self.delays.next().unwrap_or(self.max)
    }

    /// Starts the schedule again, after a success: the next failure pauses the shortest time.
    pub fn reset(&mut self) {
        self.delays = self.schedule.build();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Backoff, MAX_BACKOFF, MIN_BACKOFF};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_pause_doubles_up_to_the_ceiling_and_stays_there() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u128> = (0..9).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff.next_delay(), MAX_BACKOFF);
    }

    #[test]
    fn a_success_starts_again_from_the_shortest_pause() {
        let mut backoff = Backoff::new(ms(10), ms(50));
        backoff.next_delay();
        backoff.next_delay();
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(10));
        assert_eq!(Backoff::default().next_delay(), MIN_BACKOFF);
    }
}
