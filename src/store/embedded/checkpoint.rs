//! The embedded store's resync state ([`CheckpointStore`]): the checkpoint and the seen
//! chunks in the `resync` table, and the audit's saved run ([`crate::store::AuditStateStore`]).

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{unavailable, EmbeddedStore, CHECKPOINT_KEY, RESYNC};
use crate::store::{CheckpointStore, SavedCheckpoint, StoreError};

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
impl crate::store::AuditStateStore for EmbeddedStore {
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
