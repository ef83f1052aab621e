//! Events as JSON lines on stdout (logs go to stderr).

use std::io::Write;

use async_trait::async_trait;

use super::{EventSink, SinkError};
use crate::cloudevent::OutboxEvent;

pub struct StdoutSink;

#[async_trait]
impl EventSink for StdoutSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        for e in events {
            writeln!(out, "{}", e.json)
                .and_then(|_| out.flush())
                .map_err(|err| SinkError::Rejected {
                    sink: "stdout",
                    failed: events.len(),
                    total: events.len(),
                    reason: err.to_string(),
                })?;
        }
        Ok(())
    }
}
