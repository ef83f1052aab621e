//! What each object of a batch needs, from the list page and its stored record alone
//! ([`plan::step`], pure): which labels to read, and what to hand the pipeline (a seed, or
//! nothing to do).

use std::collections::{HashMap, HashSet};

use super::Resync;
use crate::link::{self, Klantcontact, Onderwerpobject};
use crate::pipeline::Seed;
use crate::reconcile::{self, Plan};
use crate::resync::plan::{self, Step};
use crate::store::LinkRecord;

/// One object of a batch and its step.
pub(super) struct Planned<'a> {
    pub uuid: String,
    pub object: &'a Onderwerpobject,
    pub step: Step,
}

/// What the pipeline gets for one object.
pub(super) enum Work {
    /// Nothing to read, nothing to write.
    Nothing,
    /// `Zaaklink::sync` with this seed (None: the normal path).
    Sync(Option<Box<Seed>>),
}

impl Resync {
    /// Each object once (by uuid; objects outside the root skipped), with its step. An
    /// object whose record was written at or after `sent` (when its list page was read, the
    /// page possibly read ahead) goes the normal path: the page may show it as it was before
    /// that write, and planning from it would write the older link back (the look would undo
    /// it, but only after its events went out).
    pub(super) fn plan_batch<'a>(
        &self,
        objects: &'a [Onderwerpobject],
        records: &HashMap<String, LinkRecord>,
        sent: Option<&str>,
    ) -> Vec<Planned<'a>> {
        let mut once = HashSet::new();
        objects
            .iter()
            .filter_map(|o| self.uuid_of(o).map(|u| (u, o)))
            .filter(|(u, _)| once.insert(u.clone()))
            .map(|(uuid, object)| {
                let record = records.get(&uuid);
                let newer = record.is_some_and(|r| sent.is_some_and(|s| r.updated_at.as_str() >= s));
                let step = if newer {
                    Step::Normal
                } else {
                    plan::step(object, record)
                };
                Planned { uuid, object, step }
            })
            .collect()
    }

    /// What to do for `p`: its record taken out of the batch read, its label (if it needs
    /// one) from `labels`; nothing when §3 finds nothing to change.
    pub(super) fn work_for(
        &self,
        p: &Planned<'_>,
        records: &mut HashMap<String, LinkRecord>,
        labels: &HashMap<String, Option<Klantcontact>>,
    ) -> Work {
        let record = records
            .remove(&p.uuid)
            .unwrap_or_else(|| LinkRecord::absent(&p.uuid));
        match &p.step {
            Step::Unchanged => Work::Nothing,
            Step::Normal => Work::Sync(None),
            Step::Drop => Work::Sync(Some(Box::new(Seed { record, new: None }))),
            Step::NeedsLabel { klantcontact } => {
                let max = self.app.settings.label_max_chars;
                let new = labels
                    .get(klantcontact)
                    .and_then(Option::as_ref)
                    .and_then(|kc| link::resolve(p.object, kc, max));
                if reconcile::reconcile(record.link.as_ref(), new.as_ref()) == Plan::Unchanged {
                    return Work::Nothing;
                }
                Work::Sync(Some(Box::new(Seed { record, new })))
            }
        }
    }
}

/// The klantcontacten whose labels the batch needs and `labels` does not hold yet.
pub(super) fn labels_wanted(
    planned: &[Planned<'_>],
    labels: &HashMap<String, Option<Klantcontact>>,
) -> HashSet<String> {
    planned
        .iter()
        .filter_map(|p| match &p.step {
            Step::NeedsLabel { klantcontact } if !labels.contains_key(klantcontact) => {
                Some(klantcontact.clone())
            }
            _ => None,
        })
        .collect()
}
