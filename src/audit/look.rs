//! The second look and the repair (I/O, DESIGN §9 "Settling" and "Repair"): every candidate
//! the lists showed is read again on both sides — Open Klant's onderwerpobject, Open Zaak's
//! ZaakObjects filtered by `object`, zaaklink's record — and only what that look shows is
//! reported and mended. A batch at a time, so a run can stop between batches.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::compare::{self, Difference};
use super::mend::{self, Mend};
use super::read::AuditError;
use super::report::{Refusal, Repairs, Report};
use super::sides::{Expected, OpenKlantSide, Relation};
use super::Audit;
use crate::link::ZaakLink;
use crate::pipeline::Corrected;

/// An onderwerpobject to look at again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Candidate {
    pub uuid: String,
    /// Its URL as Open Klant listed it.
    pub url: Option<String>,
    /// Every spelling of it in Open Zaak's ZaakObjects.
    pub objects: Vec<String>,
}

/// What the second look saw of one onderwerpobject.
pub(super) struct Look {
    pub uuid: String,
    pub expected: Option<ZaakLink>,
    pub relations: Vec<Relation>,
    /// The URL zaaklink's events carry for it.
    pub canonical: String,
    pub pending: bool,
}

impl Look {
    /// Its differences as the look shows them (labels compared with the ones zaaklink sends).
    pub fn differences(&self) -> Vec<Difference> {
        let expected = self.expected.as_ref().map(|l| Expected {
            zaak: l.zaak.clone(),
            url: l.link_to.clone(),
            label: Some(l.label.clone()),
        });
        compare::diff_object(&self.uuid, expected.as_ref(), &self.relations)
    }
}

/// The malformed differences (reported as read) and the onderwerpobjecten to look at again,
/// in uuid order (a saved run continues at a position in it).
pub(super) fn candidates(first: &[Difference], ok: &OpenKlantSide) -> (Vec<Difference>, Vec<Candidate>) {
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
    let mut out: Vec<Candidate> = by_uuid.into_values().collect();
    out.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    (malformed, out)
}

impl Audit {
    /// One batch of candidates: those whose outbox is not empty (`pending`) skipped, the
    /// others looked at again, their differences added to `report`; with `--repair` mended,
    /// except those in `hands_off` (a stopped invocation may have mended them already).
    /// Returns what is to be mended, with the look it rests on.
    pub(super) async fn look_batch(
        &self,
        batch: &[Candidate],
        pending: &HashSet<String>,
        hands_off: &[String],
        report: &mut Report,
    ) -> Result<Vec<(Look, Vec<Difference>)>, AuditError> {
        let todo: Vec<Candidate> = batch
            .iter()
            .filter(|c| !pending.contains(&c.uuid))
            .cloned()
            .collect();
        report.settling.pending += batch.len() - todo.len();
        let mut to_mend = Vec::new();
        for look in self.looks(todo).await? {
            if look.pending {
                report.settling.pending += 1;
                continue;
            }
            let diffs = look.differences();
            if diffs.is_empty() {
                report.settling.settled += 1;
                continue;
            }
            for d in &diffs {
                report.add(d, self.settings.examples);
            }
            let mended = diffs
                .iter()
                .any(|d| d.kind.counts() || self.settings.repair_labels);
            if !self.settings.repair || !mended {
                continue;
            }
            if hands_off.contains(&look.uuid) {
                report.repairs.get_or_insert_with(Repairs::default).pending += 1;
                continue;
            }
            to_mend.push((look, diffs));
        }
        Ok(to_mend)
    }

    /// The second look at each candidate, [`super::AuditSettings::concurrency`] at once, in
    /// the candidates' order.
    async fn looks(&self, todo: Vec<Candidate>) -> Result<Vec<Look>, AuditError> {
        let mut looks = Vec::new();
        let mut set = tokio::task::JoinSet::new();
        let mut queue = todo.into_iter().enumerate();
        loop {
            while set.len() < self.settings.concurrency.max(1) {
                let Some((i, c)) = queue.next() else { break };
                let me = self.clone();
                set.spawn(async move { (i, me.look(c).await) });
            }
            match set.join_next().await {
                Some(Ok((i, look))) => looks.push((i, look?)),
                Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                None => break,
            }
        }
        looks.sort_by_key(|(i, _)| *i);
        Ok(looks.into_iter().map(|(_, l)| l).collect())
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
    pub(super) async fn repair(&self, objects: &[(Look, Vec<Difference>)], r: &mut Repairs) {
        'objects: for (look, diffs) in objects {
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
            let mended = diffs
                .iter()
                .filter(|d| d.kind.counts() || self.settings.repair_labels)
                .count();
            tracing::info!(onderwerpobject = %look.uuid, differences = mended, "audit: mended through the outbox");
            r.objects += 1;
            r.differences += diffs.iter().filter(|d| d.kind.counts()).count();
        }
    }
}
