//! The embedded, crash-safe link store (redb): the DynamoDB record and its compare-and-set
//! semantics on a local file, for `zaaklink serve` and `demo`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{LinkRecord, LinkStore, StoreError};

/// onderwerpobject uuid -> LinkRecord as JSON.
const LINKS: TableDefinition<&str, &str> = TableDefinition::new("links");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {e}"))
}

impl EmbeddedStore {
    /// Open (or create) the state file.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the folder of --state {}: {e}", path.display()))?;
        }
        let db = Database::create(path).map_err(|e| {
            format!(
                "cannot open the state file {} ({e}); is another zaaklink using it, or is it not a zaaklink state file?",
                path.display()
            )
        })?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(LINKS).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(unavailable)?
    }

    async fn select(
        &self,
        f: impl Fn(&LinkRecord) -> bool + Send + 'static,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(LINKS).map_err(unavailable)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(unavailable)? {
                let (_, v) = entry.map_err(unavailable)?;
                let r = decode(v.value())?;
                if f(&r) {
                    out.push(r);
                }
            }
            Ok(out)
        })
        .await
    }
}

fn decode(json: &str) -> Result<LinkRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl LinkStore for EmbeddedStore {
    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError> {
        let key = onderwerpobject.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(LINKS).map_err(unavailable)?;
            match table.get(key.as_str()).map_err(unavailable)? {
                Some(v) => decode(v.value()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        let record = record.clone();
        self.blocking(move |db| {
            let json = serde_json::to_string(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // redb serialises write transactions: read-compare-write below is atomic.
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(LINKS).map_err(unavailable)?;
                let current = match table.get(record.onderwerpobject.as_str()).map_err(unavailable)? {
                    Some(v) => decode(v.value())?.version,
                    None => 0,
                };
                if current != expected {
                    return Err(StoreError::Conflict);
                }
                table
                    .insert(record.onderwerpobject.as_str(), json.as_str())
                    .map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError> {
        let kc = klantcontact.to_string();
        self.select(move |r| r.link.as_ref().is_some_and(|l| l.klantcontact == kc))
            .await
    }

    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.select(|r| !r.pending.is_empty()).await
    }

    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.select(|r| r.link.is_some()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/zaaklink.db");
        let store = EmbeddedStore::open(&path).unwrap();
        super::super::contract::store_contract(&store, async |_| {}).await;
        let before = store.get("a").await.unwrap();
        drop(store);
        let reopened = EmbeddedStore::open(&path).unwrap();
        assert_eq!(reopened.get("a").await.unwrap(), before);
        assert_eq!(before.unwrap().version, 3);
    }

    #[test]
    fn a_file_that_is_not_a_state_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-redb.db");
        std::fs::write(&path, b"hello, this is not redb").unwrap();
        let e = EmbeddedStore::open(&path).err().unwrap();
        assert!(e.contains("not-redb.db"), "{e}");
    }
}
