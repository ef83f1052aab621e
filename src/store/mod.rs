//! The link-store port (DESIGN §5): one record per onderwerpobject, written only with a
//! compare-and-set on `version`, carrying its outbox (`pending`).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::cloudevent::OutboxEvent;
use crate::link::ZaakLink;

pub mod audit_state;
pub mod checkpoint;
/// The behaviour every [`LinkStore`] must have (src/store/contract.rs): for tests only.
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod contract;
pub mod dynamodb;
pub mod embedded;
pub mod memory;

pub use audit_state::AuditStateStore;
pub use checkpoint::{CheckpointStore, SavedCheckpoint};

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
    /// The epoch of the store this record was last written in (`crate::epoch`); unset for
    /// records written before epochs existed. A record from another epoch (a restored
    /// table) starts a new sequence on its next transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
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

/// "Klantcontact K was destroyed at `at`": written by the klantcontact `destroy` handler before
/// it looks for K's links, removed by the outbox sweep once it looked again after the grace
/// period (DESIGN §2, §5) — an index that lagged at the destroy has caught up by then.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestroyedKlantcontact {
    /// When the destroy was handled (RFC 3339, milliseconds, `Z`).
    pub at: String,
    /// The klantcontact's uuid (canonical lower case).
    pub uuid: String,
    /// The klantcontact's URL (as in the notification).
    pub url: String,
}

impl DestroyedKlantcontact {
    /// The marker as one line of text, `{at} {uuid} {url}` (none of them holds a space), as
    /// the DynamoDB and embedded stores keep it.
    pub fn encode(&self) -> String {
        format!("{} {} {}", self.at, self.uuid, self.url)
    }

    pub fn decode(s: &str) -> Result<Self, StoreError> {
        let mut parts = s.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(at), Some(uuid), Some(url)) if !at.is_empty() && !uuid.is_empty() && !url.is_empty() => {
                Ok(DestroyedKlantcontact {
                    at: at.into(),
                    uuid: uuid.into(),
                    url: url.into(),
                })
            }
            _ => Err(StoreError::Corrupt(format!(
                "klantcontact-destroyed marker {s:?}: want \"<time> <uuid> <url>\""
            ))),
        }
    }
}

/// Where the last known link per onderwerpobject lives.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// The epoch of the data this store holds (`crate::epoch`): the creation time (unix ms)
    /// of the table or file, so a restored copy has a later one. 0: no lineage (memory).
    /// Required, not defaulted: a wrapper that forgot it would stamp records with epoch 0 and
    /// restart every sequence of the store it wraps.
    async fn epoch(&self) -> Result<u64, StoreError>;
    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// Write `record` only if the stored version is still `expected` (0 = no record yet);
    /// `record.version` is `expected + 1`. Otherwise `Err(StoreError::Conflict)`.
    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError>;
    /// Records whose current link belongs to this klantcontact (URL).
    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError>;
    /// Records whose current link's onderwerpobject has this klantcontact (uuid) as its
    /// `wasKlantcontact`.
    async fn linked_to_was_klantcontact(
        &self,
        klantcontact_uuid: &str,
    ) -> Result<Vec<LinkRecord>, StoreError>;
    /// Remember a klantcontact destroy for the sweep's recheck (a second marker of the same
    /// klantcontact, e.g. a repeated notification, is kept beside the first).
    async fn put_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError>;
    /// Every marker not yet removed, however many (no cap: DynamoDB keeps one item per
    /// marker). A marker removed is never returned; one added a moment ago may be missing
    /// from an index-backed store for that moment (it is not due before the recheck grace).
    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError>;
    /// Remove exactly this marker (a newer one of the same klantcontact stays); removing one
    /// that is gone is no error.
    async fn drop_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError>;
    /// Records with events still in their outbox.
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError>;
    /// Onderwerpobject uuids of every record that holds a link (for resync).
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError>;

    /// The records of these onderwerpobjecten that exist, read as consistently as [`Self::get`]
    /// (the resync reads a list page's records at once). The order is not specified.
    /// The default reads them one by one; adapters with a batch read override it.
    async fn get_many(&self, onderwerpobjecten: &[String]) -> Result<Vec<LinkRecord>, StoreError> {
        let mut out = Vec::with_capacity(onderwerpobjecten.len());
        for u in onderwerpobjecten {
            if let Some(r) = self.get(u).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Several writes, each as [`Self::put`] (`record.version` = its `expected` + 1), in as
    /// few store calls as the adapter allows (the resync writes a page's records in batches,
    /// DESIGN §7): one result per write, in order — a lost compare-and-set is that write's
    /// `Err(Conflict)` and does not stop the others. An `Err` of the whole call: some writes
    /// may have applied; the caller reads again. Each onderwerpobject at most once per call.
    /// The default writes them one by one; the embedded store uses one transaction, DynamoDB
    /// sends its conditional PutItems 25 at once.
    async fn put_many(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut out = Vec::with_capacity(writes.len());
        for (record, expected) in writes {
            match self.put(record, *expected).await {
                Err(StoreError::Conflict) => out.push(Err(StoreError::Conflict)),
                Err(e) => return Err(e),
                Ok(()) => out.push(Ok(())),
            }
        }
        Ok(out)
    }

    /// One page of the records holding a link, for the resync's second phase: up to about
    /// `limit` records after `cursor` (None = from the start), and the cursor of the next page
    /// (None = that was the last). The cursor is opaque and survives a restart.
    /// The default pages over [`Self::linked`] in key order.
    async fn linked_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LinkRecord>, Option<String>), StoreError> {
        let all = self.linked().await?;
        let mut page: Vec<LinkRecord> = all
            .into_iter()
            .filter(|r| cursor.is_none_or(|c| r.onderwerpobject.as_str() > c))
            .collect();
        page.sort_by(|a, b| a.onderwerpobject.cmp(&b.onderwerpobject));
        let more = page.len() > limit;
        page.truncate(limit.max(1));
        let next = more
            .then(|| page.last().map(|r| r.onderwerpobject.clone()))
            .flatten();
        Ok((page, next))
    }
}
