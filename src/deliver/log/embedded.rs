//! The delivery log in a local redb file, for `zaaklink serve --sink <Open Zaak>`: the same
//! per-object state as in DynamoDB, each operation one serialised write transaction.
//! Keep it with the state file (`<state>.deliveries`): without it, where each object stands
//! at Open Zaak is forgotten and its next events would wait for ever.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::memory::{claim_in, complete_in, release_in};
use super::{ClaimOutcome, Completion, DeliveryLog, DeliveryLogError, ObjectState};

/// object key -> ObjectState as JSON.
const DELIVERIES: TableDefinition<&str, &str> = TableDefinition::new("deliveries");

#[derive(Clone)]
pub struct EmbeddedDeliveryLog {
    db: Arc<Database>,
}

fn err(e: impl std::fmt::Display) -> DeliveryLogError {
    DeliveryLogError(format!("embedded delivery log: {e}"))
}

impl EmbeddedDeliveryLog {
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the folder of {}: {e}", path.display()))?;
        }
        let db = Database::create(path).map_err(|e| {
            format!(
                "cannot open the delivery log {} ({e}); is another zaaklink using it?",
                path.display()
            )
        })?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(DELIVERIES).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(EmbeddedDeliveryLog { db: Arc::new(db) })
    }

    /// Read-modify-write of one key's state in one write transaction.
    async fn update<T: Send + 'static>(
        &self,
        key: &str,
        f: impl FnOnce(&mut ObjectState) -> T + Send + 'static,
    ) -> Result<T, DeliveryLogError> {
        let (db, key) = (self.db.clone(), key.to_owned());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(err)?;
            let out = {
                let mut table = txn.open_table(DELIVERIES).map_err(err)?;
                let mut state: ObjectState = match table.get(key.as_str()).map_err(err)? {
                    Some(v) => serde_json::from_str(v.value()).map_err(err)?,
                    None => ObjectState::default(),
                };
                let out = f(&mut state);
                let json = serde_json::to_string(&state).map_err(err)?;
                table.insert(key.as_str(), json.as_str()).map_err(err)?;
                out
            };
            txn.commit().map_err(err)?;
            Ok(out)
        })
        .await
        .map_err(err)?
    }
}

#[async_trait]
impl DeliveryLog for EmbeddedDeliveryLog {
    async fn state(&self, key: &str) -> Result<ObjectState, DeliveryLogError> {
        let (db, key) = (self.db.clone(), key.to_owned());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(DELIVERIES).map_err(err)?;
            match table.get(key.as_str()).map_err(err)? {
                Some(v) => serde_json::from_str(v.value()).map_err(err),
                None => Ok(ObjectState::default()),
            }
        })
        .await
        .map_err(err)?
    }

    async fn claim(
        &self,
        key: &str,
        seq: u64,
        expect_applied: u64,
        owner: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<ClaimOutcome, DeliveryLogError> {
        let owner = owner.to_owned();
        self.update(key, move |s| {
            claim_in(s, seq, expect_applied, &owner, now_ms, until_ms)
        })
        .await
    }

    async fn complete(
        &self,
        key: &str,
        seq: u64,
        owner: &str,
        how: Completion,
    ) -> Result<bool, DeliveryLogError> {
        let owner = owner.to_owned();
        self.update(key, move |s| complete_in(s, seq, &owner, how)).await
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), DeliveryLogError> {
        let owner = owner.to_owned();
        self.update(key, move |s| release_in(s, &owner)).await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn embedded_log_keeps_the_contract_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.deliveries");
        {
            let log = super::EmbeddedDeliveryLog::open(&path).unwrap();
            super::super::contract::delivery_log_contract(&log).await;
        }
        let log = super::EmbeddedDeliveryLog::open(&path).unwrap();
        use super::DeliveryLog;
        assert_eq!(log.state("object:http://ok/oo/1").await.unwrap().applied, 2);
    }
}
