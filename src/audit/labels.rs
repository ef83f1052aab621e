//! The label differences (I/O): the objects whose one relation is on the right zaak, with a
//! label other than the one zaaklink stored, read per chunk (the labels are not kept).

use super::compare::{self, Difference, Kind};
use super::object::zaak_key;
use super::read::AuditError;
use super::sides::{Expected, OpenKlantSide, OpenZaakSide};
use super::Audit;
use crate::store::LinkRecord;

/// Chunk of the stored-label reads.
const LABEL_CHUNK: usize = 100;

/// Label reads of [`LABEL_CHUNK`] side by side.
const LABEL_READS_AT_ONCE: usize = 8;

impl Audit {
    pub(super) async fn label_differences(
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
}
