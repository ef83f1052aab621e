//! POST each event to a URL in CloudEvents structured mode
//! (`Content-Type: application/cloudevents+json`, nothing appended), in exactly the
//! documented shape (zaaklink's bus-only `sequence` extension removed). It sends no JWT:
//! to feed Open Zaak itself, `serve` uses `deliver::sink::OpenZaakSink` instead.

use std::time::Duration;

use async_trait::async_trait;

use super::{EventSink, SinkError};
use crate::cloudevent::OutboxEvent;

pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

pub struct HttpSink {
    client: reqwest::Client,
    url: url::Url,
    /// The URL as logs and errors show it (user info redacted).
    shown: String,
}

impl HttpSink {
    pub fn new(url: url::Url, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a rustls reqwest client builds");
        let shown = crate::secret::redact_url(&url);
        HttpSink { client, url, shown }
    }
}

#[async_trait]
impl EventSink for HttpSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        for (i, e) in events.iter().enumerate() {
            let fail = |reason: String| SinkError::Rejected {
                sink: "the HTTP sink",
                failed: events.len() - i,
                total: events.len(),
                reason,
            };
            let resp = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, CLOUDEVENTS_JSON)
                .body(crate::cloudevent::posted_json(&e.json))
                .send()
                .await
                .map_err(|err| fail(format!("POST {}: {}", self.shown, err.without_url())))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(fail(format!(
                    "POST {} answered {status}: {}",
                    self.shown,
                    body.chars().take(500).collect::<String>()
                )));
            }
            tracing::info!(event_id = %e.id, status = status.as_u16(), answer = %body.chars().take(500).collect::<String>(), "event delivered");
        }
        Ok(())
    }
}
