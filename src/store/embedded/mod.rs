//! The embedded, crash-safe link store (redb): the DynamoDB record and its compare-and-set
//! semantics on a local file, for `zaaklink serve` and `demo`.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{LinkRecord, StoreError};

mod checkpoint;
mod links;
#[cfg(test)]
mod tests;

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
