//! One audit (I/O): read both sides, compare, settle, report, and with `--repair` mend through
//! the outbox (DESIGN §9).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compare::{self, Difference, Kind};
use super::mend::{self, Mend};
use super::object::zaak_key;
use super::read::{self, AuditError};
use super::report::{Refusal, Repairs, Report, Settling, Sides};
use super::sides::{Expected, OpenKlantSide, OpenZaakSide, Relation};
use super::zaakobjecten::ZaakObjecten;
use crate::link::ZaakLink;
use crate::pipeline::Corrected;
use crate::resync::patient::Patient;
use crate::store::LinkRecord;
use crate::Zaaklink;

/// How an audit runs (`zaaklink audit`'s options, the scheduled audits' settings).
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Page size of both lists (at most 500 on either side).
    pub page_size: u32,
    /// The wait before the second look at the candidates (DESIGN §9, "Settling").
    pub settle: Duration,
    /// Candidates looked at again at once.
    pub concurrency: usize,
    /// Examples per kind in the report.
    pub examples: usize,
    /// Mend the counted differences through the outbox.
    pub repair: bool,
    /// Also replace relations whose label differs (with `repair`).
    pub repair_labels: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            page_size: 500,
            settle: DEFAULT_SETTLE,
            concurrency: 4,
            examples: 10,
            repair: false,
            repair_labels: false,
        }
    }
}

/// The default wait before the second look: longer than a delivery through `deliver` usually
/// takes (DESIGN §9).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);

/// Chunk of the stored-label reads.
const LABEL_CHUNK: usize = 100;

/// Label reads of [`LABEL_CHUNK`] side by side.
const LABEL_READS_AT_ONCE: usize = 8;

/// The audit over a pipeline (Open Klant, state, sink) and Open Zaak's zaakobjecten.
#[derive(Clone)]
pub struct Audit {
    app: Zaaklink,
    oz: Arc<dyn ZaakObjecten>,
    settings: AuditSettings,
}

/// What the second look saw of one onderwerpobject.
struct Look {
    uuid: String,
    expected: Option<ZaakLink>,
    relations: Vec<Relation>,
    /// The URL zaaklink's events carry for it.
    canonical: String,
    pending: bool,
}

impl Audit {
    /// Open Klant reads are retried with backoff on 429/5xx, as the resync's are.
    pub fn new(app: &Zaaklink, oz: Arc<dyn ZaakObjecten>, settings: AuditSettings) -> Self {
        let mut app = app.clone();
        app.klant = Arc::new(Patient {
            inner: app.klant.clone(),
            retries: 4,
            base: Duration::from_millis(250),
        });
        Audit { app, oz, settings }
    }

    /// Run it; a side that cannot be read gives a report with exit status 2 (nothing repaired).
    pub async fn run(&self) -> Report {
        let started = Instant::now();
        let mut report = match self.audit().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(side = e.side(), error = %e, "audit failed: a side could not be read");
                Report::failed(e.side(), e.to_string())
            }
        };
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    async fn audit(&self) -> Result<Report, AuditError> {
        let root = &self.app.settings.api_root;
        let (ok, oz) = tokio::try_join!(
            read::open_klant(self.app.klant.as_ref(), root, self.settings.page_size),
            read::open_zaak(self.oz.as_ref(), root, self.settings.page_size),
        )?;
        let sides = Sides {
            open_klant_root: root.as_str().to_owned(),
            open_klant_listed: ok.listed,
            open_klant_linked: ok.links.len(),
            open_zaak_root: self.oz.root(),
            open_zaak_read: oz.read,
            open_zaak_relations: oz.count() + oz.malformed.len(),
        };
        let mut first = compare::compare(&ok, &oz);
        first.extend(self.label_differences(&ok, &oz).await?);
        let (malformed, candidates) = candidates(&first, &ok);
        drop((ok, oz, first));
        let (looks, settling) = self.settle(candidates).await?;
        let mut differences = malformed;
        let mut per_object: Vec<(Look, Vec<Difference>)> = Vec::new();
        for look in looks {
            let expected = look.expected.as_ref().map(|l| Expected {
                zaak: l.zaak.clone(),
                url: l.link_to.clone(),
                label: Some(l.label.clone()),
            });
            let diffs = compare::diff_object(&look.uuid, expected.as_ref(), &look.relations);
            if !diffs.is_empty() {
                differences.extend(diffs.iter().cloned());
                per_object.push((look, diffs));
            }
        }
        let mut report = Report::of(&differences, self.settings.examples);
        report.sides = sides;
        report.settling = Settling {
            delay_seconds: self.settings.settle.as_secs_f64(),
            settled: settling.1,
            pending: settling.0,
        };
        if self.settings.repair {
            let repairs = self.repair(&per_object).await;
            report.remaining = report.counted.saturating_sub(repairs.differences);
            report.repairs = Some(repairs);
            report = report.settle_result();
        }
        Ok(report)
    }

    /// The objects whose one relation is on the right zaak, with a label other than the one
    /// zaaklink stored (read per chunk; the labels are not kept).
    async fn label_differences(
        &self,
        ok: &OpenKlantSide,
        oz: &OpenZaakSide,
    ) -> Result<Vec<Difference>, AuditError> {
        let uuids: Vec<String> = compare::label_candidates(ok, oz).map(str::to_owned).collect();
        let mut out = Vec::new();
        for window in uuids.chunks(LABEL_CHUNK * LABEL_READS_AT_ONCE) {
            for record in self.stored_records(window).await? {
                let (Some(link), Some(e), Some(rels)) = (
                    record.link.as_ref(),
                    ok.links.get(&record.onderwerpobject),
                    oz.relations.get(&record.onderwerpobject),
                ) else {
                    continue;
                };
                if zaak_key(&link.zaak) != zaak_key(&e.zaak) {
                    continue;
                }
                let expected = Expected {
                    label: Some(link.label.clone()),
                    ..e.clone()
                };
                out.extend(
                    compare::diff_object(&record.onderwerpobject, Some(&expected), rels)
                        .into_iter()
                        .filter(|d| d.kind == Kind::LabelDifferent),
                );
            }
        }
        Ok(out)
    }

    /// The records of `uuids` (at most [`LABEL_CHUNK`] × [`LABEL_READS_AT_ONCE`]), read
    /// [`LABEL_CHUNK`] a request, the requests side by side (on DynamoDB one BatchGetItem
    /// each: 1,000 of them one after another at 100,000 relations would add seconds to tens of
    /// seconds to the audit, BENCHMARKS.md).
    async fn stored_records(&self, uuids: &[String]) -> Result<Vec<LinkRecord>, AuditError> {
        let mut reads = tokio::task::JoinSet::new();
        for (i, chunk) in uuids.chunks(LABEL_CHUNK).enumerate() {
            let (store, chunk) = (self.app.store.clone(), chunk.to_vec());
            reads.spawn(async move { (i, store.get_many(&chunk).await) });
        }
        let mut read = Vec::new();
        while let Some(r) = reads.join_next().await {
            read.push(r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
        }
        read.sort_by_key(|(i, _)| *i);
        let mut records = Vec::new();
        for (_, r) in read {
            records.extend(r?);
        }
        Ok(records)
    }

    /// Settling (DESIGN §9): skip the candidates whose outbox is not empty, wait, and look at
    /// the others again on both sides. `(pending, settled)` are counted.
    async fn settle(&self, candidates: Vec<Candidate>) -> Result<(Vec<Look>, (usize, usize)), AuditError> {
        if candidates.is_empty() {
            return Ok((Vec::new(), (0, 0)));
        }
        let pending: HashSet<String> = self
            .app
            .store
            .with_pending()
            .await?
            .into_iter()
            .map(|r| r.onderwerpobject)
            .collect();
        let total = candidates.len();
        let candidates: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| !pending.contains(&c.uuid))
            .collect();
        let mut skipped = total - candidates.len();
        tokio::time::sleep(self.settings.settle).await;
        let mut looks = Vec::new();
        let mut set = tokio::task::JoinSet::new();
        let mut queue = candidates.into_iter();
        loop {
            while set.len() < self.settings.concurrency.max(1) {
                let Some(c) = queue.next() else { break };
                let me = self.clone();
                set.spawn(async move { me.look(c).await });
            }
            match set.join_next().await {
                Some(Ok(look)) => looks.push(look?),
                Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                None => break,
            }
        }
        let before = looks.len();
        looks.retain(|l| !l.pending);
        skipped += before - looks.len();
        let settled = looks
            .iter()
            .filter(|l| {
                let expected = l.expected.as_ref().map(|x| Expected {
                    zaak: x.zaak.clone(),
                    url: x.link_to.clone(),
                    label: Some(x.label.clone()),
                });
                compare::diff_object(&l.uuid, expected.as_ref(), &l.relations).is_empty()
            })
            .count();
        looks.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        Ok((looks, (skipped, settled)))
    }

    /// The second look at one candidate: Open Klant's link now (with the label zaaklink sends),
    /// Open Zaak's ZaakObjects for every spelling of its URL seen, zaaklink's record.
    async fn look(&self, c: Candidate) -> Result<Look, AuditError> {
        let root = &self.app.settings.api_root;
        let own = root.join(&format!("onderwerpobjecten/{}", c.uuid)).to_string();
        let url = c.url.clone().unwrap_or_else(|| own.clone());
        let expected = match self.app.resolve(&url).await {
            Ok(l) => l,
            Err(crate::Error::OpenKlant(e)) => return Err(AuditError::OpenKlant(e)),
            Err(crate::Error::Store(e)) => return Err(AuditError::State(e)),
            Err(e) => {
                return Err(AuditError::State(crate::store::StoreError::Unavailable(
                    e.to_string(),
                )))
            }
        };
        let record = self.app.store.get(&c.uuid).await?;
        let mut spellings: BTreeSet<String> = c.objects.into_iter().collect();
        spellings.extend(c.url);
        spellings.extend(expected.as_ref().map(|l| l.link_to.clone()));
        let mut relations: Vec<Relation> = Vec::new();
        for s in &spellings {
            for r in self.oz.of_object(s).await? {
                if !relations.iter().any(|x| x.url == r.url) {
                    relations.push(r);
                }
            }
        }
        let canonical = expected
            .as_ref()
            .map(|l| l.link_to.clone())
            .or_else(|| {
                record
                    .as_ref()
                    .and_then(|r| r.link.as_ref())
                    .map(|l| l.link_to.clone())
            })
            .unwrap_or(own);
        Ok(Look {
            uuid: c.uuid,
            expected,
            relations,
            canonical,
            pending: record.is_some_and(|r| !r.pending.is_empty()),
        })
    }

    /// Mend each object through the outbox, one step (transition) at a time.
    async fn repair(&self, objects: &[(Look, Vec<Difference>)]) -> Repairs {
        let mut r = Repairs {
            labels: self.settings.repair_labels,
            ..Default::default()
        };
        'objects: for (look, diffs) in objects {
            let mended: usize = diffs
                .iter()
                .filter(|d| d.kind.counts() || self.settings.repair_labels)
                .count();
            if mended == 0 {
                continue;
            }
            let steps = match mend::plan(
                look.expected.as_ref(),
                &look.relations,
                &look.canonical,
                self.settings.repair_labels,
            ) {
                Mend::Steps(s) => s,
                Mend::Refused(why) => {
                    r.refused.push(Refusal {
                        onderwerpobject: look.uuid.clone(),
                        why,
                    });
                    continue;
                }
            };
            for step in steps {
                match self
                    .app
                    .correct(&look.uuid, look.expected.clone(), step.ontkoppeld, step.gekoppeld)
                    .await
                {
                    Ok(Corrected::Put(n)) => r.events += n,
                    Ok(Corrected::Pending) => {
                        r.pending += 1;
                        continue 'objects;
                    }
                    Err(e) => {
                        tracing::warn!(onderwerpobject = %look.uuid, error = %e, "audit repair failed");
                        r.failed.push(Refusal {
                            onderwerpobject: look.uuid.clone(),
                            why: e.to_string(),
                        });
                        continue 'objects;
                    }
                }
            }
            tracing::info!(onderwerpobject = %look.uuid, differences = mended, "audit: mended through the outbox");
            r.objects += 1;
            r.differences += diffs.iter().filter(|d| d.kind.counts()).count();
        }
        r
    }
}

/// An onderwerpobject to look at again.
struct Candidate {
    uuid: String,
    /// Its URL as Open Klant listed it.
    url: Option<String>,
    /// Every spelling of it in Open Zaak's ZaakObjects.
    objects: Vec<String>,
}

/// The malformed differences (reported as read) and the onderwerpobjecten to look at again.
fn candidates(first: &[Difference], ok: &OpenKlantSide) -> (Vec<Difference>, Vec<Candidate>) {
    let mut malformed = Vec::new();
    let mut by_uuid: HashMap<&str, Candidate> = HashMap::new();
    for d in first {
        let Some(uuid) = d.onderwerpobject.as_deref() else {
            malformed.push(d.clone());
            continue;
        };
        let c = by_uuid.entry(uuid).or_insert_with(|| Candidate {
            uuid: uuid.to_owned(),
            url: ok.links.get(uuid).map(|e| e.url.clone()),
            objects: Vec::new(),
        });
        for r in &d.open_zaak {
            if !c.objects.contains(&r.object) {
                c.objects.push(r.object.clone());
            }
        }
    }
    (malformed, by_uuid.into_values().collect())
}
