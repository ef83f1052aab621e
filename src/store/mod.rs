//! The link-store port (DESIGN §5): one record per onderwerpobject, written only with a
//! compare-and-set on `version`, carrying its outbox (`pending`).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::cloudevent::OutboxEvent;
use crate::link::ZaakLink;

pub mod audit_state;
pub mod checkpoint;
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

/// The behaviour every [`LinkStore`] must have, run by each adapter's tests (memory and
/// embedded in their unit tests, DynamoDB against moto in tests/it/aws_moto.rs). Not part of
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
            was_klantcontact: None,
        }
    }

    /// The `wasKlantcontact` index and the klantcontact-destroyed markers.
    pub async fn was_and_markers_contract(store: &dyn LinkStore) {
        let mut w = LinkRecord::absent("w1");
        w.version = 1;
        w.link = Some(ZaakLink {
            was_klantcontact: Some("kcw".into()),
            ..link("z1", "kc7")
        });
        store.put(&w, 0).await.unwrap();
        assert_eq!(store.get("w1").await.unwrap().as_ref(), Some(&w));
        assert_eq!(
            store.linked_to_was_klantcontact("kcw").await.unwrap(),
            vec![w.clone()]
        );
        assert!(store.linked_to_was_klantcontact("kc7").await.unwrap().is_empty());
        assert_eq!(
            store.linked_to_klantcontact("kc7").await.unwrap(),
            vec![w.clone()]
        );
        let mut moved = w.clone();
        moved.version = 2;
        moved.link.as_mut().unwrap().was_klantcontact = None;
        store.put(&moved, 1).await.unwrap();
        assert!(store.linked_to_was_klantcontact("kcw").await.unwrap().is_empty());
        let mut tomb = moved.clone();
        tomb.version = 3;
        tomb.link = None;
        store.put(&tomb, 2).await.unwrap();

        assert!(store.destroyed().await.unwrap().is_empty());
        let m = |at: &str, u: &str| DestroyedKlantcontact {
            at: at.into(),
            uuid: u.into(),
            url: format!("http://ok/klantcontacten/{u}"),
        };
        let (a, a2, b) = (
            m("2026-10-10T09:00:00.000Z", "k1"),
            m("2026-10-10T09:00:05.000Z", "k1"),
            m("2026-10-10T09:00:01.000Z", "k2"),
        );
        for x in [&a, &b, &a2, &a] {
            store.put_destroyed(x).await.unwrap();
        }
        let mut all = store.destroyed().await.unwrap();
        all.sort();
        assert_eq!(all, vec![a.clone(), b.clone(), a2.clone()]);
        store.drop_destroyed(&a).await.unwrap();
        store.drop_destroyed(&a).await.unwrap();
        let mut all = store.destroyed().await.unwrap();
        all.sort();
        assert_eq!(all, vec![b.clone(), a2.clone()]);
        store.drop_destroyed(&a2).await.unwrap();
        store.drop_destroyed(&b).await.unwrap();
        assert!(store.destroyed().await.unwrap().is_empty());
        // markers are not records: no index, no link scan, no get sees them
        store.put_destroyed(&a).await.unwrap();
        assert!(store
            .linked()
            .await
            .unwrap()
            .iter()
            .all(|r| r.onderwerpobject != "k1"));
        assert!(store.with_pending().await.unwrap().is_empty());
        store.drop_destroyed(&a).await.unwrap();
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
        // batch read: present ones only, absent ones left out
        let many = store
            .get_many(&["a".to_string(), "nope".to_string()])
            .await
            .unwrap();
        assert_eq!(many, vec![r2.clone()]);
        assert!(store.get_many(&[]).await.unwrap().is_empty());
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

        // More than one batch (DynamoDB reads 100 keys a call), and paging the linked ones.
        let keys: Vec<String> = (0..130).map(|i| format!("batch{i:03}")).collect();
        for (i, k) in keys.iter().enumerate() {
            let mut m = LinkRecord::absent(k);
            m.version = 1;
            m.link = (i % 2 == 0).then(|| link("z", "kc9"));
            store.put(&m, 0).await.unwrap();
        }
        let mut ask = keys.clone();
        ask.push("absent".into());
        let mut got: Vec<String> = store
            .get_many(&ask)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.onderwerpobject)
            .collect();
        got.sort();
        assert_eq!(got, keys);
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let (page, next) = store.linked_page(cursor.as_deref(), 20).await.unwrap();
            paged.extend(page.into_iter().map(|r| r.onderwerpobject));
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        paged.sort();
        paged.dedup();
        let linked: Vec<String> = keys.iter().step_by(2).cloned().collect();
        assert_eq!(paged, linked);

        // Batched writes: each compare-and-set on its own; a conflict leaves the others.
        let mut writes: Vec<(LinkRecord, u64)> = Vec::new();
        for (i, k) in keys.iter().take(120).enumerate() {
            let mut m = store.get(k).await.unwrap().unwrap();
            let expected = if i == 7 { 9 } else { m.version };
            m.version += 1;
            m.link = Some(link("zm", "kcm"));
            writes.push((m, expected));
        }
        let mut fresh = LinkRecord::absent("many-new");
        fresh.version = 1;
        fresh.link = Some(link("zn", "kcm"));
        writes.push((fresh, 0));
        let results = store.put_many(&writes).await.unwrap();
        assert_eq!(results.len(), writes.len());
        for (i, ((w, _), r)) in writes.iter().zip(&results).enumerate() {
            let now = store.get(&w.onderwerpobject).await.unwrap().unwrap();
            if i == 7 {
                assert!(matches!(r, Err(StoreError::Conflict)), "write {i}: {r:?}");
                assert_eq!(now.version, w.version - 1);
            } else {
                assert!(r.is_ok(), "write {i}: {r:?}");
                assert_eq!(&now, w);
            }
        }
        assert!(store.put_many(&[]).await.unwrap().is_empty());
    }
}
