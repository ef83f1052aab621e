//! Klantcontact-destroyed markers on DynamoDB (DESIGN §5): one reserved item per marker, so
//! there is no cap on how many rechecks wait (no item fills up).
//!
//! A marker is the item `zaaklink:klantcontact-destroyed:{line}` (the line is
//! `{at} {uuid} {url}`, see [`DestroyedKlantcontact::encode`]) with `marker` (S, the line) and
//! `outbox` (S, `d#0` … `d#15`, from a hash of the klantcontact's uuid). The `outbox` value
//! puts it in the sparse GSI `by-outbox` that the sweep already reads, under values of its own
//! ([`marker_values`]; the outbox's are `p#…`): the sweep finds the markers with a paginated
//! Query per shard, never a Scan, and the table needs no new index. A marker is added with a
//! PutItem and removed with a DeleteItem of exactly its key: two destroys never conflict, and
//! removing a checked marker leaves a newer one of the same klantcontact. The items carry no
//! `zaak`, `klantcontact`, `wasKlantcontact` or `version`: no link index and no link scan sees
//! them.
//!
//! The index may lag the table by a moment: the sweep re-reads what it found with a
//! consistent BatchGetItem, so a marker just removed is not checked twice; a marker just added
//! is not due for its recheck before the grace period (a minute) anyway.
//!
//! Before this layout the markers were string sets in [`LEGACY_MARKER_SHARDS`] items
//! `zaaklink:klantcontact-destroyed:{n}` (about 2,500 markers an item, DynamoDB's 400 KB; past
//! that a destroy answered 503). The sweep still reads those items and moves each line it
//! finds to an item of its own, so markers written by an older version are rechecked too.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{key, DynamoStore, BY_OUTBOX, PARTITION_KEY};
use crate::store::{DestroyedKlantcontact, StoreError};

/// How many `outbox` values (index partitions) the markers are spread over.
pub const MARKER_SHARDS: u32 = 16;

/// How many string-set items the markers of older versions were spread over.
pub const LEGACY_MARKER_SHARDS: u32 = 16;

/// The key prefix of marker items.
const PREFIX: &str = "zaaklink:klantcontact-destroyed:";

/// The key of the item of marker `m`.
pub fn marker_key(m: &DestroyedKlantcontact) -> String {
    format!("{PREFIX}{}", m.encode())
}

/// The `outbox` value of marker `m`: `d#{n}`, n from FNV-1a of the klantcontact's uuid.
pub fn marker_shard(m: &DestroyedKlantcontact) -> String {
    format!("d#{}", fnv(&m.uuid) % MARKER_SHARDS)
}

/// Every `outbox` value a marker may have (what the sweep queries for markers).
pub fn marker_values() -> Vec<String> {
    (0..MARKER_SHARDS).map(|n| format!("d#{n}")).collect()
}

/// The key of the string-set item `n` of older versions.
pub fn legacy_marker_item(n: u32) -> String {
    format!("{PREFIX}{n}")
}

/// The string-set item a marker went to in older versions (FNV-1a of the uuid, like now).
pub fn legacy_marker_shard(uuid: &str) -> u32 {
    fnv(uuid) % LEGACY_MARKER_SHARDS
}

fn fnv(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

impl DynamoStore {
    pub(super) async fn put_marker(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, AttributeValue::S(marker_key(m)))
            .item("marker", AttributeValue::S(m.encode()))
            .item("outbox", AttributeValue::S(marker_shard(m)))
            .send()
            .await
            .map_err(|e| self.unavailable("PutItem", &e))?;
        Ok(())
    }

    pub(super) async fn drop_marker(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&marker_key(m))))
            .send()
            .await
            .map_err(|e| self.unavailable("DeleteItem", &e))?;
        Ok(())
    }

    /// Every marker: the older versions' string sets moved to items of their own first, then
    /// a Query per marker shard, then a consistent re-read of what the index found.
    pub(super) async fn markers(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.move_legacy_markers().await?;
        let mut keys = Vec::new();
        for shard in marker_values() {
            for item in self.query_index(BY_OUTBOX, "outbox", &shard).await? {
                if let Some(k) = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()) {
                    keys.push(k.clone());
                }
            }
        }
        keys.sort();
        keys.dedup();
        let mut out = BTreeSet::new();
        for item in self.batch_get(&keys).await? {
            out.insert(decode_marker(&item)?);
        }
        Ok(out.into_iter().collect())
    }

    /// Each line of an older version's string-set item becomes an item of its own, then
    /// leaves the set (in that order: a crash in between leaves it in both, and both are the
    /// same marker).
    async fn move_legacy_markers(&self) -> Result<(), StoreError> {
        let keys: Vec<String> = (0..LEGACY_MARKER_SHARDS).map(legacy_marker_item).collect();
        for item in self.batch_get(&keys).await? {
            let Some(lines) = item.get("markers").and_then(|v| v.as_ss().ok()) else {
                continue;
            };
            let Some(k) = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()) else {
                continue;
            };
            for line in lines {
                let m = DestroyedKlantcontact::decode(line)?;
                self.put_marker(&m).await?;
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(k)))
                    .update_expression("DELETE #m :line")
                    .expression_attribute_names("#m", "markers")
                    .expression_attribute_values(":line", AttributeValue::Ss(vec![line.clone()]))
                    .send()
                    .await
                    .map_err(|e| self.unavailable("UpdateItem", &e))?;
            }
        }
        Ok(())
    }
}

fn decode_marker(item: &HashMap<String, AttributeValue>) -> Result<DestroyedKlantcontact, StoreError> {
    let line = item
        .get("marker")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("a klantcontact-destroyed marker item has no `marker`".into()))?;
    DestroyedKlantcontact::decode(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(i: u32) -> DestroyedKlantcontact {
        let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &i.to_be_bytes()).to_string();
        DestroyedKlantcontact {
            at: "2026-10-10T09:00:00.000Z".into(),
            url: format!("https://ok/klantcontacten/{u}"),
            uuid: u,
        }
    }

    #[test]
    fn marker_items_are_reserved_keys_spread_over_their_own_shards() {
        let mut used = BTreeSet::new();
        for i in 0..500u32 {
            let m = marker(i);
            used.insert(marker_shard(&m));
            assert!(uuid::Uuid::parse_str(&marker_key(&m)).is_err());
            assert!(marker_key(&m).starts_with(PREFIX));
            // never one of the outbox's values (`p#…`, `pending`)
            assert!(!super::super::outbox_values().contains(&marker_shard(&m)));
            assert!(legacy_marker_shard(&m.uuid) < LEGACY_MARKER_SHARDS);
        }
        assert_eq!(used.len(), MARKER_SHARDS as usize);
        assert_eq!(used, marker_values().into_iter().collect());
        // a marker's key differs from a legacy item's key
        assert!((0..LEGACY_MARKER_SHARDS).all(|n| legacy_marker_item(n) != marker_key(&marker(n))));
    }
}
