//! The deliverer: one CloudEvent to Open Zaak, in its onderwerpobject's order, once
//! (DESIGN §4 "To Open Zaak"; the rule is in [`super::log`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use url::Url;

use super::event::{self, DeliveryEvent};
use super::log::{ClaimOutcome, Completion, DeliveryLog};
use super::openzaak::{classify, AnswerClass, OpenZaakClient, PostResult, ReadError};
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

/// What the zaakobjecten read of one event found.
enum Relations {
    /// The zaken Open Zaak relates to the event's `linkTo`.
    Zaken(Vec<String>),
    /// The read is refused or unusable (metric `VerificationUnavailable`, logged once):
    /// delivery goes on as without the read.
    Unavailable,
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

    /// The place is ours: refuse, check, POST, record. `first`: nothing of this object was
    /// applied before (its first delivery: onboarding).
    async fn claimed(
        &self,
        ev: &DeliveryEvent,
        owner: &str,
        earlier_attempt: bool,
        first: bool,
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
        let gekoppeld = ev.kind == Some(EventKind::Gekoppeld);
        let epoch_start = crate::epoch::is_epoch_start(n);
        // a refused read is counted once per delivery: the verification is then skipped
        let mut read_unavailable = false;
        if self.zaken_api_read && (epoch_start || (gekoppeld && (earlier_attempt || first))) {
            let zaken = match self.relations(ev).await {
                Ok(Relations::Zaken(zaken)) => zaken,
                Ok(Relations::Unavailable) => {
                    read_unavailable = true;
                    Vec::new()
                }
                Err(e) => {
                    self.log.release(key, owner).await?;
                    return Err(e);
                }
            };
            if epoch_start {
                if let Err(e) = self.remove_unknown(ev, &zaken).await {
                    self.log.release(key, owner).await?;
                    return Err(e);
                }
            }
            if gekoppeld && zaken.iter().any(|z| self.client.same_zaak(z, &ev.zaak)) {
                tracing::info!(event_id = %ev.id, key, seq = n, earlier_attempt, first, epoch_start,
                    "Open Zaak holds this ZaakObject already (an earlier attempt, or it was there before): not sent again");
                self.finish(key, n, owner, Completion::Applied).await?;
                return Ok(Outcome::AlreadyPresent);
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
                    let not_applied = if read_unavailable {
                        None
                    } else {
                        self.not_applied(ev).await
                    };
                    if let Some(reason) = not_applied {
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
        let found = match self.client.relations(&ev.link_to).await {
            Ok(zaken) => zaken.iter().any(|z| self.client.same_zaak(z, &ev.zaak)),
            Err(ReadError::Failed(e)) => {
                tracing::warn!(event_id = %ev.id, error = %e, "could not verify the event was applied (Open Zaak unavailable); counted as delivered");
                return None;
            }
            Err(e) => {
                self.read_unavailable(ev, &e);
                return None;
            }
        };
        if found == want {
            return None;
        }
        Some(format!(
            "Open Zaak answered 2xx to {} but the ZaakObject of zaak {} for {} is {}: it dropped the event \
             (can Open Zaak GET linkTo? configure a Service with Open Klant's API root and token in Open Zaak; \
             is the zaak known to Open Zaak?)",
            ev.event_type,
            ev.zaak,
            ev.link_to,
            if want { "missing" } else { "still there" }
        ))
    }

    /// The zaken Open Zaak relates to the event's `linkTo`. `Err`: Open Zaak is unavailable
    /// now (retried later: without the answer a POST could duplicate).
    async fn relations(&self, ev: &DeliveryEvent) -> Result<Relations, DeliverError> {
        match self.client.relations(&ev.link_to).await {
            Ok(zaken) => Ok(Relations::Zaken(zaken)),
            Err(ReadError::Failed(reason)) => {
                tracing::warn!(event_id = %ev.id, reason = %reason,
                    "could not read Open Zaak's zaakobjecten before the POST; retried later");
                Err(DeliverError::Request {
                    url: "zaakobjecten".into(),
                    reason,
                })
            }
            Err(e) => {
                self.read_unavailable(ev, &e);
                Ok(Relations::Unavailable)
            }
        }
    }

    /// A refused or unusable zaakobjecten read: metric `VerificationUnavailable` every time
    /// (alarmed), the cause and the fix logged once per process (cold start).
    fn read_unavailable(&self, ev: &DeliveryEvent, e: &ReadError) {
        telemetry::verification_unavailable();
        if self.read_refusal_logged.swap(true, Ordering::SeqCst) {
            tracing::debug!(event_id = %ev.id, error = %e, "zaakobjecten read unavailable (logged once)");
            return;
        }
        let fix = match e {
            ReadError::Refused { .. } => {
                "the Open Zaak Applicatie lacks the scope zaken.lezen: give it zaken.lezen on the same zaaktypen \
                 as zaken.bijwerken, with maximale vertrouwelijkheidaanduiding zeer_geheim (DEPLOY.md, \"The Open Zaak \
                 Applicatie\"); or set OPEN_ZAAK_ZAKEN_API_READ=false to deliver without the checks"
            }
            _ => "check that OPEN_ZAAK_ROOT is Open Zaak's base URL (zaakobjecten are read at {root}/zaken/api/v1/zaakobjecten)",
        };
        tracing::error!(event_id = %ev.id, error = %e, fix, alarm = "verification_unavailable",
            "Open Zaak's zaakobjecten cannot be read: events are delivered without the checks against duplicates \
             and silent drops (metric VerificationUnavailable; logged once per cold start)");
    }

    /// At an epoch start (a restored links table): Open Zaak may relate `linkTo` to zaken the
    /// restored state does not know (delivered after the restore point). After this event the
    /// object is related to the event's zaak (`gekoppeld`) or to none (`ontkoppeld`), so every
    /// other zaak's relation is removed with a `zaak-ontkoppeld` of its own.
    async fn remove_unknown(&self, ev: &DeliveryEvent, zaken: &[String]) -> Result<(), DeliverError> {
        let mut done: Vec<&String> = Vec::new();
        for zaak in zaken.iter().filter(|z| !self.client.same_zaak(z, &ev.zaak)) {
            if done.contains(&zaak) {
                continue;
            }
            done.push(zaak);
            let body = event::correction(ev, zaak).map_err(DeliverError::NotACloudEvent)?;
            match self.client.post_event(body).await? {
                PostResult::Answered { status, .. } if classify(status) == AnswerClass::Success => {
                    tracing::warn!(event_id = %ev.id, key = %ev.place.key, zaak = %zaak,
                        "epoch start: Open Zaak related the object to a zaak the restored state does not know; removed (zaak-ontkoppeld)");
                }
                PostResult::Answered { status, body } => {
                    return Err(DeliverError::Rejected {
                        event_id: format!("{} (removing the relation to {zaak})", ev.id),
                        status,
                        body,
                    })
                }
                PostResult::NotSent(reason) | PostResult::Unknown(reason) => {
                    return Err(DeliverError::Request {
                        url: crate::secret::redact_url(self.client.events_url()),
                        reason,
                    })
                }
            }
        }
        Ok(())
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
