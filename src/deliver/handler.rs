//! The deliverer: one CloudEvent to Open Zaak, in its onderwerpobject's order, once
//! (DESIGN §4 "To Open Zaak"; the rule is in [`super::log`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use url::Url;

use super::event::{self, DeliveryEvent};
use super::log::{ClaimOutcome, Completion, DeliveryLog};
use super::openzaak::{classify, AnswerClass, OpenZaakClient, PostResult};
use super::{ConfigError, DeliverError, OpenZaakCredentials};
use crate::reconcile::EventKind;
use crate::telemetry;

/// What happened to one CloudEvent (every variant is final: the message is done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Open Zaak answered 2xx.
    Delivered { status: u16, body: String },
    /// Its place was applied before (a repeat), or it is a redriven parked event whose
    /// object has moved on since (sending it would undo later transitions); nothing was sent.
    AlreadyDelivered,
    /// An earlier attempt of this `gekoppeld` had already created the ZaakObject (checked
    /// with `OPEN_ZAAK_ZAKEN_API_READ`); not sent again.
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
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Attempts at recording the outcome of a POST that Open Zaak answered.
const COMPLETE_ATTEMPTS: u32 = 3;

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
            zaken_api_read: false,
        })
    }

    /// Read `zaakobjecten` (`OPEN_ZAAK_ZAKEN_API_READ`): before re-POSTing a `gekoppeld` an
    /// earlier attempt may have delivered, and after each 2xx to verify it was applied.
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
                ClaimOutcome::Claimed(c) => return self.claimed(&ev, &owner, c.earlier_attempt).await,
            }
        }
        Err(DeliverError::InFlight { event_id: ev.id })
    }

    /// The place is ours: refuse, check, POST, record.
    async fn claimed(
        &self,
        ev: &DeliveryEvent,
        owner: &str,
        earlier_attempt: bool,
    ) -> Result<Outcome, DeliverError> {
        let (key, n) = (ev.place.key.as_str(), ev.place.seq);
        if let Some(reason) = &ev.refusal {
            tracing::error!(event_id = %ev.id, key, seq = n, reason = %reason,
                alarm = "parked", "refused before POST: Open Zaak would accept it with 202 and drop it; parked");
            self.finish(key, n, owner, Completion::Parked).await?;
            return Ok(Outcome::Parked {
                reason: reason.clone(),
            });
        }
        if earlier_attempt && self.zaken_api_read && ev.kind == Some(EventKind::Gekoppeld) {
            match self.client.zaakobject_exists(&ev.zaak, &ev.link_to).await {
                Ok(true) => {
                    tracing::info!(event_id = %ev.id, key, seq = n,
                        "an earlier attempt created the ZaakObject already: not sent again");
                    self.finish(key, n, owner, Completion::Applied).await?;
                    return Ok(Outcome::AlreadyPresent);
                }
                Ok(false) => {}
                Err(e) => {
                    self.log.release(key, owner).await?;
                    return Err(DeliverError::Request {
                        url: "zaakobjecten".into(),
                        reason: e,
                    });
                }
            }
        }
        let result = match self.client.post_event(ev.body.clone()).await {
            Ok(r) => r,
            Err(e) => {
                self.log.release(key, owner).await?;
                return Err(e);
            }
        };
        match result {
            PostResult::Answered { status, body } => match classify(status) {
                AnswerClass::Success => {
                    if let Some(time) = ev.time {
                        let lag = chrono::Utc::now().signed_duration_since(time);
                        telemetry::delivery_lag(lag.num_milliseconds() as f64);
                    }
                    tracing::info!(event_id = %ev.id, event_type = %ev.event_type, key, seq = n,
                        status, body = %body, "delivered to Open Zaak");
                    if let Some(reason) = self.not_applied(ev).await {
                        tracing::error!(event_id = %ev.id, key, seq = n, status, reason = %reason,
                            alarm = "accepted_not_applied", "Open Zaak accepted the event but did not apply it; parked");
                        self.finish(key, n, owner, Completion::Parked).await?;
                        return Ok(Outcome::Parked { reason });
                    }
                    self.finish(key, n, owner, Completion::Applied).await?;
                    Ok(Outcome::Delivered { status, body })
                }
                AnswerClass::Retry => {
                    tracing::warn!(event_id = %ev.id, key, seq = n, status, body = %body,
                        "Open Zaak is unavailable; retried later");
                    self.log.release(key, owner).await?;
                    Err(DeliverError::Rejected {
                        event_id: ev.id.clone(),
                        status,
                        body,
                    })
                }
                AnswerClass::Park => {
                    let reason = format!(
                        "Open Zaak answered {status}: {body} (a configuration error: check the Applicatie's client id, secret and autorisaties)"
                    );
                    tracing::error!(event_id = %ev.id, key, seq = n, status, body = %body,
                        alarm = "parked", "Open Zaak refused the event; parked, later events go on");
                    self.finish(key, n, owner, Completion::Parked).await?;
                    Ok(Outcome::Parked { reason })
                }
            },
            PostResult::NotSent(reason) | PostResult::Unknown(reason) => {
                tracing::warn!(event_id = %ev.id, key, seq = n, reason = %reason,
                    "request to Open Zaak failed; retried later");
                self.log.release(key, owner).await?;
                Err(DeliverError::Request {
                    url: crate::secret::redact_url(self.client.events_url()),
                    reason,
                })
            }
        }
    }

    /// With read access (`OPEN_ZAAK_ZAKEN_API_READ`): after a 2xx, whether the ZaakObject is
    /// there (`gekoppeld`) or gone (`ontkoppeld`). `Some(why)` when Open Zaak said yes and did
    /// nothing — typically it could not GET `linkTo` (no Service with Open Klant's token).
    /// A failing read is logged and not held against the event.
    async fn not_applied(&self, ev: &DeliveryEvent) -> Option<String> {
        if !self.zaken_api_read {
            return None;
        }
        let want = match ev.kind? {
            EventKind::Gekoppeld => true,
            EventKind::Ontkoppeld => false,
        };
        match self.client.zaakobject_exists(&ev.zaak, &ev.link_to).await {
            Ok(found) if found == want => None,
            Ok(_) => Some(format!(
                "Open Zaak answered 2xx to {} but the ZaakObject of zaak {} for {} is {}: it dropped the event \
                 (can Open Zaak GET linkTo? configure a Service with Open Klant's API root and token in Open Zaak)",
                ev.event_type,
                ev.zaak,
                ev.link_to,
                if want { "missing" } else { "still there" }
            )),
            Err(e) => {
                tracing::warn!(event_id = %ev.id, error = %e, "could not verify the event was applied");
                None
            }
        }
    }

    /// Record the end of a claimed place, retrying a failing log a few times: after a 2xx
    /// a lost mark would mean a second POST.
    async fn finish(&self, key: &str, n: u64, owner: &str, how: Completion) -> Result<(), DeliverError> {
        let mut last = None;
        for attempt in 0..COMPLETE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            match self.log.complete(key, n, owner, how).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::warn!(key, seq = n, "the claim expired and was taken over before it was recorded; the other attempt records it");
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt").into())
    }
}
