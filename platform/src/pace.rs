//! [`Pace`]: how fast a background walk may go (the hold reaper's pages, the outbox sweep's
//! SCANs, a retention pass's deletes), so that it takes a bounded share of what it walks over.

use std::{num::NonZeroU32, time::Duration};

use tokio::time::Instant;

/// At most `per_second` units of work a second, a step of several units at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    per_second: NonZeroU32,
}

impl Pace {
    /// A pace of `per_second` units a second.
    pub const fn new(per_second: NonZeroU32) -> Self {
        Self { per_second }
    }

    /// How long a step of `units`, begun at `started`, must still wait before the next one so
    /// that the walk keeps to the pace (zero when the step itself took its share).
    pub fn rest(&self, started: Instant, units: u64) -> Duration {
        let share = Duration::from_secs_f64(units as f64 / f64::from(self.per_second.get()));
        share.saturating_sub(started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{num::NonZeroU32, time::Duration};

    use super::Pace;

    #[test]
    fn a_step_waits_out_what_is_left_of_its_share() {
        let pace = Pace::new(NonZeroU32::new(2_000).unwrap());
        let now = tokio::time::Instant::now();
        let rest = pace.rest(now, 500);
        assert!(rest > Duration::from_millis(240) && rest <= Duration::from_millis(250));
        let rest = pace.rest(now - Duration::from_millis(100), 500);
        assert!(rest > Duration::from_millis(140) && rest <= Duration::from_millis(150));
        let slow = pace.rest(now - Duration::from_millis(400), 500);
        assert_eq!(slow, Duration::ZERO, "a slow step waits no more");
    }
}
