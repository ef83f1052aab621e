//! Phase `list`: reading a page of Open Klant's list of zaak onderwerpobjecten, with the
//! re-reads a list that shrank underneath the pass needs, and the read-back at its end
//! (DESIGN §7, "A list that shifts underneath a pass").

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::ahead::{self, Ahead};
use super::claim::Held;
use super::{Resync, Stop};
use crate::link::Onderwerpobject;
use crate::openklant::MAX_PAGE_SIZE;
use crate::resync::checkpoint::{self, Phase};
use crate::Error;

/// A list page as read, with the objects its re-reads added.
pub(super) struct ListedPage {
    /// The page's objects, then those the re-reads found that were not seen yet.
    pub objects: Vec<Onderwerpobject>,
    /// The uuids on the page itself (the next page's `tail`).
    pub uuids: Vec<String>,
    /// The list's `count` at the last read.
    pub count: u64,
    /// The page's `next` link (empty or None: the last page).
    pub next: Option<String>,
    /// When its first read was sent (as the store's `updated_at`): a record written since
    /// may be newer than what the page shows.
    pub sent: String,
    /// How long its reads took (the read ahead's own time, not the wait for it).
    pub took: Duration,
}

impl Resync {
    /// The list's page size (Open Klant's maximum at most).
    pub(super) fn page_size(&self) -> u32 {
        self.settings.page_size.clamp(1, MAX_PAGE_SIZE)
    }

    /// Read the checkpoint's page (the one read ahead, if it is this page); None past the end
    /// (404) or for an empty list. When the list shrank since the last page, objects may
    /// have moved forward past the boundary: the pages they can be on are read again, ending
    /// with this page, and again while the list keeps shrinking during those reads (at most
    /// 8 rounds). Then the next page is read ahead, beside this page's work.
    pub(super) async fn read_page(&self, h: &mut Held) -> Result<Option<ListedPage>, Error> {
        let (size, page) = (self.page_size(), h.cp.page);
        let first = match h.ahead.take().filter(|a| a.page == page) {
            Some(a) => a.take().await,
            None => ahead::read(self.app.klant.as_ref(), page, size).await,
        };
        let Some(listed) = first.got?.filter(|p| !p.results.is_empty()) else {
            return Ok(None);
        };
        let uuids: Vec<String> = listed.results.iter().filter_map(|o| self.uuid_of(o)).collect();
        let mut read = ListedPage {
            objects: listed.results,
            uuids,
            count: listed.count,
            next: listed.next,
            sent: first.sent,
            took: first.took,
        };
        let rereads = Instant::now();
        self.reread_shifted(h, &mut read).await?;
        read.took += rereads.elapsed();
        if read.next.as_deref().is_some_and(|n| !n.is_empty()) {
            h.ahead = Some(Ahead::start(self.app.klant.clone(), page + 1, size));
        }
        Ok(Some(read))
    }

    /// The re-reads of [`Self::read_page`] when the list shrank since the last page.
    async fn reread_shifted(&self, h: &mut Held, read: &mut ListedPage) -> Result<(), Error> {
        let (size, page) = (self.page_size(), h.cp.page);
        let mut before = h.cp.count;
        let mut boundary_page = page;
        let mut taken: HashSet<String> = h.cp.tail.iter().cloned().collect();
        taken.extend(read.uuids.iter().cloned());
        for _ in 0..8 {
            let Some(from) = checkpoint::reread_from(boundary_page, size, before, read.count) else {
                break;
            };
            let start_count = read.count;
            for q in from..=page {
                let Some(p) = self.app.klant.zaak_onderwerpobjecten(q, size).await? else {
                    continue;
                };
                reread(h);
                read.count = p.count;
                if q == page {
                    read.uuids = p.results.iter().filter_map(|o| self.uuid_of(o)).collect();
                    read.next = p.next.clone();
                }
                for o in p.results {
                    if self.uuid_of(&o).is_some_and(|u| taken.insert(u)) {
                        read.objects.push(o);
                    }
                }
            }
            before = Some(start_count);
            boundary_page = page + 1;
        }
        Ok(())
    }

    /// The objects of `page` a run stopped within it did not reach (`partial` holds the
    /// ones it did).
    pub(super) fn todo(&self, page: &ListedPage, partial: &[String]) -> Vec<Onderwerpobject> {
        let done: HashSet<&String> = partial.iter().collect();
        page.objects
            .iter()
            .filter(|o| self.uuid_of(o).is_none_or(|u| !done.contains(&u)))
            .cloned()
            .collect()
    }

    /// Past the end (404) or an empty list. If the list shrank since the last page, its last
    /// objects moved onto pages already read: read back to the last page that still has
    /// objects and work those not seen on the last page (their own seen chunk).
    pub(super) async fn read_back_tail(&self, h: &mut Held) -> Result<(), Error> {
        let page = h.cp.page;
        if page <= 1 {
            return Ok(());
        }
        let size = self.page_size();
        let tail: HashSet<String> = h.cp.tail.iter().cloned().collect();
        let mut extra = Vec::new();
        let mut q = page - 1;
        loop {
            let got = self.app.klant.zaak_onderwerpobjecten(q, size).await?;
            reread(h);
            match got.filter(|p| !p.results.is_empty()) {
                Some(p) => {
                    extra.extend(
                        p.results
                            .into_iter()
                            .filter(|o| self.uuid_of(o).is_some_and(|u| !tail.contains(&u))),
                    );
                    break;
                }
                None if q > 1 => q -= 1,
                None => break,
            }
        }
        if extra.is_empty() {
            return Ok(());
        }
        let mut records = self.records_of(&extra).await?;
        let mut outcome = self
            .work_objects(&extra, &mut records, &mut h.reads, None)
            .await?;
        outcome.add(self.look_at_objects(&mut h.reads, None).await?);
        let seen: Vec<String> = extra.iter().filter_map(|o| self.uuid_of(o)).collect();
        self.checkpoints.put_seen(&h.cp.pass, h.cp.chunks, &seen).await?;
        h.cp.chunks += 1;
        h.count(extra.len(), &outcome);
        Ok(())
    }

    /// The list is done: phase `stored` begins, saved.
    pub(super) async fn list_ended(&self, h: &mut Held) -> Result<Option<Stop>, Error> {
        h.cp.phase = Phase::Stored;
        h.cp.partial.clear();
        if !self.save(h).await? {
            return Ok(Some(Stop::LeaseLost));
        }
        Ok(None)
    }

    pub(in crate::resync) fn uuid_of(&self, o: &Onderwerpobject) -> Option<String> {
        match self
            .app
            .settings
            .api_root
            .resource_uuid(&o.url, "onderwerpobjecten")
        {
            Ok((_, u)) => Some(u),
            Err(e) => {
                tracing::warn!(error = %e, "resync skips an onderwerpobject outside OPEN_KLANT_API_ROOT");
                None
            }
        }
    }
}

/// A page read again: counted as a page and a re-read, in the run and the pass.
fn reread(h: &mut Held) {
    for c in [&mut h.run, &mut h.cp.counts] {
        c.pages += 1;
        c.rereads += 1;
    }
}
