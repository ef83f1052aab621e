//! The deliverer: one CloudEvent to Open Zaak, in its onderwerpobject's order, once
//! (DESIGN §4 "To Open Zaak"; the rule is in [`super::log`]). Here the order rule up to the
//! claim; then [`post`] (refuse, POST, the answer), [`verify`] (Open Zaak's zaakobjecten read
//! before and after the POST) and [`record`] (the end of the claimed place in the log).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use url::Url;

use super::event;
use super::log::{ClaimOutcome, DeliveryLog};
use super::openzaak::OpenZaakClient;
use super::{ConfigError, DeliverError, OpenZaakCredentials};
use crate::telemetry;

mod post;
mod record;
mod verify;

/// What happened to one CloudEvent (every variant is final: the message is done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Open Zaak answered 2xx.
    Delivered { status: u16, body: String },
    /// Its place was applied before (a repeat), or it is a redriven parked event whose
    /// object has moved on since (sending it would undo later transitions); nothing was sent.
    AlreadyDelivered,
    /// Open Zaak already holds this `gekoppeld`'s ZaakObject — an earlier attempt whose answer
    /// was lost created it, or it was there before zaaklink (onboarding, a restore); checked
    /// with `OPEN_ZAAK_ZAKEN_API_READ`; not sent again.
    AlreadyPresent,
    /// It can never be delivered as it is: refused before the POST (Open Zaak would drop it
    /// silently) or answered with a 4xx. Its object's later events go on; the event goes to
    /// the parked queue (alarmed) for a redrive once the cause is fixed.
    Parked { reason: String },
}

/// POSTs CloudEvents to Open Zaak, in order per onderwerpobject, once per place.
pub struct Deliverer<L> {
    client: OpenZaakClient,
    log: L,
    lease: Duration,
    zaken_api_read: bool,
    /// Whether the "read refused" error was logged (once per process: per cold start).
    read_refusal_logged: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<L: DeliveryLog> Deliverer<L> {
    /// `open_zaak_root` is Open Zaak's base URL; events go to `{root}/events`.
    pub fn new(
        open_zaak_root: &str,
        credentials: OpenZaakCredentials,
        log: L,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Deliverer {
            client: OpenZaakClient::new(open_zaak_root, credentials, timeout)?,
            log,
            // the claim outlives the read check, the POST and the verification with their
            // timeouts, with a margin
            lease: timeout * 3 + Duration::from_secs(10),
            zaken_api_read: true,
            read_refusal_logged: AtomicBool::new(false),
        })
    }

    /// Read `zaakobjecten` (`OPEN_ZAAK_ZAKEN_API_READ`, on by default): before the first
    /// `gekoppeld` of an object and before re-POSTing one an earlier attempt may have
    /// delivered (skip it when the ZaakObject is there), at an epoch start (remove the
    /// relations a restored state does not know), and after each 2xx (verify it was applied).
    pub fn with_zaken_api_read(mut self, on: bool) -> Self {
        self.zaken_api_read = on;
        self
    }

    /// How long a claim lasts (tests shorten it).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn events_url(&self) -> &Url {
        self.client.events_url()
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    /// Delivers the CloudEvent carried in an EventBridge event's `detail`.
    pub async fn deliver_eventbridge(
        &self,
        event: &EventBridgeEvent<Value>,
    ) -> Result<Outcome, DeliverError> {
        tracing::debug!(
            eventbridge_id = event.id.as_deref().unwrap_or(""),
            detail_type = %event.detail_type,
            source = %event.source,
            "received EventBridge event"
        );
        self.deliver(&event.detail).await
    }

    /// Delivers one CloudEvent (structured mode). `Err` with [`DeliverError::retryable`]:
    /// try again later; other errors: the input is no CloudEvent (park it).
    pub async fn deliver(&self, cloudevent: &Value) -> Result<Outcome, DeliverError> {
        let ev = event::parse(cloudevent).map_err(DeliverError::NotACloudEvent)?;
        let (key, n) = (ev.place.key.as_str(), ev.place.seq);
        if !ev.place.ordered {
            tracing::info!(event_id = %ev.id, "event without a sequence (from before the upgrade): delivered once per id, unordered");
        }
        // A few rounds: the state may move between the read and the claim.
        for _ in 0..3 {
            let state = self.log.state(key).await?;
            let expect = if state.applied >= n {
                if state.applied == n && state.parked_seq == Some(n) {
                    n // a redrive of the parked latest place: may be applied again
                } else {
                    // a repeat; or a redriven parked event its object has moved past since
                    // (sending it would undo later transitions)
                    tracing::info!(event_id = %ev.id, key, seq = n, applied = state.applied,
                        "already applied (or superseded by later events): skipped");
                    if state.applied > n {
                        telemetry::stale_event_skipped();
                    }
                    return Ok(Outcome::AlreadyDelivered);
                }
            } else if crate::epoch::is_epoch_start(n) {
                // the first place of a later epoch (a restored links table, crate::epoch):
                // everything applied so far is older; it does not wait for n − 1
                state.applied
            } else if state.applied + 1 < n {
                tracing::info!(event_id = %ev.id, key, seq = n, applied = state.applied,
                    "early: waits for the events before it");
                return Err(DeliverError::Early {
                    event_id: ev.id.clone(),
                    seq: n,
                    applied: state.applied,
                });
            } else {
                n - 1
            };
            if state.live_claim(now_ms()) {
                return Err(DeliverError::InFlight {
                    event_id: ev.id.clone(),
                });
            }
            let owner = uuid::Uuid::new_v4().to_string();
            let now = now_ms();
            match self
                .log
                .claim(key, n, expect, &owner, now, now + self.lease.as_millis() as u64)
                .await?
            {
                ClaimOutcome::Moved => continue,
                ClaimOutcome::Busy => {
                    return Err(DeliverError::InFlight {
                        event_id: ev.id.clone(),
                    })
                }
                ClaimOutcome::Claimed(c) => {
                    let first = state.applied == 0;
                    return self.claimed(&ev, &owner, c.earlier_attempt, first).await;
                }
            }
        }
        Err(DeliverError::InFlight { event_id: ev.id })
    }
}
