//! The DynamoDB link store (DESIGN §5): one item per onderwerpobject, written with a
//! conditional PutItem on `version`, its outbox (`pending`) in the same item.
//!
//! Item layout (attribute names as stored):
//! - `onderwerpobject` (S, partition key): the onderwerpobject uuid;
//! - `zaak`, `label`, `linkTo`, `klantcontact` (S): the current link, only while there is
//!   one — a tombstone omits them, so the GSI [`BY_KLANTCONTACT`] on `klantcontact` is sparse;
//! - `wasKlantcontact` (S): the uuid of the onderwerpobject's `wasKlantcontact`, only while a
//!   link exists and the object has one (absent in older items = none): the sparse GSI
//!   [`BY_WAS_KLANTCONTACT`] finds the links a klantcontact's delete takes with it;
//! - `version` (N): +1 per write, the optimistic lock;
//! - `seq` (N): the gap-free event counter of this onderwerpobject (the `sequence` of its
//!   last event; absent = 0 in items written before it existed);
//! - `epoch` (N): the epoch the item was last written in, the table's creation time in unix
//!   ms (`crate::epoch`; absent in items written before epochs existed). The store reads
//!   it once per client with DescribeTable: a restored table is a new table, so its epoch
//!   is later than the one its items carry;
//! - `updatedAt` (S): RFC 3339 time of the last write;
//! - `pending` (M of S): outbox, event id -> CloudEvent JSON, omitted when empty;
//! - `outbox` (S, `"p#0"` … `"p#15"`, the shard [`outbox_shard`] picks from a hash of the
//!   onderwerpobject): present only while `pending` is non-empty, so the sparse GSI
//!   [`BY_OUTBOX`] lets the sweep find those items with a Query per shard, never a Scan.
//!   Spread over [`OUTBOX_SHARDS`] values, a bulk write (a first resync) never concentrates
//!   on one index partition; items of older versions (`"pending"`) are still swept.
//!
//! Reserved items (keys that are never a uuid) hold the resync's state
//! ([`CheckpointStore`]): `zaaklink:resync` with `checkpoint` (S, JSON) and `version` (N),
//! and `zaaklink:resync:seen:{pass}:{page}` with `uuids` (S, one a line). They have no
//! `zaak`/`klantcontact`/`outbox`, so no index and no link scan sees them. So do the
//! klantcontact-destroyed markers (`markers`, [`MARKER_SHARDS`] items, see [`markers`]).
//!
//! Throttling and transient errors are retried by the SDK's standard retry policy (the
//! default retry config of the client is kept); what still fails becomes
//! [`StoreError::Unavailable`], which makes the webhook answer 503 so Open Notificaties
//! retries later.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::{CheckpointStore, DestroyedKlantcontact, LinkRecord, LinkStore, SavedCheckpoint, StoreError};
use crate::link::ZaakLink;

pub mod markers;
pub use markers::{marker_item, MARKER_SHARDS};

/// Sparse GSI on `klantcontact` (only items that hold a link have it).
pub const BY_KLANTCONTACT: &str = "by-klantcontact";
/// Sparse GSI on `wasKlantcontact` (only items holding a link whose object has one).
pub const BY_WAS_KLANTCONTACT: &str = "by-was-klantcontact";
/// Sparse GSI on `outbox` (only items with a non-empty `pending` have it).
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
struct Item {
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

fn decode(item: HashMap<String, AttributeValue>) -> Result<LinkRecord, StoreError> {
    let key = item
        .get(PARTITION_KEY)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let i: Item = serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Corrupt(format!("DynamoDB item {key:?}: {e}")))?;
    i.try_into()
}

fn key(onderwerpobject: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(
        PARTITION_KEY.to_string(),
        AttributeValue::S(onderwerpobject.to_string()),
    )])
}

/// The LinkStore on a DynamoDB table (`LINKS_TABLE`).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The table's epoch, read once (DescribeTable) on the first write that needs it.
    epoch: std::sync::Arc<tokio::sync::OnceCell<u64>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            epoch: Default::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// An SDK error as [`StoreError::Unavailable`], naming the operation, the table, the
    /// error with its causes, and the fix where it is obvious.
    fn unavailable<E, R>(&self, op: &str, e: &SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let hint = match e.code() {
            Some("ResourceNotFoundException") => format!(
                "; table {} (or its index) does not exist: check LINKS_TABLE / deploy the stack",
                self.table
            ),
            Some("AccessDeniedException") => format!(
                "; the role lacks dynamodb:{op} on table {} and its indexes: check the function's IAM policy",
                self.table
            ),
            Some("ProvisionedThroughputExceededException") | Some("ThrottlingException") => {
                "; still throttled after the SDK's retries".to_string()
            }
            _ => match e {
                SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                    "; DynamoDB was not reached: check the network / AWS_ENDPOINT_URL".to_string()
                }
                _ => String::new(),
            },
        };
        StoreError::Unavailable(format!(
            "DynamoDB {op} on table {} failed: {}{hint}",
            self.table,
            DisplayErrorContext(e)
        ))
    }

    /// All items of a Query on `index` where `attr = value` (every page). GSI reads are
    /// eventually consistent; callers re-read what they use with [`Self::get`].
    /// Sends a PutItem only if the stored `version` is still `expected` (0: no item yet);
    /// a lost race is [`StoreError::Conflict`].
    async fn put_if_version(
        &self,
        req: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
        expected: u64,
    ) -> Result<(), StoreError> {
        let req = if expected == 0 {
            req.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY)
        } else {
            req.condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(self.unavailable("PutItem", &e)),
        }
    }

    /// Consistent BatchGetItem of items by key, 100 keys a call, unprocessed keys asked again
    /// with backoff (10 attempts); the items in no particular order, missing keys left out.
    async fn batch_get(&self, keys: &[String]) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut ask = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| key(k)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("BatchGetItem request: {e}")))?;
            for attempt in 0..10u32 {
                let resp = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ask.clone())
                    .send()
                    .await
                    .map_err(|e| self.unavailable("BatchGetItem", &e))?;
                if let Some(mut got) = resp.responses {
                    out.extend(got.remove(&self.table).unwrap_or_default());
                }
                match resp
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty())
                {
                    Some(rest) if attempt < 9 => {
                        ask = rest;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(5))).await;
                    }
                    Some(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "DynamoDB BatchGetItem on table {}: keys still unprocessed after 10 attempts (throttled)",
                            self.table
                        )))
                    }
                    None => break,
                }
            }
        }
        Ok(out)
    }

    async fn query_index(
        &self,
        index: &str,
        attr: &str,
        value: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", attr)
                .expression_attribute_values(":v", AttributeValue::S(value.to_string()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.unavailable("Query", &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Re-read the items a GSI query found with a strongly consistent GetItem and keep those
    /// that still match: a GSI may lag the table (a just-cleared outbox, a just-moved link),
    /// and the table is the truth. Any GSI projection works this way.
    async fn reread(
        &self,
        found: Vec<HashMap<String, AttributeValue>>,
        keep: impl Fn(&LinkRecord) -> bool,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let mut uuids: Vec<String> = found
            .iter()
            .filter_map(|i| i.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned())
            .collect();
        uuids.sort();
        uuids.dedup();
        let mut out = Vec::with_capacity(uuids.len());
        for uuid in uuids {
            if let Some(r) = self.get(&uuid).await? {
                if keep(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.epoch
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .describe_table()
                    .table_name(&self.table)
                    .send()
                    .await
                    .map_err(|e| self.unavailable("DescribeTable", &e))?;
                let created = out
                    .table
                    .and_then(|t| t.creation_date_time)
                    .and_then(|t| t.to_millis().ok())
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "DescribeTable of {} gave no CreationDateTime: cannot tell the table's epoch",
                            self.table
                        ))
                    })?;
                Ok(created as u64)
            })
            .await
            .copied()
    }

    async fn get(&self, onderwerpobject: &str) -> Result<Option<LinkRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(onderwerpobject)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", &e))?;
        out.item.map(decode).transpose()
    }

    async fn put(&self, record: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        let item = serde_dynamo::aws_sdk_dynamodb_1::to_item(Item::from(record))
            .map_err(|e| StoreError::Corrupt(format!("onderwerpobject {}: {e}", record.onderwerpobject)))?;
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        self.put_if_version(req, expected).await
    }

    /// Query on [`BY_KLANTCONTACT`], then a consistent re-read of each item: the GSI is
    /// eventually consistent, so a link written a moment ago may be missing from it: the
    /// klantcontact `destroy` handler leaves a marker, and the sweep asks again after the grace
    /// period (DESIGN §2); for other notifications such a link was written after its own fresh
    /// read of Open Klant.
    async fn linked_to_klantcontact(&self, klantcontact: &str) -> Result<Vec<LinkRecord>, StoreError> {
        let found = self
            .query_index(BY_KLANTCONTACT, "klantcontact", klantcontact)
            .await?;
        self.reread(found, |r| {
            r.link.as_ref().is_some_and(|l| l.klantcontact == klantcontact)
        })
        .await
    }

    /// Query on [`BY_WAS_KLANTCONTACT`], then a consistent re-read of each item (lagging like
    /// [`Self::linked_to_klantcontact`]; the klantcontact-destroyed markers cover that).
    async fn linked_to_was_klantcontact(
        &self,
        klantcontact_uuid: &str,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let found = self
            .query_index(BY_WAS_KLANTCONTACT, "wasKlantcontact", klantcontact_uuid)
            .await?;
        self.reread(found, |r| {
            r.link
                .as_ref()
                .is_some_and(|l| l.was_klantcontact.as_deref() == Some(klantcontact_uuid))
        })
        .await
    }

    async fn put_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.put_marker(marker).await
    }

    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.markers().await
    }

    async fn drop_destroyed(&self, marker: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.drop_marker(marker).await
    }

    /// Query on the sparse [`BY_OUTBOX`] index, then a consistent re-read of each item, so a
    /// lagging index never makes the sweep put an outbox that was already cleared.
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        let mut found = Vec::new();
        for shard in outbox_values() {
            found.extend(self.query_index(BY_OUTBOX, "outbox", &shard).await?);
        }
        self.reread(found, |r| !r.pending.is_empty()).await
    }

    /// Consistent BatchGetItem, 100 keys a call, unprocessed keys asked again (with backoff).
    async fn get_many(&self, onderwerpobjecten: &[String]) -> Result<Vec<LinkRecord>, StoreError> {
        let mut keys: Vec<String> = onderwerpobjecten.to_vec();
        keys.sort();
        keys.dedup();
        self.batch_get(&keys).await?.into_iter().map(decode).collect()
    }

    /// A consistent Scan page for items holding a link; the cursor is the last evaluated key.
    async fn linked_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LinkRecord>, Option<String>), StoreError> {
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("attribute_exists(zaak)")
            .consistent_read(true)
            .limit(limit.clamp(1, 5000) as i32)
            .set_exclusive_start_key(cursor.map(key))
            .send()
            .await
            .map_err(|e| self.unavailable("Scan", &e))?;
        let records = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let next = page
            .last_evaluated_key
            .and_then(|k| k.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned());
        Ok((records, next))
    }

    /// A (consistent, paginated) Scan for items holding a link; only resync uses it.
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("attribute_exists(zaak)")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.unavailable("Scan", &e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.onderwerpobject.cmp(&b.onderwerpobject));
        Ok(out)
    }
}

fn seen_item(pass: &str, chunk: u32) -> String {
    format!("{CHECKPOINT_ITEM}:seen:{pass}:{chunk}")
}

#[async_trait]
impl CheckpointStore for DynamoStore {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(CHECKPOINT_ITEM)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let json = item.get("checkpoint").and_then(|v| v.as_s().ok()).cloned();
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok());
        match (json, version) {
            (Some(json), Some(version)) => Ok(Some(SavedCheckpoint { json, version })),
            _ => Err(StoreError::Corrupt(format!(
                "DynamoDB item {CHECKPOINT_ITEM:?} lacks checkpoint or version"
            ))),
        }
    }

    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, AttributeValue::S(CHECKPOINT_ITEM.into()))
            .item("checkpoint", AttributeValue::S(json.into()))
            .item("version", AttributeValue::N((expected + 1).to_string()));
        self.put_if_version(req, expected).await
    }

    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, AttributeValue::S(seen_item(pass, chunk)))
            .item("uuids", AttributeValue::S(uuids.join("\n")))
            .send()
            .await
            .map_err(|e| self.unavailable("PutItem", &e))?;
        Ok(())
    }

    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError> {
        let keys: Vec<String> = (0..chunks).map(|c| seen_item(pass, c)).collect();
        let mut out = Vec::new();
        for item in self.batch_get(&keys).await? {
            if let Some(s) = item.get("uuids").and_then(|v| v.as_s().ok()) {
                out.extend(s.split('\n').filter(|u| !u.is_empty()).map(str::to_string));
            }
        }
        Ok(out)
    }

    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError> {
        for c in 0..chunks {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(&seen_item(pass, c))))
                .send()
                .await
                .map_err(|e| self.unavailable("DeleteItem", &e))?;
        }
        Ok(())
    }
}

/// Create the links table with its three sparse GSIs, on-demand billing, and wait until it is
/// active. For tests and local setups (e.g. against an emulator via `AWS_ENDPOINT_URL`); in
/// AWS the stack creates it with the same layout.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let s = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let hash = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .expect("name and key type are set")
    };
    let gsi = |index: &str, attr: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(hash(attr))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .expect("index name and key schema are set")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(s(PARTITION_KEY))
        .attribute_definitions(s("klantcontact"))
        .attribute_definitions(s("outbox"))
        .attribute_definitions(s("wasKlantcontact"))
        .key_schema(hash(PARTITION_KEY))
        .global_secondary_indexes(gsi(BY_KLANTCONTACT, "klantcontact"))
        .global_secondary_indexes(gsi(BY_WAS_KLANTCONTACT, "wasKlantcontact"))
        .global_secondary_indexes(gsi(BY_OUTBOX, "outbox"))
        .send()
        .await
        .map_err(|e| format!("DynamoDB CreateTable {table} failed: {}", DisplayErrorContext(&e)))?;
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DynamoDB DescribeTable {table} failed: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        if d.table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(format!(
        "DynamoDB table {table} did not become active within 60 s"
    ))
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
