//! An in-memory LinkStore, for tests and benchmarks.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CheckpointStore, DestroyedKlantcontact, LinkRecord, LinkStore, SavedCheckpoint, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, LinkRecord>>,
    checkpoint: Mutex<Option<SavedCheckpoint>>,
    audit: Mutex<Option<SavedCheckpoint>>,
    seen: Mutex<HashMap<(String, u32), Vec<String>>>,
    epoch: u64,
    destroyed: Mutex<std::collections::BTreeSet<DestroyedKlantcontact>>,
}

impl MemoryStore {
    /// A store holding `records` as of epoch `epoch` (`crate::epoch`): what a restore of a
    /// table hands back, under the restored table's later creation time.
    pub fn restored(records: impl IntoIterator<Item = LinkRecord>, epoch: u64) -> Self {
        MemoryStore {
            records: Mutex::new(
                records
                    .into_iter()
                    .map(|r| (r.onderwerpobject.clone(), r))
                    .collect(),
            ),
            epoch,
            ..Default::default()
        }
    }

    /// Every record, in key order (what a backup would copy).
    pub fn records(&self) -> Vec<LinkRecord> {
        self.select(|_| true)
    }

    fn select(&self, f: impl Fn(&LinkRecord) -> bool) -> Vec<LinkRecord> {
        let mut v: Vec<_> = self
            .records
            .lock()
            .unwrap()
            .values()
            .filter(|r| f(r))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.onderwerpobject.cmp(&b.onderwerpobject));
        v
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.epoch)
    }

    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError> {
        Ok(self.records.lock().unwrap().get(onderwerpobject).cloned())
    }

    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        let current = records.get(&record.onderwerpobject).map_or(0, |r| r.version);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        records.insert(record.onderwerpobject.clone(), record.clone());
        Ok(())
    }

    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| r.link.as_ref().is_some_and(|l| l.klantcontact == klantcontact)))
    }

    async fn linked_to_was_klantcontact(
        &self,
        klantcontact_uuid: &str,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| {
            r.link
                .as_ref()
                .is_some_and(|l| l.was_klantcontact.as_deref() == Some(klantcontact_uuid))
        }))
    }

    async fn put_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.destroyed.lock().unwrap().insert(marker.clone());
        Ok(())
    }

    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        Ok(self.destroyed.lock().unwrap().iter().cloned().collect())
    }

    async fn drop_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.destroyed.lock().unwrap().remove(marker);
        Ok(())
    }

    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| !r.pending.is_empty()))
    }

    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| r.link.is_some()))
    }
}

/// Compare-and-set of a versioned document (the resync's checkpoint, the audit's state).
fn save_versioned(doc: &Mutex<Option<SavedCheckpoint>>, json: &str, expected: u64) -> Result<(), StoreError> {
    let mut c = doc.lock().unwrap();
    if c.as_ref().map_or(0, |c| c.version) != expected {
        return Err(StoreError::Conflict);
    }
    *c = Some(SavedCheckpoint {
        json: json.to_string(),
        version: expected + 1,
    });
    Ok(())
}

#[async_trait]
impl super::AuditStateStore for MemoryStore {
    async fn load_audit(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        Ok(self.audit.lock().unwrap().clone())
    }

    async fn save_audit(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        save_versioned(&self.audit, json, expected)
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        Ok(self.checkpoint.lock().unwrap().clone())
    }

    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        save_versioned(&self.checkpoint, json, expected)
    }

    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError> {
        self.seen
            .lock()
            .unwrap()
            .insert((pass.to_string(), chunk), uuids.to_vec());
        Ok(())
    }

    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError> {
        let seen = self.seen.lock().unwrap();
        Ok((0..chunks)
            .filter_map(|c| seen.get(&(pass.to_string(), c)))
            .flatten()
            .cloned()
            .collect())
    }

    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().unwrap();
        for c in 0..chunks {
            seen.remove(&(pass.to_string(), c));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn contract() {
        super::super::contract::store_contract(&super::MemoryStore::default(), async |_| {}).await;
        super::super::contract::was_and_markers_contract(&super::MemoryStore::default()).await;
        super::super::checkpoint::contract::checkpoint_contract(&super::MemoryStore::default()).await;
        super::super::audit_state::contract::audit_state_contract(&super::MemoryStore::default()).await;
    }
}
