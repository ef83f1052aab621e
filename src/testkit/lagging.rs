//! A [`LinkStore`] wrapper whose index queries lag like DynamoDB's GSIs: a record written less
//! than `lag` ago is missing from `linked_to_klantcontact` / `linked_to_was_klantcontact`
//! (everything else — reads, writes, markers — goes straight through). For tests of the
//! klantcontact-destroy recheck (DESIGN §2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};

pub struct LaggingStore {
    pub inner: Arc<dyn LinkStore>,
    pub lag: Duration,
    written: Mutex<HashMap<String, Instant>>,
}

impl LaggingStore {
    pub fn new(inner: Arc<dyn LinkStore>, lag: Duration) -> Self {
        LaggingStore {
            inner,
            lag,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// What an index shows: records whose last write is at least `lag` old.
    fn settled(&self, found: Vec<LinkRecord>) -> Vec<LinkRecord> {
        let written = self.written.lock().unwrap();
        found
            .into_iter()
            .filter(|r| {
                written
                    .get(&r.onderwerpobject)
                    .is_none_or(|t| t.elapsed() >= self.lag)
            })
            .collect()
    }
}

#[async_trait]
impl LinkStore for LaggingStore {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch().await
    }
    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.inner.get(onderwerpobject).await
    }
    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        self.inner.put(record, expected).await?;
        self.written
            .lock()
            .unwrap()
            .insert(record.onderwerpobject.clone(), Instant::now());
        Ok(())
    }
    async fn linked_to_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.settled(self.inner.linked_to_klantcontact(kc).await?))
    }
    async fn linked_to_was_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.settled(self.inner.linked_to_was_klantcontact(kc).await?))
    }
    async fn put_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.put_destroyed(m).await
    }
    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.inner.destroyed().await
    }
    async fn drop_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.drop_destroyed(m).await
    }
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.with_pending().await
    }
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked().await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.get_many(keys).await
    }
}
