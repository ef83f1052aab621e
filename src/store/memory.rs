//! An in-memory LinkStore, for tests and benchmarks.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{LinkRecord, LinkStore, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, LinkRecord>>,
}

impl MemoryStore {
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

    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| !r.pending.is_empty()))
    }

    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.select(|r| r.link.is_some()))
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn contract() {
        super::super::contract::store_contract(&super::MemoryStore::default(), async |_| {}).await;
    }
}
