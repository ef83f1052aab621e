//! The event-sink port: where CloudEvents go (stdout, an HTTP endpoint, EventBridge).

use std::sync::Mutex;

use async_trait::async_trait;

use crate::cloudevent::OutboxEvent;

pub mod eventbridge;
pub mod http;
pub mod stdout;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Not every event was accepted; they stay in the outbox and are put again later.
    #[error("{failed} of {total} events were not accepted by {sink}: {reason}; they stay in the outbox and are retried")]
    Rejected {
        sink: &'static str,
        failed: usize,
        total: usize,
        reason: String,
    },
}

/// Publishes events in the order given. `Ok` only when every event was accepted.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError>;
}

/// Collects events in memory (tests, benchmarks, the demo's summary).
#[derive(Default)]
pub struct MemorySink {
    pub events: Mutex<Vec<OutboxEvent>>,
}

impl MemorySink {
    pub fn take(&self) -> Vec<OutboxEvent> {
        std::mem::take(&mut self.events.lock().unwrap())
    }
}

#[async_trait]
impl EventSink for MemorySink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}
