//! The embedded, crash-safe link store (redb): the DynamoDB record and its compare-and-set
//! semantics on a local file, for `zaaklink serve` and `demo`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{CheckpointStore, DestroyedKlantcontact, LinkRecord, LinkStore, SavedCheckpoint, StoreError};

/// onderwerpobject uuid -> LinkRecord as JSON.
const LINKS: TableDefinition<&str, &str> = TableDefinition::new("links");
/// The resync's checkpoint (key [`CHECKPOINT_KEY`], value `{version}\n{json}`) and its seen
/// chunks (key `seen/{pass}/{chunk}`, value the uuids, one a line).
const RESYNC: TableDefinition<&str, &str> = TableDefinition::new("resync");
const CHECKPOINT_KEY: &str = "checkpoint";
/// Klantcontact-destroyed markers: key = the marker's line (`{at} {uuid} {url}`), value empty.
const DESTROYED: TableDefinition<&str, &str> = TableDefinition::new("klantcontact_destroyed");
/// The file's metadata: key [`EPOCH_KEY`] = the epoch (unix ms the file got one).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EPOCH_KEY: &str = "epoch";

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    epoch: u64,
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
        txn.open_table(RESYNC).map_err(|e| e.to_string())?;
        txn.open_table(DESTROYED).map_err(|e| e.to_string())?;
        // The epoch (crate::epoch): set once, when the file first opens with this version.
        let epoch = {
            let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
            let stored = meta.get(EPOCH_KEY).map_err(|e| e.to_string())?.map(|v| v.value());
            match stored {
                Some(e) => e,
                None => {
                    let now = chrono::Utc::now().timestamp_millis() as u64;
                    meta.insert(EPOCH_KEY, now).map_err(|e| e.to_string())?;
                    now
                }
            }
        };
        txn.commit().map_err(|e| e.to_string())?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            epoch,
        })
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
    async fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.epoch)
    }

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

    /// One write transaction for the whole batch (redb commits one writer at a time, each
    /// commit synced to disk): every compare-and-set checked inside it.
    async fn put_many(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let writes = writes.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let mut out = Vec::with_capacity(writes.len());
            {
                let mut table = txn.open_table(LINKS).map_err(unavailable)?;
                for (record, expected) in &writes {
                    let json =
                        serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let current = match table.get(record.onderwerpobject.as_str()).map_err(unavailable)? {
                        Some(v) => decode(v.value())?.version,
                        None => 0,
                    };
                    if current != *expected {
                        out.push(Err(StoreError::Conflict));
                        continue;
                    }
                    table
                        .insert(record.onderwerpobject.as_str(), json.as_str())
                        .map_err(unavailable)?;
                    out.push(Ok(()));
                }
            }
            txn.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
    }

    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError> {
        let kc = klantcontact.to_string();
        self.select(move |r| r.link.as_ref().is_some_and(|l| l.klantcontact == kc))
            .await
    }

    async fn linked_to_was_klantcontact(
        &self,
        klantcontact_uuid: &str,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let kc = klantcontact_uuid.to_string();
        self.select(move |r| {
            r.link
                .as_ref()
                .is_some_and(|l| l.was_klantcontact.as_deref() == Some(kc.as_str()))
        })
        .await
    }

    async fn put_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        let line = marker.encode();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(DESTROYED).map_err(unavailable)?;
                table.insert(line.as_str(), "").map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(DESTROYED).map_err(unavailable)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(unavailable)? {
                let (k, _) = entry.map_err(unavailable)?;
                out.push(DestroyedKlantcontact::decode(k.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn drop_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        let line = marker.encode();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(DESTROYED).map_err(unavailable)?;
                table.remove(line.as_str()).map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.select(|r| !r.pending.is_empty()).await
    }

    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.select(|r| r.link.is_some()).await
    }

    async fn get_many(&self, onderwerpobjecten: &[String]) -> Result<Vec<LinkRecord>, StoreError> {
        let keys = onderwerpobjecten.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(LINKS).map_err(unavailable)?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                if let Some(v) = table.get(k.as_str()).map_err(unavailable)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Key order, from just after `cursor`, on one read transaction.
    async fn linked_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LinkRecord>, Option<String>), StoreError> {
        let cursor = cursor.map(str::to_string);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(LINKS).map_err(unavailable)?;
            let range = match &cursor {
                Some(c) => {
                    table.range::<&str>((std::ops::Bound::Excluded(c.as_str()), std::ops::Bound::Unbounded))
                }
                None => table.range::<&str>(..),
            }
            .map_err(unavailable)?;
            let mut out = Vec::new();
            let mut last = None;
            for entry in range {
                if out.len() >= limit.max(1) {
                    return Ok((out, last));
                }
                let (k, v) = entry.map_err(unavailable)?;
                last = Some(k.value().to_string());
                let r = decode(v.value())?;
                if r.link.is_some() {
                    out.push(r);
                }
            }
            Ok((out, None))
        })
        .await
    }
}

fn seen_key(pass: &str, chunk: u32) -> String {
    format!("seen/{pass}/{chunk}")
}

impl EmbeddedStore {
    /// The versioned document at `key` of the resync table (value `{version}\n{json}`).
    async fn load_versioned(&self, key: &'static str) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(RESYNC).map_err(unavailable)?;
            let Some(v) = table.get(key).map_err(unavailable)? else {
                return Ok(None);
            };
            let (version, json) = v
                .value()
                .split_once('\n')
                .and_then(|(n, j)| Some((n.parse::<u64>().ok()?, j.to_string())))
                .ok_or_else(|| StoreError::Corrupt(format!("{key}: no version line")))?;
            Ok(Some(SavedCheckpoint { json, version }))
        })
        .await
    }

    /// Save the document at `key` as version `expected + 1` if it is still at `expected`.
    async fn save_versioned(&self, key: &'static str, json: &str, expected: u64) -> Result<(), StoreError> {
        let value = format!("{}\n{json}", expected + 1);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(RESYNC).map_err(unavailable)?;
                let current = match table.get(key).map_err(unavailable)? {
                    Some(v) => v
                        .value()
                        .split_once('\n')
                        .and_then(|(n, _)| n.parse::<u64>().ok())
                        .unwrap_or(0),
                    None => 0,
                };
                if current != expected {
                    return Err(StoreError::Conflict);
                }
                table.insert(key, value.as_str()).map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }
}

/// The audit's state document (DESIGN §9) beside the resync's checkpoint.
const AUDIT_KEY: &str = "audit";

#[async_trait]
impl super::AuditStateStore for EmbeddedStore {
    async fn load_audit(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.load_versioned(AUDIT_KEY).await
    }

    async fn save_audit(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        self.save_versioned(AUDIT_KEY, json, expected).await
    }
}

#[async_trait]
impl CheckpointStore for EmbeddedStore {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.load_versioned(CHECKPOINT_KEY).await
    }

    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        self.save_versioned(CHECKPOINT_KEY, json, expected).await
    }

    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError> {
        let key = seen_key(pass, chunk);
        let value = uuids.join("\n");
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(RESYNC).map_err(unavailable)?;
                table.insert(key.as_str(), value.as_str()).map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)
        })
        .await
    }

    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError> {
        let pass = pass.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(RESYNC).map_err(unavailable)?;
            let mut out = Vec::new();
            for c in 0..chunks {
                if let Some(v) = table.get(seen_key(&pass, c).as_str()).map_err(unavailable)? {
                    out.extend(
                        v.value()
                            .split('\n')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    );
                }
            }
            Ok(out)
        })
        .await
    }

    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError> {
        let pass = pass.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut table = txn.open_table(RESYNC).map_err(unavailable)?;
                for c in 0..chunks {
                    table.remove(seen_key(&pass, c).as_str()).map_err(unavailable)?;
                }
            }
            txn.commit().map_err(unavailable)
        })
        .await
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
        super::super::checkpoint::contract::checkpoint_contract(&store).await;
        let audit = EmbeddedStore::open(&dir.path().join("audit.db")).unwrap();
        super::super::audit_state::contract::audit_state_contract(&audit).await;
        let other = EmbeddedStore::open(&dir.path().join("was.db")).unwrap();
        super::super::contract::was_and_markers_contract(&other).await;
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
