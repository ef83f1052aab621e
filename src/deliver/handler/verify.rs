//! Open Zaak's zaakobjecten read (`OPEN_ZAAK_ZAKEN_API_READ`): before the POST (skip a
//! ZaakObject that is there, remove the relations a restored state does not know), after a
//! 2xx (was it applied?), and what a refused read does (metric, alarm, logged once).

use std::sync::atomic::Ordering;

use super::Deliverer;
use crate::deliver::event::{self, DeliveryEvent};
use crate::deliver::log::{Completion, DeliveryLog};
use crate::deliver::openzaak::{classify, AnswerClass, PostResult, ReadError};
use crate::deliver::DeliverError;
use crate::reconcile::EventKind;
use crate::telemetry;

/// What the read before the POST decided.
pub(super) enum BeforePost {
    /// POST it; `read_unavailable`: the read was refused (the check after the 2xx is skipped).
    Send { read_unavailable: bool },
    /// Open Zaak holds this `gekoppeld`'s ZaakObject already: recorded as applied, not sent.
    Present,
}

/// What the zaakobjecten read of one event found.
enum Relations {
    /// The zaken Open Zaak relates to the event's `linkTo`.
    Zaken(Vec<String>),
    /// The read is refused or unusable (metric `VerificationUnavailable`, logged once):
    /// delivery goes on as without the read.
    Unavailable,
}

impl<L: DeliveryLog> Deliverer<L> {
    /// Before the POST, with read access (`OPEN_ZAAK_ZAKEN_API_READ`): at an epoch start, and
    /// for a `gekoppeld` that an earlier attempt may have delivered or that is its object's
    /// first, read the zaken Open Zaak relates to `linkTo`; at an epoch start remove those the
    /// restored state does not know; a `gekoppeld` whose ZaakObject is there is recorded as
    /// applied and not sent. On an error the claim is released (retried later).
    pub(super) async fn before_post(
        &self,
        ev: &DeliveryEvent,
        owner: &str,
        earlier_attempt: bool,
        first: bool,
    ) -> Result<BeforePost, DeliverError> {
        let (key, n) = (ev.place.key.as_str(), ev.place.seq);
        let gekoppeld = ev.kind == Some(EventKind::Gekoppeld);
        let epoch_start = crate::epoch::is_epoch_start(n);
        if !(self.zaken_api_read && (epoch_start || (gekoppeld && (earlier_attempt || first)))) {
            return Ok(BeforePost::Send {
                read_unavailable: false,
            });
        }
        // a refused read is counted once per delivery: the verification is then skipped
        let mut read_unavailable = false;
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
            return Ok(BeforePost::Present);
        }
        Ok(BeforePost::Send { read_unavailable })
    }

    /// With read access (`OPEN_ZAAK_ZAKEN_API_READ`): after a 2xx, whether the ZaakObject is
    /// there (`gekoppeld`) or gone (`ontkoppeld`). `Some(why)` when Open Zaak said yes and did
    /// nothing — typically it could not GET `linkTo` (no Service with Open Klant's token).
    /// A failing read is logged and not held against the event.
    pub(super) async fn not_applied(&self, ev: &DeliveryEvent) -> Option<String> {
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
}
