//! The claimed place: refuse what Open Zaak would drop, check before the POST
//! ([`super::verify`]), POST, and act on Open Zaak's answer.

use super::verify::BeforePost;
use super::{Deliverer, Outcome};
use crate::deliver::event::DeliveryEvent;
use crate::deliver::log::{Completion, DeliveryLog};
use crate::deliver::openzaak::{classify, AnswerClass, PostResult};
use crate::deliver::DeliverError;
use crate::telemetry;

impl<L: DeliveryLog> Deliverer<L> {
    /// The place is ours: refuse, check, POST, record. `first`: nothing of this object was
    /// applied before (its first delivery: onboarding).
    pub(super) async fn claimed(
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
        let read_unavailable = match self.before_post(ev, owner, earlier_attempt, first).await? {
            BeforePost::Send { read_unavailable } => read_unavailable,
            BeforePost::Present => return Ok(Outcome::AlreadyPresent),
        };
        let result = match self.client.post_event(ev.body.clone()).await {
            Ok(r) => r,
            Err(e) => {
                self.log.release(key, owner).await?;
                return Err(e);
            }
        };
        self.answered(ev, owner, result, read_unavailable).await
    }

    /// Open Zaak's answer to the POST (or none): a 2xx is verified (unless the read was
    /// refused) and recorded as applied; unavailable: released and retried later; refused:
    /// parked.
    async fn answered(
        &self,
        ev: &DeliveryEvent,
        owner: &str,
        result: PostResult,
        read_unavailable: bool,
    ) -> Result<Outcome, DeliverError> {
        let (key, n) = (ev.place.key.as_str(), ev.place.seq);
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
}
