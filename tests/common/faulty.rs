//! A link store and an event sink that fail where a test's [`Faults`] says so, around real
//! adapters, and record every outbox the store committed (for the history checks).
//!
//! Each suite decides differently *when* a fault fires (tests/it/faults.rs: "the next n",
//! tests/it/load.rs: seeded per-mille rates); *how* each fault looks is here, once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};

use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::store::dynamodb::DynamoStore;

use super::cli::SOURCE;
use super::history::{record_commit, Committed};
use super::Moto;

/// Per onderwerpobject, what its committed outboxes held.
pub type CommittedLog = Arc<Mutex<BTreeMap<String, Committed>>>;

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// GetItem refused (throttled).
    GetUnavailable,
    /// A conditional write lost to another writer. Asked only on transition writes (a
    /// non-empty outbox): a real conflict on the outbox-clearing write means another writer
    /// saw, and put, the outbox, which a refusal without that writer would not model.
    PutConflict,
    /// PutItem refused before it was applied (throttled).
    PutUnavailableBefore,
    /// PutItem applied, its answer lost (a timeout): the caller sees an error.
    PutUnavailableAfter,
    /// The publish never returns: the process "dies" there.
    SinkHang,
    /// PutEvents refused before anything went out (throttled).
    SinkBefore,
    /// PutEvents applied, its answer lost: a repeat carries the same ids.
    SinkAfter,
}

/// Decides, per call, whether `fault` fires now (and counts it if so).
pub trait Faults: Send + Sync {
    fn fire(&self, fault: Fault) -> bool;
    /// `n` events were accepted by the wrapped sink.
    fn published(&self, _n: usize) {}
}

pub struct FaultyStore {
    pub inner: Arc<dyn LinkStore>,
    pub faults: Arc<dyn Faults>,
    pub committed: CommittedLog,
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable(format!("injected: {what}"))
}

#[async_trait]
impl LinkStore for FaultyStore {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch().await
    }
    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError> {
        if self.faults.fire(Fault::GetUnavailable) {
            return Err(unavailable("ProvisionedThroughputExceededException on GetItem"));
        }
        self.inner.get(onderwerpobject).await
    }

    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        if !record.pending.is_empty() && self.faults.fire(Fault::PutConflict) {
            return Err(StoreError::Conflict);
        }
        if self.faults.fire(Fault::PutUnavailableBefore) {
            return Err(unavailable("ProvisionedThroughputExceededException on PutItem"));
        }
        self.inner.put(record, expected).await?;
        record_commit(&self.committed, record);
        if self.faults.fire(Fault::PutUnavailableAfter) {
            return Err(unavailable("PutItem timed out after it was applied"));
        }
        Ok(())
    }

    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_klantcontact(klantcontact).await
    }
    async fn linked_to_was_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_was_klantcontact(kc).await
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
}

pub struct FaultySink {
    pub inner: Arc<dyn EventSink>,
    pub faults: Arc<dyn Faults>,
}

#[async_trait]
impl EventSink for FaultySink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let refused = |why: &str| SinkError::Rejected {
            sink: "EventBridge",
            failed: events.len(),
            total: events.len(),
            reason: format!("injected: {why}"),
        };
        if self.faults.fire(Fault::SinkHang) {
            std::future::pending::<()>().await;
        }
        if self.faults.fire(Fault::SinkBefore) {
            return Err(refused("ThrottlingException (Rate exceeded)"));
        }
        self.inner.publish(events).await?;
        self.faults.published(events.len());
        if self.faults.fire(Fault::SinkAfter) {
            return Err(refused("PutEvents timed out after it was applied"));
        }
        Ok(())
    }
}

/// A [`FaultyStore`] over the DynamoDB `table` and a [`FaultySink`] over the EventBridge `bus`
/// (source [`SOURCE`], `retries` PutEvents attempts `backoff` apart), both on `moto`, failing
/// as `faults` says; and the log of what the store committed.
pub async fn on_moto(
    moto: &Moto,
    table: &str,
    bus: &str,
    faults: Arc<dyn Faults>,
    (retries, backoff): (u32, Duration),
) -> (Arc<FaultyStore>, Arc<FaultySink>, CommittedLog) {
    let committed = CommittedLog::default();
    let store = FaultyStore {
        inner: Arc::new(DynamoStore::new(moto.dynamodb().await, table)),
        faults: faults.clone(),
        committed: committed.clone(),
    };
    let sink = FaultySink {
        inner: Arc::new(
            EventBridgeSink::new(moto.eventbridge().await, bus, SOURCE).with_retry(retries, backoff),
        ),
        faults,
    };
    (Arc::new(store), Arc::new(sink), committed)
}
