//! The page's work: the records of a page read at once, its objects reconciled batch by
//! batch through the pipeline's conditional write and outbox ([`crate::Zaaklink`]), at most
//! `RESYNC_CONCURRENCY` requests at once (DESIGN §7).

use std::collections::HashMap;
use std::time::Instant;

use super::claim::Held;
use super::clock::Clock;
use super::look::Reads;
use super::planning::{labels_wanted, Work};
use super::{Resync, Stop};
use crate::link::Onderwerpobject;
use crate::pipeline::{Outcome, SeededWrite};
use crate::store::LinkRecord;
use crate::Error;

/// A page is worked in batches of this many rounds of `concurrency` objects; before each
/// batch the deadline is checked (DESIGN §7).
const BATCH_ROUNDS: usize = 8;

impl Resync {
    /// Objects per batch: [`BATCH_ROUNDS`] rounds of `concurrency`.
    pub(super) fn batch_size(&self) -> usize {
        BATCH_ROUNDS * self.settings.concurrency.max(1)
    }

    /// A list page's objects (those not done yet): their records in one read, then batch by
    /// batch, the labels shared by the page's batches. `sent`: when the page was read (a
    /// record written since goes the normal path, [`Self::plan_batch`]).
    pub(super) async fn work_page(
        &self,
        h: &mut Held,
        clock: &mut Clock,
        todo: &[Onderwerpobject],
        sent: &str,
    ) -> Result<Option<Stop>, Error> {
        let mut records = self.records_of(todo).await?;
        for (i, batch) in todo.chunks(self.batch_size()).enumerate() {
            if let Some(stop) = self.before_batch(h, clock, i).await? {
                return Ok(Some(stop));
            }
            let started = Instant::now();
            let outcome = self
                .work_objects(batch, &mut records, &mut h.reads, Some(sent))
                .await?;
            let done = batch.iter().filter_map(|o| self.uuid_of(o));
            batch_done(h, clock, started, batch.len(), &outcome, done);
        }
        Ok(None)
    }

    /// Before batch `i` of a page: the deadline checked and, when due (or stopping), the part
    /// done saved. Some(stop) when the run stops here (`Deadline`, `LeaseLost`).
    pub(super) async fn before_batch(
        &self,
        h: &mut Held,
        clock: &mut Clock,
        i: usize,
    ) -> Result<Option<Stop>, Error> {
        clock.owe(self.look_rounds(&h.reads));
        let stop = !clock.room();
        if i > 0 && (stop || clock.partial_due()) {
            if let Some(s) = self.save_partial(h, clock).await? {
                return Ok(Some(s));
            }
        }
        Ok(stop.then_some(Stop::Deadline))
    }

    /// Reconcile objects outside a pass's page (the head poll): their records in one batch
    /// read, then [`Self::work_objects`] as for one batch of a page, and the after-write look
    /// (each written object's own GET, each klantcontact once).
    pub(in crate::resync) async fn work_unpaged(
        &self,
        objects: &[Onderwerpobject],
    ) -> Result<Outcome, Error> {
        let mut reads = Reads::default();
        let mut records = self.records_of(objects).await?;
        let mut outcome = self.work_objects(objects, &mut records, &mut reads, None).await?;
        outcome.add(self.look_at_objects(&mut reads, None).await?);
        outcome.add(self.look_at_labels(&mut reads).await?);
        Ok(outcome)
    }

    /// The stored records of a list page's objects, in one batch read (before any label of
    /// the page is read: a label is never older than the record it is compared with).
    pub(super) async fn records_of(
        &self,
        objects: &[Onderwerpobject],
    ) -> Result<HashMap<String, LinkRecord>, Error> {
        let mut keys: Vec<String> = objects.iter().filter_map(|o| self.uuid_of(o)).collect();
        keys.sort();
        keys.dedup();
        Ok(self
            .app
            .store
            .get_many(&keys)
            .await?
            .into_iter()
            .map(|r| (r.onderwerpobject.clone(), r))
            .collect())
    }

    /// Reconcile a batch of a list page's objects: their records from the page's batch read
    /// (`records`, taken out as they are used), labels only for links that are new or moved
    /// (from the run's cache, read once per klantcontact), writes only for what changed: the
    /// seeded ones in one batched write ([`crate::Zaaklink::write_batch`], same conditional
    /// write and outbox), the rest (an outbox pending, a conflict) one by one the normal way.
    /// The written ones wait in `reads` for the page's after-write look. `sent`: when the
    /// objects were read from the list, if they were ([`Self::plan_batch`]).
    pub(super) async fn work_objects(
        &self,
        objects: &[Onderwerpobject],
        records: &mut HashMap<String, LinkRecord>,
        reads: &mut Reads,
        sent: Option<&str>,
    ) -> Result<Outcome, Error> {
        let planned = self.plan_batch(objects, records, sent);
        self.read_labels(reads, labels_wanted(&planned, &reads.labels))
            .await?;
        let mut seeded = Vec::new();
        let mut normal = Vec::new();
        for p in &planned {
            let (uuid, url) = (p.uuid.clone(), p.object.url.clone());
            match self.work_for(p, records, &reads.labels) {
                Work::Nothing => {}
                Work::Sync(None) => normal.push((uuid, url)),
                Work::Sync(Some(seed)) => seeded.push(SeededWrite {
                    uuid,
                    url,
                    seed: *seed,
                }),
            }
        }
        let batch = self.app.write_batch(seeded).await?;
        reads.written.extend(batch.written);
        normal.extend(batch.again);
        let mut outcome = self.sync_again(normal).await?;
        outcome.written += batch.outcome.written;
        outcome.emitted += batch.outcome.emitted;
        Ok(outcome)
    }

    /// Phase `stored`: stored links the list did not show, each looked up (404 = gone).
    pub(in crate::resync) async fn work_unlisted(&self, records: Vec<LinkRecord>) -> Result<Outcome, Error> {
        let objects = records
            .into_iter()
            .filter_map(|r| Some((r.onderwerpobject, r.link?.link_to)))
            .collect();
        self.sync_again(objects).await
    }
}

/// A batch worked (started at `started`): measured, counted, and its objects (`done`) part of
/// the page done (`partial`).
pub(super) fn batch_done(
    h: &mut Held,
    clock: &mut Clock,
    started: Instant,
    objects: usize,
    outcome: &Outcome,
    done: impl Iterator<Item = String>,
) {
    clock.took(started);
    h.count(objects, outcome);
    h.cp.partial.extend(done);
}
