//! Phase `stored`: the stored links the list did not show, a store page at a time, each
//! looked up; then the pass's end (DESIGN §7).

use std::collections::HashSet;
use std::time::Instant;

use chrono::Utc;

use super::claim::Held;
use super::clock::Clock;
use super::page::batch_done;
use super::{Resync, Stop};
use crate::resync::checkpoint::{self, Phase};
use crate::store::LinkRecord;
use crate::Error;

/// Phase 2 reads the store in pages this many times a list page: almost every stored link
/// was listed, so a store page costs a read and little else.
const STORE_PAGE_FACTOR: usize = 4;

impl Resync {
    /// Store page by store page, the linked records not in the pass's seen chunks (and not
    /// done yet within the page), in batches; the cursor saved after each store page.
    pub(super) async fn stored_phase(&self, h: &mut Held, clock: &mut Clock) -> Result<Option<Stop>, Error> {
        let seen: HashSet<String> = self
            .checkpoints
            .seen(&h.cp.pass, h.cp.chunks)
            .await?
            .into_iter()
            .collect();
        while h.cp.phase == Phase::Stored {
            if !clock.room() {
                return Ok(Some(Stop::Deadline));
            }
            let read = Instant::now();
            let limit = STORE_PAGE_FACTOR * self.page_size() as usize;
            let (records, next) = self.app.store.linked_page(h.cp.cursor.as_deref(), limit).await?;
            clock.took(read);
            let done: HashSet<&String> = h.cp.partial.iter().collect();
            let unlisted: Vec<LinkRecord> = records
                .into_iter()
                .filter(|r| !seen.contains(&r.onderwerpobject) && !done.contains(&r.onderwerpobject))
                .collect();
            for (i, batch) in unlisted.chunks(self.batch_size()).enumerate() {
                if let Some(stop) = self.before_batch(h, clock, i).await? {
                    return Ok(Some(stop));
                }
                let started = Instant::now();
                let outcome = self.work_unlisted(batch.to_vec()).await?;
                let done = batch.iter().map(|r| r.onderwerpobject.clone());
                batch_done(h, clock, started, batch.len(), &outcome, done);
            }
            let c = &mut h.cp;
            c.partial.clear();
            match next {
                Some(n) => c.cursor = Some(n),
                None => {
                    c.phase = Phase::Done;
                    c.finished = Some(checkpoint::ts(Utc::now()));
                }
            }
            if let Some(stop) = self.saved(h, clock).await? {
                return Ok(Some(stop));
            }
        }
        Ok(None)
    }

    /// The pass is done: its seen chunks dropped, and the outbox sweep run once — an
    /// interrupted write can leave an outbox on a record no page holds any more (a link
    /// just dropped), so the pass leaves none behind.
    pub(super) async fn end_pass(&self, h: &mut Held) {
        if let Err(e) = self.checkpoints.drop_seen(&h.cp.pass, h.cp.chunks).await {
            tracing::warn!(error = %e, "seen chunks of the finished pass not dropped; the next pass drops them");
        }
        match self.app.sweep().await {
            Ok(o) => h.run.emitted += o.emitted as u64,
            Err(e) => {
                tracing::warn!(error = %e, "sweep after the pass failed; the scheduled sweep retries")
            }
        }
    }
}
