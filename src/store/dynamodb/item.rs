//! The item as stored (layout in the module docs of [`super`]): its attribute and index names,
//! the outbox shard an item with pending events goes to, and the mapping between an item and
//! a [`LinkRecord`].

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::link::ZaakLink;
use crate::store::{LinkRecord, StoreError};

/// Sparse GSI on `klantcontact` (only items that hold a link have it).
pub const BY_KLANTCONTACT: &str = "by-klantcontact";
/// Sparse GSI on `wasKlantcontact` (only items holding a link whose object has one).
pub const BY_WAS_KLANTCONTACT: &str = "by-was-klantcontact";
/// Sparse GSI on `outbox`: items with a non-empty `pending` (values `p#…`) and the
/// klantcontact-destroyed markers (values `d#…`, see [`super::markers`]).
pub const BY_OUTBOX: &str = "by-outbox";
/// The partition key.
pub const PARTITION_KEY: &str = "onderwerpobject";
/// The value of `outbox` of items written by versions before the sharded outbox; the sweep
/// still queries it.
pub const OUTBOX_PENDING: &str = "pending";
/// How many `outbox` values (GSI partitions) pending items are spread over.
pub const OUTBOX_SHARDS: u32 = 16;
/// The key of the resync checkpoint item.
pub const CHECKPOINT_ITEM: &str = "zaaklink:resync";

/// The `outbox` value of an item with pending events: `p#<n>`, n from a stable hash (FNV-1a)
/// of the onderwerpobject, so one record always lands on the same shard.
pub fn outbox_shard(onderwerpobject: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in onderwerpobject.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("p#{}", h % OUTBOX_SHARDS)
}

/// Every `outbox` value the sweep queries: the shards and the pre-shard value.
pub fn outbox_values() -> Vec<String> {
    (0..OUTBOX_SHARDS)
        .map(|n| format!("p#{n}"))
        .chain(std::iter::once(OUTBOX_PENDING.to_string()))
        .collect()
}

/// The item as stored (see the module docs for the layout).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Item {
    onderwerpobject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zaak: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    klantcontact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    was_klantcontact: Option<String>,
    version: u64,
    #[serde(default)]
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<u64>,
    #[serde(default)]
    updated_at: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pending: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_until: Option<String>,
}

impl From<&LinkRecord> for Item {
    fn from(r: &LinkRecord) -> Self {
        let l = r.link.as_ref();
        Item {
            onderwerpobject: r.onderwerpobject.clone(),
            zaak: l.map(|l| l.zaak.clone()),
            label: l.map(|l| l.label.clone()),
            link_to: l.map(|l| l.link_to.clone()),
            klantcontact: l.map(|l| l.klantcontact.clone()),
            was_klantcontact: l.and_then(|l| l.was_klantcontact.clone()),
            version: r.version,
            seq: r.seq,
            epoch: r.epoch,
            updated_at: r.updated_at.clone(),
            pending: r.pending.clone(),
            outbox: (!r.pending.is_empty()).then(|| outbox_shard(&r.onderwerpobject)),
            claimed_until: r.claimed_until.clone(),
        }
    }
}

impl TryFrom<Item> for LinkRecord {
    type Error = StoreError;

    fn try_from(i: Item) -> Result<Self, StoreError> {
        let link = match (i.zaak, i.label, i.link_to, i.klantcontact) {
            (Some(zaak), Some(label), Some(link_to), Some(klantcontact)) => Some(ZaakLink {
                zaak,
                label,
                link_to,
                klantcontact,
                was_klantcontact: i.was_klantcontact,
            }),
            (None, None, None, None) => None,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "DynamoDB item {}: a link needs all of zaak, label, linkTo and klantcontact, some are missing",
                    i.onderwerpobject
                )))
            }
        };
        Ok(LinkRecord {
            onderwerpobject: i.onderwerpobject,
            link,
            version: i.version,
            seq: i.seq,
            epoch: i.epoch,
            updated_at: i.updated_at,
            pending: i.pending,
            claimed_until: i.claimed_until,
        })
    }
}

pub(super) fn decode(item: HashMap<String, AttributeValue>) -> Result<LinkRecord, StoreError> {
    let key = item
        .get(PARTITION_KEY)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let i: Item = serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Corrupt(format!("DynamoDB item {key:?}: {e}")))?;
    i.try_into()
}

pub(super) fn key(onderwerpobject: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(
        PARTITION_KEY.to_string(),
        AttributeValue::S(onderwerpobject.to_string()),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(link: bool, pending: bool) -> LinkRecord {
        LinkRecord {
            onderwerpobject: "u1".into(),
            link: link.then(|| ZaakLink {
                zaak: "z".into(),
                label: "L".into(),
                link_to: "http://ok/oo/u1".into(),
                klantcontact: "http://ok/kc/1".into(),
                was_klantcontact: Some("kc0".into()),
            }),
            version: 7,
            seq: 3,
            epoch: link.then_some(1_795_000_000_000),
            updated_at: "2025-10-10T00:00:00.000Z".into(),
            claimed_until: None,
            pending: if pending {
                BTreeMap::from([("e1".to_string(), "{}".to_string())])
            } else {
                BTreeMap::new()
            },
        }
    }

    #[test]
    fn item_layout_is_sparse_and_round_trips() {
        for (link, pending) in [(true, true), (true, false), (false, true), (false, false)] {
            let r = record(link, pending);
            let item = serde_dynamo::aws_sdk_dynamodb_1::to_item(Item::from(&r)).unwrap();
            for attr in ["zaak", "label", "linkTo", "klantcontact", "wasKlantcontact"] {
                assert_eq!(item.contains_key(attr), link, "{attr}");
            }
            assert_eq!(item.contains_key("pending"), pending);
            assert_eq!(
                item.get("outbox"),
                pending.then(|| AttributeValue::S(outbox_shard("u1"))).as_ref()
            );
            assert_eq!(item["version"], AttributeValue::N("7".into()));
            assert_eq!(item["seq"], AttributeValue::N("3".into()));
            assert_eq!(
                item.get("epoch"),
                link.then(|| AttributeValue::N("1795000000000".into())).as_ref()
            );
            assert_eq!(item["updatedAt"], AttributeValue::S(r.updated_at.clone()));
            assert_eq!(decode(item).unwrap(), r);
        }
    }

    #[test]
    fn outbox_shards_are_stable_and_spread() {
        assert_eq!(outbox_shard("u1"), outbox_shard("u1"));
        let mut used = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let s = outbox_shard(
                &uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &[i as u8, (i >> 8) as u8]).to_string(),
            );
            assert!(outbox_values().contains(&s), "{s}");
            used.insert(s);
        }
        assert_eq!(used.len(), OUTBOX_SHARDS as usize, "{used:?}");
        assert!(outbox_values().contains(&OUTBOX_PENDING.to_string()));
    }

    #[test]
    fn an_item_without_was_klantcontact_reads_as_none() {
        let mut item = serde_dynamo::aws_sdk_dynamodb_1::to_item(Item::from(&record(true, false))).unwrap();
        item.remove("wasKlantcontact");
        let r = decode(item).unwrap();
        assert_eq!(r.link.unwrap().was_klantcontact, None);
    }

    #[test]
    fn a_half_link_is_corrupt() {
        let mut item = serde_dynamo::aws_sdk_dynamodb_1::to_item(Item::from(&record(true, false))).unwrap();
        item.remove("label");
        assert!(matches!(decode(item), Err(StoreError::Corrupt(m)) if m.contains("u1")));
    }
}
