//! Many onderwerpobjecten at once, for the resync's page work (DESIGN §7, "A first pass at
//! list speed"): the transitions of a batch whose records and links the caller already read
//! (seeds) are written with one batched conditional write, their events put on the sink in
//! one call, and their outboxes cleared with one more batched write — the same records,
//! versions, outbox and claim as [`Zaaklink::sync`] writes one by one. What the batch cannot
//! write (a version conflict, an outbox still pending) is handed back for the normal path.
//! The after-write look is the caller's, once per page.

use chrono::Utc;

use super::{timestamp, Error, Outcome, Seed, Zaaklink};
use crate::cloudevent::OutboxEvent;
use crate::link::ZaakLink;
use crate::reconcile::{self, Plan};
use crate::store::{self, LinkRecord, StoreError};

/// One onderwerpobject of a batch: its uuid, its URL and what the caller read for it.
pub struct SeededWrite {
    pub uuid: String,
    pub url: String,
    pub seed: Seed,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub outcome: Outcome,
    /// The links written (uuid, URL, the link now stored): the caller's after-write look.
    pub written: Vec<(String, String, Option<ZaakLink>)>,
    /// Objects the batch did not write (version conflict, outbox pending): for the normal
    /// path, [`Zaaklink::sync`] (uuid, URL).
    pub again: Vec<(String, String)>,
}

impl Zaaklink {
    /// Write the seeded transitions of a batch (see the module docs). Each object at most
    /// once. A failing sink keeps every outbox of the batch and releases its claims (the
    /// next delivery or the sweep puts them): the batch fails.
    pub async fn write_batch(&self, items: Vec<SeededWrite>) -> Result<BatchOutcome, Error> {
        let mut out = BatchOutcome::default();
        let epoch = self.store.epoch().await?;
        let mut planned: Vec<(SeededWrite, LinkRecord, Vec<OutboxEvent>)> = Vec::new();
        // This process's turns of the batch's objects, held until its outboxes are cleared;
        // an object another task of this process is working on goes the normal path (which
        // waits for its turn), so the two never meet at the outbox's claim.
        let mut turns = Vec::new();
        for item in items {
            out.outcome.objects += 1;
            let Some(turn) = super::serial::try_turn(&self.store, &item.uuid) else {
                out.again.push((item.uuid, item.url));
                continue;
            };
            turns.push(turn);
            let record = &item.seed.record;
            if !record.pending.is_empty() {
                out.again.push((item.uuid, item.url));
                continue;
            }
            let Plan::Write { link, events } =
                reconcile::reconcile(record.link.as_ref(), item.seed.new.as_ref())
            else {
                continue;
            };
            let (next, fresh) = self.next_record(record, link, &events, epoch);
            planned.push((item, next, fresh));
        }
        let writes: Vec<(LinkRecord, u64)> = planned
            .iter()
            .map(|(i, next, _)| (next.clone(), i.seed.record.version))
            .collect();
        let results = self.store.put_many(&writes).await?;
        let mut landed = Vec::new();
        for ((item, next, fresh), result) in planned.into_iter().zip(results) {
            match result {
                Ok(()) => landed.push((item, next, fresh)),
                Err(StoreError::Conflict) => out.again.push((item.uuid, item.url)),
                Err(e) => return Err(e.into()),
            }
        }
        out.outcome.written += landed.len();
        out.outcome.emitted += self.publish_batch(&landed).await?;
        out.written = landed
            .into_iter()
            .map(|(item, next, _)| (item.uuid, item.url, next.link))
            .collect();
        drop(turns);
        Ok(out)
    }

    /// Put the outboxes of the records just written (each object's events in emission order)
    /// in one sink call, then clear them in one batched write. The number of events put.
    async fn publish_batch(
        &self,
        landed: &[(SeededWrite, LinkRecord, Vec<OutboxEvent>)],
    ) -> Result<usize, Error> {
        if self.settings.emit_source.is_none() {
            return Ok(0);
        }
        let with_events: Vec<&(SeededWrite, LinkRecord, Vec<OutboxEvent>)> =
            landed.iter().filter(|(_, r, _)| !r.pending.is_empty()).collect();
        let mut events = Vec::new();
        for (_, _, fresh) in &with_events {
            let mut mine = fresh.clone();
            mine.sort_by(store::emission_order);
            events.extend(mine);
        }
        if events.is_empty() {
            return Ok(0);
        }
        let now = timestamp(Utc::now());
        let next_of = |r: &LinkRecord, clear: bool| {
            let mut n = r.clone();
            n.version += 1;
            n.claimed_until = None;
            if clear {
                n.pending.clear();
                n.updated_at = now.clone();
            }
            (n, r.version)
        };
        if let Err(e) = self.sink.publish(&events).await {
            // release the claims, keep the outboxes
            let release: Vec<_> = with_events.iter().map(|(_, r, _)| next_of(r, false)).collect();
            if let Err(release) = self.store.put_many(&release).await {
                tracing::debug!(error = %release, "outbox claims of a batch not released; they expire");
            }
            return Err(e.into());
        }
        let cleared: Vec<_> = with_events.iter().map(|(_, r, _)| next_of(r, true)).collect();
        // A conflict: someone took over an outbox meanwhile and put the same events (same ids).
        self.store.put_many(&cleared).await?;
        Ok(events.len())
    }
}
