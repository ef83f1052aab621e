//! The event sink that feeds a real Open Zaak directly (`zaaklink serve --sink <Open Zaak>`
//! with `OPEN_ZAAK_CLIENT_ID` / `OPEN_ZAAK_SECRET`): each event goes through the same
//! [`Deliverer`] as in the `deliver` Lambda — ZGW JWT, order and once per place, refusals
//! of silent drops, 4xx parked — with an embedded or in-process delivery log.

use async_trait::async_trait;

use super::log::DeliveryLog;
use super::{ConfigError, Deliverer, Outcome};
use crate::cloudevent::OutboxEvent;
use crate::sink::{EventSink, SinkError};

/// The Open Zaak root of a `--sink` URL: `{root}/events` and `{root}` both name it.
pub fn open_zaak_root(sink: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(sink.trim()).map_err(|e| ConfigError::Invalid {
        name: "--sink / ZAAKLINK_SINK",
        reason: format!("{:?}: {e}", crate::secret::redact(sink)),
    })?;
    let s = url.as_str().trim_end_matches('/');
    Ok(s.strip_suffix("/events").unwrap_or(s).to_owned())
}

pub struct OpenZaakSink<L> {
    deliverer: Deliverer<L>,
    /// At most this many onderwerpobjecten are being delivered at once (None: no bound).
    at_once: Option<tokio::sync::Semaphore>,
}

impl<L: DeliveryLog> OpenZaakSink<L> {
    pub fn new(deliverer: Deliverer<L>) -> Self {
        OpenZaakSink {
            deliverer,
            at_once: None,
        }
    }

    /// Deliver at most `n` onderwerpobjecten' events at once (each object's in order, one
    /// publish at a time: its callers reconcile different objects side by side), so a burst
    /// never has more than `n` POSTs in flight at Open Zaak.
    pub fn at_most(mut self, n: usize) -> Self {
        self.at_once = Some(tokio::sync::Semaphore::new(n.max(1)));
        self
    }
}

#[async_trait]
impl<L: DeliveryLog + 'static> EventSink for OpenZaakSink<L> {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let _permit = match &self.at_once {
            Some(s) => Some(s.acquire().await.expect("the semaphore is never closed")),
            None => None,
        };
        for (i, e) in events.iter().enumerate() {
            let fail = |reason: String| SinkError::Rejected {
                sink: "Open Zaak",
                failed: events.len() - i,
                total: events.len(),
                reason,
            };
            let cloudevent: serde_json::Value =
                serde_json::from_str(&e.json).map_err(|err| fail(format!("event {}: {err}", e.id)))?;
            match self.deliverer.deliver(&cloudevent).await {
                Ok(Outcome::Parked { reason }) => {
                    // logged with alarm=parked by the deliverer; later events go on
                    tracing::error!(event_id = %e.id, reason = %reason, "event parked; fix the cause and re-run `zaaklink sweep`/resync");
                }
                Ok(_) => {}
                Err(err) => return Err(fail(err.to_string())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sink_urls_name_the_root() {
        for (sink, root) in [
            ("https://oz.example/events", "https://oz.example"),
            ("https://oz.example/events/", "https://oz.example"),
            ("https://oz.example", "https://oz.example"),
            ("https://oz.example/base/events", "https://oz.example/base"),
        ] {
            assert_eq!(super::open_zaak_root(sink).unwrap(), root, "{sink}");
        }
    }
}
