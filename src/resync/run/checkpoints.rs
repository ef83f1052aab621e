//! Saving what a run did: the counts, the part of a page done (its seen chunk, then the
//! checkpoint's `partial`), a list page finished (DESIGN §7, "The checkpoint").

use super::claim::Held;
use super::clock::Clock;
use super::listing::ListedPage;
use super::{Resync, Stop};
use crate::resync::checkpoint::Phase;
use crate::Error;

impl Resync {
    /// The part of a page done so far: in phase `list` into the page's seen chunk first,
    /// then into the checkpoint (renewing the lease). `LeaseLost` when another run took over.
    pub(super) async fn save_partial(&self, h: &mut Held, clock: &mut Clock) -> Result<Option<Stop>, Error> {
        if h.cp.phase == Phase::List {
            self.checkpoints
                .put_seen(&h.cp.pass, h.cp.chunks, &h.cp.partial)
                .await?;
        }
        self.saved(h, clock).await
    }

    /// A list page worked: its uuids (and those of the re-reads) as the page's seen chunk,
    /// then the checkpoint moves to the next page (`tail`, `count`; phase `stored` after the
    /// last page).
    pub(super) async fn page_done(
        &self,
        h: &mut Held,
        clock: &mut Clock,
        page: ListedPage,
    ) -> Result<Option<Stop>, Error> {
        let mut seen: Vec<String> = page.objects.iter().filter_map(|o| self.uuid_of(o)).collect();
        seen.append(&mut h.cp.partial);
        seen.sort();
        seen.dedup();
        self.checkpoints.put_seen(&h.cp.pass, h.cp.chunks, &seen).await?;
        h.run.pages += 1;
        let c = &mut h.cp;
        c.chunks += 1;
        c.counts.pages += 1;
        c.tail = page.uuids;
        c.count = Some(page.count);
        c.page += 1;
        if page.next.as_deref().is_none_or(str::is_empty) {
            c.phase = Phase::Stored;
        }
        self.saved(h, clock).await
    }

    /// Save the checkpoint with a renewed lease and tell the progress display.
    pub(super) async fn saved(&self, h: &mut Held, clock: &mut Clock) -> Result<Option<Stop>, Error> {
        if !self.save(h).await? {
            return Ok(Some(Stop::LeaseLost));
        }
        clock.saved();
        self.tell(h);
        Ok(None)
    }
}
