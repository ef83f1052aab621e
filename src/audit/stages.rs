//! The stages of one audit (I/O): both lists side by side, page by page; the comparison; the
//! second look at each candidate (and its repair), a batch at a time. Each stage starts a
//! step only while the budget has room for it; with a store, what a stage did is saved as it
//! goes (DESIGN §9, "A run over several invocations").

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use super::compare;
use super::look;
use super::read::{self, AuditError};
use super::report::{Report, Sides};
use super::saved::{self, Listing, Stage};
use super::work::{put_lines, Budget, Work, SAVE_EVERY};
use super::{chunks, Audit};
use crate::store::AuditStateStore;

/// Candidates per batch of the second look, per look at once.
const BATCH_PER_LOOK: usize = 4;

/// One side's list until it ends or the budget has no room: each page's kept entries
/// (`line`) saved as chunks of `pass` when there is a store, then handed to `keep`.
async fn list_side<T, F, Fut>(
    l: &mut Listing,
    mut budget: Budget,
    store: Option<(&dyn AuditStateStore, String)>,
    read: F,
    line: fn(&T) -> String,
    mut keep: impl FnMut(Vec<T>),
) -> Result<Budget, AuditError>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, u64, bool), AuditError>>,
{
    while !l.done && budget.room() {
        let started = Instant::now();
        let (entries, read, more) = read(l.page).await?;
        if let Some((store, pass)) = &store {
            let lines = entries.iter().map(line).collect();
            l.chunks = put_lines(*store, pass, l.chunks, lines).await?;
        }
        keep(entries);
        l.read += read;
        l.page += 1;
        l.done = !more;
        budget.took(started);
    }
    Ok(budget)
}

impl Audit {
    /// Both lists side by side; true when both have ended.
    pub(super) async fn list_stage(&self, w: &mut Work) -> Result<bool, AuditError> {
        let root = &self.app.settings.api_root;
        let size = self.settings.page_size;
        let store = w.store.as_deref();
        let (ok, oz) = (&mut w.ok, &mut w.oz);
        let ok_store = store.map(|s| (s, w.doc.pass("ok")));
        let oz_store = store.map(|s| (s, w.doc.pass("oz")));
        let (a, b) = tokio::try_join!(
            list_side(
                &mut w.doc.open_klant,
                w.budget,
                ok_store,
                |page| read::open_klant_page(self.app.klant.as_ref(), root, page, size),
                |(uuid, e)| saved::ok_line(uuid, e),
                |links| ok.links.extend(links),
            ),
            list_side(
                &mut w.doc.open_zaak,
                w.budget,
                oz_store,
                |page| read::open_zaak_page(self.oz.as_ref(), root, page, size),
                saved::oz_line,
                |kept| kept.into_iter().for_each(|r| oz.add(root, r)),
            ),
        )?;
        w.budget = a;
        w.budget.join(b);
        Ok(w.doc.open_klant.done && w.doc.open_zaak.done)
    }

    /// Compare both lists (the stored labels read per chunk): the malformed relations go into
    /// the report as read, every other difference becomes a candidate for the second look.
    /// The lists are let go; with a store the candidates are saved and the run moves on.
    pub(super) async fn compare_step(&self, w: &mut Work) -> Result<(), AuditError> {
        let started = Instant::now();
        w.ok.listed = w.doc.open_klant.read;
        w.oz.read = w.doc.open_zaak.read;
        let mut report = Report::empty();
        report.sides = Sides {
            open_klant_root: self.app.settings.api_root.as_str().to_owned(),
            open_klant_listed: w.ok.listed,
            open_klant_linked: w.ok.links.len(),
            open_zaak_root: self.oz.root(),
            open_zaak_read: w.oz.read,
            open_zaak_relations: w.oz.count() + w.oz.malformed.len(),
        };
        let mut first = compare::compare(&w.ok, &w.oz);
        first.extend(self.label_differences(&w.ok, &w.oz).await?);
        let (malformed, candidates) = look::candidates(&first, &w.ok);
        (w.ok, w.oz) = Default::default();
        for d in &malformed {
            report.add(d, self.settings.examples);
        }
        w.report = report;
        w.candidates = candidates;
        w.doc.stage = Stage::Look;
        w.doc.found = Some(crate::resync::checkpoint::ts(chrono::Utc::now()));
        w.budget.took(started);
        if let Some(store) = w.store.clone() {
            let lines = w
                .candidates
                .iter()
                .map(|c| serde_json::to_string(c).expect("a candidate serialises"));
            w.doc.candidates =
                put_lines(store.as_ref(), &w.doc.pass("candidates"), 0, lines.collect()).await?;
            self.save(w, true).await?;
            for side in ["ok", "oz"] {
                let count = if side == "ok" {
                    w.doc.open_klant.chunks
                } else {
                    w.doc.open_zaak.chunks
                };
                chunks::drop(store.as_ref(), &w.doc.pass(side), count).await;
            }
        }
        Ok(())
    }

    /// The second look (and repair) of the candidates not yet looked at, a batch at a time;
    /// true when every candidate has been looked at.
    pub(super) async fn look_stage(&self, w: &mut Work) -> Result<bool, AuditError> {
        self.settle_wait(w).await;
        let pending: HashSet<String> = self
            .app
            .store
            .with_pending()
            .await?
            .into_iter()
            .map(|r| r.onderwerpobject)
            .collect();
        let size = self.settings.concurrency.max(1) * BATCH_PER_LOOK;
        while w.doc.looked < w.candidates.len() {
            if !w.budget.room() {
                return Ok(false);
            }
            let started = Instant::now();
            let end = (w.doc.looked + size).min(w.candidates.len());
            let batch = &w.candidates[w.doc.looked..end];
            let to_mend = self
                .look_batch(batch, &pending, &w.doc.mending, &mut w.report)
                .await?;
            let mending = !to_mend.is_empty();
            if mending && w.store.is_some() {
                // Written ahead: an invocation that stops before the batch is saved leaves
                // these alone when it looks at the batch again.
                w.doc.mending.extend(to_mend.iter().map(|(l, _)| l.uuid.clone()));
                self.save(w, false).await?;
            }
            if self.settings.repair {
                let repairs = w.report.repairs.get_or_insert_with(Default::default);
                self.repair(&to_mend, repairs).await;
            }
            w.doc.looked = end;
            w.doc.mending.clear();
            w.budget.took(started);
            if w.store.is_some() && (mending || w.saved_at.elapsed() >= SAVE_EVERY) {
                self.save(w, true).await?;
            }
        }
        Ok(true)
    }

    /// The settling delay counts from when the candidates were found (maybe in an earlier
    /// invocation).
    async fn settle_wait(&self, w: &Work) {
        let found = w.doc.found.as_deref().and_then(crate::resync::checkpoint::parse);
        let waited = found.map_or(Duration::ZERO, |t| {
            (chrono::Utc::now() - t).to_std().unwrap_or(Duration::ZERO)
        });
        if w.doc.looked == 0 || waited < self.settings.settle {
            tokio::time::sleep(self.settings.settle.saturating_sub(waited)).await;
        }
    }
}
