//! The delivery queue (rule → SQS → `deliver`): one batch of SQS messages, each the
//! EventBridge event whose `detail` is the CloudEvent (or a bare CloudEvent).
//!
//! Per batch: messages are grouped by object key and each group is delivered in `sequence`
//! order; once one fails, the rest of its group fails too (they would only be early). The
//! answer names the failed message ids (`ReportBatchItemFailures`), so only they come back.
//! A failed message is made visible again after [`retry_delay`] of its receive count
//! (ChangeMessageVisibility): 30 s, 1, 2, 4, 8 min, then every 15 min — with the queue's
//! `maxReceiveCount` of 120 that is more than 24 hours before the dead-letter queue.
//! A parked event (refused, 4xx, no CloudEvent) is sent to the parked queue (the DLQ,
//! alarmed) and its message succeeds.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;

use super::event;
use super::log::DeliveryLog;
use super::{DeliverError, Deliverer, Outcome};
use crate::telemetry::{self, DeliveryOutcome};

/// The queue's `maxReceiveCount` in template.yaml; with [`retry_delay`] > 24 h of retries.
pub const MAX_RECEIVE_COUNT: u32 = 120;

/// How long a failed message stays invisible after its `receive_count`-th receive.
pub fn retry_delay(receive_count: u32) -> Duration {
    let exp = receive_count.saturating_sub(1).min(5);
    Duration::from_secs((30u64 << exp).min(900))
}

/// The side effects on the queues (SQS in AWS, moto in tests).
#[async_trait]
pub trait Queues: Send + Sync {
    /// Put a parked message body on the parked queue (the DLQ).
    async fn park(&self, body: &str) -> Result<(), String>;
    /// Keep a failed message invisible for `delay`.
    async fn delay(&self, queue_arn: &str, receipt_handle: &str, delay: Duration) -> Result<(), String>;
}

/// [`Queues`] on SQS.
pub struct SqsQueues {
    pub client: aws_sdk_sqs::Client,
    /// `PARKED_QUEUE_URL`; `None`: parked events are only logged.
    pub parked_queue_url: Option<String>,
}

#[async_trait]
impl Queues for SqsQueues {
    async fn park(&self, body: &str) -> Result<(), String> {
        let Some(url) = &self.parked_queue_url else {
            tracing::error!(
                alarm = "parked",
                "PARKED_QUEUE_URL is not set: the parked event is only in this log"
            );
            return Ok(());
        };
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "SendMessage to the parked queue {url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
    }

    async fn delay(&self, queue_arn: &str, receipt_handle: &str, delay: Duration) -> Result<(), String> {
        // arn:aws:sqs:<region>:<account>:<name>
        let parts: Vec<&str> = queue_arn.split(':').collect();
        let (Some(account), Some(name)) = (parts.get(4), parts.get(5)) else {
            return Err(format!("not an SQS queue ARN: {queue_arn}"));
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetQueueUrl {name}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?
            .queue_url
            .unwrap_or_default();
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.as_secs() as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "ChangeMessageVisibility: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
    }
}

/// The CloudEvent in a message body: the EventBridge event's `detail`, or the body itself.
pub fn cloudevent_of(body: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("the message body is not JSON: {e}"))?;
    match v.get("detail") {
        Some(detail) if v.get("detail-type").is_some() => Ok(detail.clone()),
        _ => Ok(v),
    }
}

struct Item<'a> {
    message: &'a SqsMessage,
    cloudevent: Value,
    key: String,
    seq: u64,
}

/// Delivers one SQS batch; the answer lists the messages to retry.
pub async fn handle_batch<L: DeliveryLog>(
    d: &Deliverer<L>,
    queues: &dyn Queues,
    batch: &SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut items: Vec<Item> = Vec::new();
    for m in &batch.records {
        let id = m.message_id.clone().unwrap_or_default();
        let body = m.body.as_deref().unwrap_or("");
        match cloudevent_of(body).and_then(|ce| event::parse(&ce).map(|e| (ce, e))) {
            Ok((cloudevent, e)) => items.push(Item {
                message: m,
                cloudevent,
                key: e.place.key,
                seq: e.place.seq,
            }),
            Err(reason) => {
                tracing::error!(message_id = %id, reason = %reason, alarm = "parked", "not a CloudEvent: parked");
                match queues.park(body).await {
                    Ok(()) => telemetry::delivery(DeliveryOutcome::Parked),
                    Err(e) => {
                        tracing::error!(message_id = %id, error = %e, "could not park; retried");
                        fail(queues, &mut response, m).await;
                    }
                }
            }
        }
    }
    // group by object, in place order (stable: the batch order within one place)
    items.sort_by(|a, b| a.key.cmp(&b.key).then(a.seq.cmp(&b.seq)));
    let mut blocked: Option<String> = None;
    for item in &items {
        if blocked.as_deref() == Some(item.key.as_str()) {
            fail(queues, &mut response, item.message).await;
            continue;
        }
        let id = item.message.message_id.as_deref().unwrap_or("");
        match d.deliver(&item.cloudevent).await {
            Ok(Outcome::Parked { reason }) => {
                let body = item.message.body.as_deref().unwrap_or("");
                match queues.park(body).await {
                    Ok(()) => telemetry::delivery(DeliveryOutcome::Parked),
                    Err(e) => {
                        tracing::error!(message_id = %id, error = %e, reason = %reason, "could not park; retried");
                        fail(queues, &mut response, item.message).await;
                    }
                }
            }
            Ok(Outcome::Delivered { .. }) => telemetry::delivery(DeliveryOutcome::Delivered),
            Ok(Outcome::AlreadyDelivered | Outcome::AlreadyPresent) => {
                telemetry::delivery(DeliveryOutcome::AlreadyDelivered)
            }
            Err(e) if !e.retryable() => {
                tracing::error!(message_id = %id, error = %e, alarm = "parked", "parked");
                match queues.park(item.message.body.as_deref().unwrap_or("")).await {
                    Ok(()) => telemetry::delivery(DeliveryOutcome::Parked),
                    Err(_) => fail(queues, &mut response, item.message).await,
                }
            }
            Err(e) => {
                log_retry(id, &e);
                blocked = Some(item.key.clone());
                fail(queues, &mut response, item.message).await;
            }
        }
    }
    response
}

fn log_retry(message_id: &str, e: &DeliverError) {
    match e {
        DeliverError::Early { .. } | DeliverError::InFlight { .. } => {
            tracing::info!(message_id, reason = %e, "retried later")
        }
        _ => tracing::warn!(message_id, error = %e, "delivery failed; retried later"),
    }
}

/// The message goes back to the queue (a `Deliveries` outcome `retried`).
async fn fail(queues: &dyn Queues, response: &mut SqsBatchResponse, m: &SqsMessage) {
    telemetry::delivery(DeliveryOutcome::Retried);
    let id = m.message_id.clone().unwrap_or_default();
    let count: u32 = m
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    if let (Some(arn), Some(handle)) = (&m.event_source_arn, &m.receipt_handle) {
        if let Err(e) = queues.delay(arn, handle, retry_delay(count)).await {
            // the queue's own visibility timeout applies instead
            tracing::warn!(message_id = %id, error = %e, "could not set the retry delay");
        }
    }
    response.add_failure(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_then_cover_a_day() {
        let table = [
            (1, 30),
            (2, 60),
            (3, 120),
            (4, 240),
            (5, 480),
            (6, 900),
            (7, 900),
            (100, 900),
        ];
        for (count, secs) in table {
            assert_eq!(retry_delay(count), Duration::from_secs(secs), "{count}");
        }
        let total: u64 = (1..MAX_RECEIVE_COUNT).map(|c| retry_delay(c).as_secs()).sum();
        assert!(total >= 24 * 3600, "only {total} s of retries");
    }

    #[test]
    fn bodies_are_eventbridge_envelopes_or_bare_cloudevents() {
        let ce = serde_json::json!({"specversion": "1.0", "id": "x"});
        let env = serde_json::json!({"detail-type": "t", "detail": ce});
        assert_eq!(cloudevent_of(&env.to_string()).unwrap(), ce);
        assert_eq!(cloudevent_of(&ce.to_string()).unwrap(), ce);
        assert!(cloudevent_of("nope").is_err());
    }
}
