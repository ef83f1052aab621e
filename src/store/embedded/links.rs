//! The embedded store's records ([`LinkStore`]): one JSON value per onderwerpobject in the
//! `links` table, written with a compare-and-set on `version` in one write transaction.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{decode, unavailable, EmbeddedStore, DESTROYED, LINKS};
use crate::store::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};

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
