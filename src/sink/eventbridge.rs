//! The EventBridge sink (DESIGN §4): each CloudEvent as one PutEvents entry with
//! `Source` = NOTIFICATIONS_SOURCE, `DetailType` = the CloudEvent `type`, `Detail` = the whole
//! CloudEvent JSON, `EventBusName` = EVENT_BUS_NAME.
//!
//! PutEvents answers 200 even when entries fail, so every answer is inspected entry by entry.
//! Failed entries — and whole batches whose call failed after the SDK's own retries — are put
//! again, only they and in their order, with exponential backoff and jitter, a bounded number
//! of times. Events are sent in batches of at most 10 in the order given, and a batch is only
//! sent once every earlier batch was accepted, so the order of a record's events holds.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::{EventSink, SinkError};
use crate::cloudevent::OutboxEvent;

/// The most entries one PutEvents call takes.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// Attempts per batch (the first put and its retries), by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// First retry delay, doubled per retry, with jitter, by default.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(100);

const SINK: &str = "EventBridge";

#[derive(Clone, Debug)]
pub struct EventBridgeSink {
    client: Client,
    bus: String,
    source: String,
    max_attempts: u32,
    base_delay: Duration,
}

/// Why the entries of one attempt were not accepted.
enum Failure {
    /// These entries (indices into the attempt's entries) were refused, with their reasons.
    Entries(Vec<(usize, String)>),
    /// The whole call failed; `permanent` when retrying cannot help (missing bus, no rights).
    Call { reason: String, permanent: bool },
}

impl EventBridgeSink {
    /// `bus` is EVENT_BUS_NAME (a name or ARN), `source` NOTIFICATIONS_SOURCE.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        EventBridgeSink {
            client,
            bus: bus.into(),
            source: source.into(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: DEFAULT_BASE_DELAY,
        }
    }

    /// Attempts per batch (at least 1) and the first retry delay.
    pub fn with_retry(mut self, max_attempts: u32, base_delay: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.base_delay = base_delay;
        self
    }

    fn entry(&self, e: &OutboxEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(e.event_type())
            .detail(&e.json)
            .event_bus_name(&self.bus)
            .build()
    }

    /// One PutEvents call; `Ok` when every entry was accepted.
    async fn put_once(&self, batch: &[&OutboxEvent]) -> Result<(), Failure> {
        let entries = batch.iter().map(|e| self.entry(e)).collect();
        match self.client.put_events().set_entries(Some(entries)).send().await {
            Ok(out) => entries_accepted(&out, batch.len()),
            Err(e) => Err(self.call_failed(&e)),
        }
    }

    /// A PutEvents call that failed as a whole (after the SDK's own retries): its reason with
    /// the fix for a missing bus or permission, and whether trying again can help.
    fn call_failed(&self, e: &SdkError<PutEventsError>) -> Failure {
        let code = e.code().unwrap_or_default();
        let hint = match code {
            "ResourceNotFoundException" => format!(
                "; event bus {} does not exist: check EVENT_BUS_NAME / deploy the stack",
                self.bus
            ),
            "AccessDeniedException" => format!(
                "; the role lacks events:PutEvents on event bus {}: check the function's IAM policy",
                self.bus
            ),
            _ => String::new(),
        };
        Failure::Call {
            reason: format!(
                "PutEvents on bus {} failed: {}{hint}",
                self.bus,
                DisplayErrorContext(e)
            ),
            permanent: matches!(
                code,
                "ResourceNotFoundException" | "AccessDeniedException" | "ValidationException"
            ),
        }
    }

    /// Put one batch until every entry is accepted or the attempts run out. `Err` carries
    /// how many of the batch are still not accepted and why.
    async fn put_batch(&self, batch: &[OutboxEvent]) -> Result<(), (usize, String)> {
        let mut todo: Vec<&OutboxEvent> = batch.iter().collect();
        let mut attempt = 1;
        loop {
            let reason = match self.put_once(&todo).await {
                Ok(()) => return Ok(()),
                Err(Failure::Entries(failed)) => {
                    let reason = failed
                        .iter()
                        .map(|(i, why)| format!("event {}: {why}", todo[*i].id))
                        .collect::<Vec<_>>()
                        .join("; ");
                    // Keep only the failed entries, in their relative order.
                    todo = failed.iter().map(|(i, _)| todo[*i]).collect();
                    reason
                }
                Err(Failure::Call { reason, permanent }) => {
                    if permanent {
                        return Err((todo.len(), reason));
                    }
                    reason
                }
            };
            if attempt >= self.max_attempts {
                return Err((todo.len(), format!("after {attempt} attempt(s): {reason}")));
            }
            tracing::warn!(bus = %self.bus, attempt, failed = todo.len(), reason = %reason, "PutEvents not fully accepted, retrying the failed entries");
            tokio::time::sleep(self.delay(attempt)).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with jitter: base · 2^(attempt-1), between half and all of it.
    fn delay(&self, attempt: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1u32 << (attempt - 1).min(10));
        let ms = full.as_millis().min(u128::from(u64::MAX)) as u64;
        Duration::from_millis(rand::random_range(ms / 2..=ms))
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        for (n, batch) in events.chunks(MAX_ENTRIES_PER_CALL).enumerate() {
            if let Err((failed, reason)) = self.put_batch(batch).await {
                let sent_before = n * MAX_ENTRIES_PER_CALL;
                let not_sent = events.len() - sent_before - batch.len();
                let reason = if not_sent > 0 {
                    format!("{reason}; {not_sent} later event(s) not sent, to keep the order")
                } else {
                    reason
                };
                return Err(SinkError::Rejected {
                    sink: SINK,
                    failed: failed + not_sent,
                    total: events.len(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

/// `Ok` when PutEvents accepted all `sent` entries; otherwise the entries to put again and why
/// (all of them when the answer does not say which failed).
fn entries_accepted(out: &PutEventsOutput, sent: usize) -> Result<(), Failure> {
    let results = out.entries();
    if out.failed_entry_count() == 0 && results.iter().all(|r| r.error_code().is_none()) {
        return Ok(());
    }
    let all = |reason: String| Failure::Entries((0..sent).map(|i| (i, reason.clone())).collect());
    if results.len() != sent {
        // The answer cannot be matched to the entries: count them all as failed.
        return Err(all(format!(
            "{} failed entries reported for {} sent, {} results",
            out.failed_entry_count(),
            sent,
            results.len()
        )));
    }
    let failed: Vec<(usize, String)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.error_code().map(|code| {
                (
                    i,
                    format!("{code}: {}", r.error_message().unwrap_or("(no message)")),
                )
            })
        })
        .collect();
    if failed.is_empty() {
        // failed_entry_count > 0 but no entry says which: retry them all.
        return Err(all(format!(
            "FailedEntryCount {} without error codes",
            out.failed_entry_count()
        )));
    }
    Err(Failure::Entries(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_stays_within_bounds() {
        let client = Client::from_conf(
            aws_sdk_eventbridge::Config::builder()
                .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
                .build(),
        );
        let s = EventBridgeSink::new(client, "bus", "src").with_retry(5, Duration::from_millis(100));
        for (attempt, max) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            for _ in 0..20 {
                let d = s.delay(attempt).as_millis();
                assert!(d >= max / 2 && d <= max, "attempt {attempt}: {d}");
            }
        }
        assert_eq!(
            EventBridgeSink::new(s.client.clone(), "b", "s")
                .with_retry(0, Duration::ZERO)
                .max_attempts,
            1
        );
    }
}
