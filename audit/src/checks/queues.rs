//! What waits in the consumers' queues (analytics, notifier): ready messages, messages waiting
//! in a retry level, and dead letters. Waiting messages are work in flight, printed so that a
//! read-side check failing meanwhile can be understood. Dead letters are a WARNING, not a
//! failure: they are poison messages parked on purpose (the tests plant some), and an operator
//! decides what to do with them. A missing work queue fails: the exchange drops the events that
//! consumer should get.

use super::counted;
use crate::{
    report::{Discrepancy, Observation},
    sources::{QueueDepths, SourceError, Sources},
};

/// Reads the queues and judges them.
pub async fn run(sources: &Sources) -> Result<Observation, SourceError> {
    Ok(judge(&sources.queue_depths().await?))
}

/// Missing work queues are discrepancies, dead letters warnings.
pub fn judge(queues: &[QueueDepths]) -> Observation {
    let mut discrepancies = Vec::new();
    let mut warnings = Vec::new();
    let mut figures = Vec::new();
    for q in queues {
        let Some(ready) = q.ready else {
            discrepancies.push(Discrepancy::new(
                q.queue.clone(),
                format!(
                    "queue {} does not exist: the events its consumer should get are dropped \
                     (has the consumer ever started?)",
                    q.queue
                ),
            ));
            figures.push(format!("{} missing", q.queue));
            continue;
        };
        let dead = q.dead.unwrap_or(0);
        figures.push(format!(
            "{} {ready} ready, {} retrying, {dead} dead",
            q.queue, q.retrying
        ));
        if dead > 0 {
            warnings.push(format!(
                "{} parked in {}.dead (poison events; a warning, not a failure)",
                counted(dead, "dead-lettered message"),
                q.queue
            ));
        }
    }
    Observation {
        figures: figures.join("; "),
        discrepancies,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depths(queue: &str, ready: Option<u32>, dead: Option<u32>) -> QueueDepths {
        QueueDepths {
            queue: queue.to_owned(),
            ready,
            retrying: 1,
            dead,
        }
    }

    #[test]
    fn dead_letters_warn_and_a_missing_queue_fails() {
        let seen = judge(&[
            depths("analytics", Some(4), Some(0)),
            depths("notifier", Some(0), Some(2)),
        ]);
        assert!(seen.discrepancies.is_empty());
        assert_eq!(
            seen.figures,
            "analytics 4 ready, 1 retrying, 0 dead; notifier 0 ready, 1 retrying, 2 dead"
        );
        assert_eq!(seen.warnings.len(), 1);
        assert!(seen.warnings[0].contains("not a failure"));
        let seen = judge(&[depths("analytics", None, None)]);
        assert_eq!(seen.discrepancies[0].subject, "analytics");
    }
}
