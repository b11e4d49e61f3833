//! [`ConsumerSettings`]: how a consumer reads its queue, from the environment, and the names of
//! the retry and parking queues derived from the work queue's.

use std::time::Duration;

use crate::config::AmqpConfig;

/// What kind of queue the work queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// A classic queue (one node).
    Classic,
    /// A quorum queue, replicated across a RabbitMQ cluster.
    Quorum,
}

impl std::str::FromStr for QueueType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classic" => Ok(Self::Classic),
            "quorum" => Ok(Self::Quorum),
            other => Err(format!("expected classic or quorum, got {other:?}")),
        }
    }
}

/// How a consumer reads its queue.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The broker and the events exchange.
    pub amqp: AmqpConfig,
    /// The work queue's name (`Q`); the retry and dead-letter queues are named after it.
    pub queue: String,
    /// The routing keys (event types) bound to the queue; `#` for every event.
    pub bindings: Vec<String>,
    /// `basic.qos` prefetch: deliveries in hand at once, per consumer.
    pub prefetch: u16,
    /// Handler calls running at once (at most `prefetch`).
    pub concurrency: usize,
    /// The most deliveries one handler call applies in one transaction (at most `prefetch`).
    pub batch: usize,
    /// How long a batch waits for more deliveries after its first, unless it fills first.
    pub linger: Duration,
    /// The delay of each retry level; a message that failed this many times is parked.
    pub retry_delays: Vec<Duration>,
    /// Classic or quorum work queue.
    pub queue_type: QueueType,
    /// How long an applied event's id is kept in `processed_events`, so that a redelivery within
    /// it is recognised and not applied again.
    pub processed_retention: Duration,
}

impl ConsumerSettings {
    /// Reads `CONSUMER_QUEUE` (default `default_queue`), `CONSUMER_PREFETCH` (256),
    /// `CONSUMER_CONCURRENCY` (4), `CONSUMER_BATCH` (64), `CONSUMER_LINGER` (`10ms`; `0s`
    /// takes only the deliveries already in hand), `RETRY_DELAYS` (`1s,5s,30s`: one retry level
    /// each), `QUEUE_TYPE` (`classic` or `quorum`, default `classic`) and
    /// `PROCESSED_EVENTS_RETENTION` (`7d`, longer than every retry level together), plus the
    /// AMQP section.
    pub fn from_env(
        env: &crate::config::Env<'_>,
        default_queue: &str,
        bindings: &[&str],
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let prefetch: u16 = env.or("CONSUMER_PREFETCH", 256)?;
        if prefetch == 0 {
            return Err(ConfigError::new("CONSUMER_PREFETCH", "must be at least 1"));
        }
        let up_to_prefetch = |name: &'static str, default: usize| {
            let n: usize = env.or(name, default)?;
            if n == 0 || n > usize::from(prefetch) {
                return Err(ConfigError::new(
                    name,
                    "must be from 1 to CONSUMER_PREFETCH",
                ));
            }
            Ok(n)
        };
        let concurrency = up_to_prefetch("CONSUMER_CONCURRENCY", 4)?;
        let batch = up_to_prefetch("CONSUMER_BATCH", 64)?;
        let linger = env.duration_or("CONSUMER_LINGER", Duration::from_millis(10))?;
        let delays: String = env.or("RETRY_DELAYS", "1s,5s,30s".to_owned())?;
        let retry_delays = delays
            .split(',')
            .map(|d| {
                humantime::parse_duration(d.trim())
                    .map_err(|e| ConfigError::new("RETRY_DELAYS", format!("{d:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let processed_retention = env.positive_duration(
            "PROCESSED_EVENTS_RETENTION",
            Duration::from_secs(7 * 86_400),
        )?;
        if processed_retention <= retry_delays.iter().sum::<Duration>() {
            return Err(ConfigError::new(
                "PROCESSED_EVENTS_RETENTION",
                "must be longer than the RETRY_DELAYS together",
            ));
        }
        Ok(Self {
            amqp: AmqpConfig::from_env(env)?,
            queue: env.or("CONSUMER_QUEUE", default_queue.to_owned())?,
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch,
            concurrency,
            batch,
            linger,
            retry_delays,
            queue_type: env.or("QUEUE_TYPE", QueueType::Classic)?,
            processed_retention,
        })
    }

    /// The holding queue of retry level `level` (1-based).
    pub fn retry_queue(&self, level: usize) -> String {
        format!("{}.retry.{level}", self.queue)
    }

    /// The parking queue.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::ConsumerSettings;
    use crate::config::{Env, source_of};

    fn settings(pairs: &[(&str, &str)]) -> Result<ConsumerSettings, crate::config::ConfigError> {
        ConsumerSettings::from_env(&Env::new(&source_of(pairs)), "q", &["#"])
    }

    #[test]
    fn processed_ids_are_kept_longer_than_the_retries_take() {
        let kept = settings(&[]).unwrap().processed_retention;
        assert_eq!(kept.as_secs(), 7 * 86_400);
        let err = settings(&[
            ("RETRY_DELAYS", "1m,10m"),
            ("PROCESSED_EVENTS_RETENTION", "11m"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "PROCESSED_EVENTS_RETENTION");
        assert!(
            settings(&[
                ("RETRY_DELAYS", "1m,10m"),
                ("PROCESSED_EVENTS_RETENTION", "12m")
            ])
            .is_ok()
        );
    }
}
