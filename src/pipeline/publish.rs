//! Putting an outbox on the sink and clearing it, under a claim (lease) so that concurrent
//! deliveries do not put the same events twice; taking over an outbox someone else left.

use std::time::Duration;

use chrono::Utc;

use super::{timestamp, Error, Zaaklink};
use crate::cloudevent::OutboxEvent;
use crate::store::{self, LinkRecord, StoreError};

impl Zaaklink {
    /// Claim an outbox someone else left (crash, failed put), then put it.
    pub(super) async fn take_over(&self, record: LinkRecord) -> Result<Option<(LinkRecord, usize)>, Error> {
        let now = Utc::now();
        let mut claimed = record.clone();
        claimed.version += 1;
        claimed.updated_at = timestamp(now);
        claimed.claimed_until = Some(lease_end(now, self.settings.outbox_lease));
        match self.store.put(&claimed, record.version).await {
            Ok(()) => self.publish(claimed, None).await,
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Put the (claimed) outbox on the sink, then clear it with a conditional write.
    /// `fresh`: the events this writer just built for the outbox (saves reading them back
    /// from their JSON); used only when they are exactly what the outbox holds.
    /// `Ok(Some((record after clearing, events put)))`; `Ok(None)` when the record changed
    /// meanwhile (the caller reads it again). When the sink fails, the outbox stays and the
    /// claim is released so the next delivery or the sweep puts it at once.
    pub(super) async fn publish(
        &self,
        mut record: LinkRecord,
        fresh: Option<Vec<OutboxEvent>>,
    ) -> Result<Option<(LinkRecord, usize)>, Error> {
        if record.pending.is_empty() {
            return Ok(Some((record, 0)));
        }
        if self.settings.emit_source.is_none() {
            tracing::warn!(onderwerpobject = %record.onderwerpobject, pending = record.pending.len(),
                "events wait in the outbox while emission is off (ENABLE_CLOUD_EVENTS / NOTIFICATIONS_SOURCE)");
            return Ok(Some((record, 0)));
        }
        let events: Vec<OutboxEvent> = match fresh {
            Some(mut fresh)
                if fresh.len() == record.pending.len()
                    && fresh.iter().all(|e| record.pending.get(&e.id) == Some(&e.json)) =>
            {
                fresh.sort_by(store::emission_order);
                fresh
            }
            _ => record.pending_events()?,
        };
        let expected = record.version;
        record.version += 1;
        record.claimed_until = None;
        if let Err(e) = self.sink.publish(&events).await {
            // release the claim, keep the outbox
            if let Err(release) = self.store.put(&record, expected).await {
                tracing::debug!(onderwerpobject = %record.onderwerpobject, error = %release, "outbox claim not released; it expires");
            }
            return Err(e.into());
        }
        record.pending.clear();
        record.updated_at = timestamp(Utc::now());
        match self.store.put(&record, expected).await {
            Ok(()) => Ok(Some((record, events.len()))),
            // Someone else wrote meanwhile (an expired claim was taken over): they put the same
            // events with the same ids.
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Zaaklink {
    /// Give up every outbox claim in the store (the events stay in the outbox, for the next
    /// write of their object or the sweep); how many were given up. Only for a caller that
    /// knows no live writer holds one: `zaaklink serve` and `zaaklink resync` open the
    /// embedded state file in one process only, so a claim they find there at startup was
    /// left by a run that died, and one left by their own work given up on INT/TERM is
    /// theirs. Never for a store other processes share (DynamoDB): there a claim runs out.
    pub async fn release_outbox_claims(&self) -> Result<usize, Error> {
        let mut released = 0;
        for found in self.store.with_pending().await? {
            if found.claimed_until.is_none() {
                continue;
            }
            let _turn = super::serial::turn(&self.store, &found.onderwerpobject).await;
            for _ in 0..self.settings.max_attempts {
                let Some(mut r) = self.store.get(&found.onderwerpobject).await? else {
                    break;
                };
                if r.claimed_until.is_none() {
                    break;
                }
                let expected = r.version;
                r.version += 1;
                r.claimed_until = None;
                r.updated_at = timestamp(Utc::now());
                match self.store.put(&r, expected).await {
                    Ok(()) => {
                        released += 1;
                        break;
                    }
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(released)
    }
}

/// How long a writer holds the outbox it wrote while it puts the events on the sink: longer
/// than a put with its retries takes. A crashed writer's claim expires after it; until then
/// deliveries for that onderwerpobject answer 503 (retried), the sweep does not wait.
pub const DEFAULT_OUTBOX_LEASE: Duration = Duration::from_secs(15);

pub(super) fn lease_end(now: chrono::DateTime<Utc>, lease: Duration) -> String {
    timestamp(now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(15)))
}

/// Whether another writer still holds the outbox (an unparsable claim counts as expired).
pub(super) fn claim_is_live(r: &LinkRecord) -> bool {
    r.claimed_until
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|until| until > Utc::now())
}
