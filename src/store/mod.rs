//! The link-store port (DESIGN §5): one record per onderwerpobject, written only with a
//! compare-and-set on `version`, carrying its outbox (`pending`).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::cloudevent::OutboxEvent;
use crate::link::ZaakLink;

pub mod dynamodb;
pub mod embedded;
pub mod memory;

/// The stored state of one onderwerpobject. A record without `link` is a tombstone: it keeps
/// `version` so event ids of later transitions never repeat earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    pub onderwerpobject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<ZaakLink>,
    pub version: u64,
    /// Gap-free counter of the events emitted for this onderwerpobject: each event built
    /// gets the next number (its CloudEvent `sequence`), so `deliver` can apply them in
    /// order. Kept by tombstones; unchanged while emission is off; 0 for records written
    /// before sequences existed (DESIGN §5).
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub updated_at: String,
    /// Outbox: event id -> CloudEvent JSON, written with the state it belongs to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, String>,
    /// While set and in the future, the writer of `pending` is putting those events on the
    /// sink right now: other deliveries wait instead of putting them a second time
    /// (RFC 3339; DynamoDB attribute `claimedUntil`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<String>,
}

impl LinkRecord {
    /// A record that does not exist yet (version 0).
    pub fn absent(onderwerpobject: &str) -> Self {
        LinkRecord {
            onderwerpobject: onderwerpobject.to_string(),
            ..Default::default()
        }
    }

    /// The outbox in emission order (ontkoppeld before gekoppeld; the outbox only ever
    /// holds the events of one transition, see `Zaaklink::flush`).
    pub fn pending_events(&self) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut events = self
            .pending
            .iter()
            .map(|(id, json)| OutboxEvent::from_json(id, json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("onderwerpobject {}: {e}", self.onderwerpobject)))?;
        events.sort_by(emission_order);
        Ok(events)
    }
}

/// The order events of one transition are put in: ontkoppeld before gekoppeld, then by id.
pub fn emission_order(a: &OutboxEvent, b: &OutboxEvent) -> std::cmp::Ordering {
    a.kind.cmp(&b.kind).then_with(|| a.id.cmp(&b.id))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read (optimistic lock lost): read again and retry.
    #[error("the stored link changed while it was being written (version conflict)")]
    Conflict,
    #[error("the link store is unavailable: {0}; the request will be retried")]
    Unavailable(String),
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
}

/// Where the last known link per onderwerpobject lives.
#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// Write `record` only if the stored version is still `expected` (0 = no record yet);
    /// `record.version` is `expected + 1`. Otherwise `Err(StoreError::Conflict)`.
    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError>;
    /// Records whose current link belongs to this klantcontact (URL).
    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError>;
    /// Records with events still in their outbox.
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError>;
    /// Onderwerpobject uuids of every record that holds a link (for resync).
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError>;
}

/// The behaviour every [`LinkStore`] must have, run by each adapter's tests (memory and
/// embedded in their unit tests, DynamoDB against moto in tests/aws_moto.rs). Not part of
/// the API; public so that the integration tests can run it.
#[doc(hidden)]
pub mod contract {
    use super::*;

    /// Where [`store_contract`] stops so an adapter's test can check its own layout.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Point {
        /// Record "a" holds a link of klantcontact "kc1" and one event in its outbox.
        OutboxFull,
        /// The outbox of "a" was cleared.
        OutboxCleared,
        /// "a" became a tombstone (no link).
        Tombstone,
    }

    /// A link to zaak `zaak` of klantcontact `kc`.
    pub fn link(zaak: &str, kc: &str) -> ZaakLink {
        ZaakLink {
            zaak: zaak.into(),
            label: "L".into(),
            link_to: "http://ok/oo/1".into(),
            klantcontact: kc.into(),
        }
    }

    /// Runs the contract on an empty `store`, calling `at` at each [`Point`].
    pub async fn store_contract(store: &dyn LinkStore, mut at: impl AsyncFnMut(Point)) {
        assert_eq!(store.get("a").await.unwrap(), None);
        let mut r = LinkRecord::absent("a");
        r.version = 1;
        r.link = Some(link("z1", "kc1"));
        r.pending.insert(
            "e1".into(),
            "{\"type\":\"nl.overheid.zaken.zaak-gekoppeld\"}".into(),
        );
        store.put(&r, 0).await.unwrap();
        assert!(matches!(store.put(&r, 0).await, Err(StoreError::Conflict)));
        assert_eq!(store.get("a").await.unwrap().as_ref(), Some(&r));
        assert_eq!(store.with_pending().await.unwrap(), vec![r.clone()]);
        assert_eq!(
            store.linked_to_klantcontact("kc1").await.unwrap(),
            vec![r.clone()]
        );
        assert!(store.linked_to_klantcontact("kc2").await.unwrap().is_empty());
        at(Point::OutboxFull).await;

        let mut r2 = r.clone();
        r2.version = 2;
        r2.pending.clear();
        assert!(matches!(store.put(&r2, 5).await, Err(StoreError::Conflict)));
        store.put(&r2, 1).await.unwrap();
        assert!(store.with_pending().await.unwrap().is_empty());
        assert_eq!(store.linked().await.unwrap(), vec![r2.clone()]);
        at(Point::OutboxCleared).await;

        let mut tomb = r2.clone();
        tomb.version = 3;
        tomb.link = None;
        assert!(matches!(store.put(&tomb, 1).await, Err(StoreError::Conflict)));
        store.put(&tomb, 2).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(tomb));
        assert!(store.linked_to_klantcontact("kc1").await.unwrap().is_empty());
        assert!(store.linked().await.unwrap().is_empty());
        at(Point::Tombstone).await;
    }
}
