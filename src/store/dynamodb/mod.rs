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
//! and `zaaklink:resync:seen:{pass}:{page}` with `uuids` (S, one a line); the audit's saved
//! run ([`crate::store::AuditStateStore`]) is `zaaklink:resync:audit` with `audit` (S, JSON)
//! and `version` (N), its chunks seen items of passes `audit:{run}:…`. They have no
//! `zaak`/`klantcontact`/`outbox`, so no index and no link scan sees them. The
//! klantcontact-destroyed markers are reserved items too, one per marker, with no `zaak` or
//! `klantcontact`: their `outbox` values `d#0` … `d#15` put them in [`BY_OUTBOX`] beside the
//! outbox shards, where the sweep finds them (see [`markers`]).
//!
//! Throttling and transient errors are retried by the SDK's standard retry policy (the
//! default retry config of the client is kept); what still fails becomes
//! [`StoreError::Unavailable`], which makes the webhook answer 503 so Open Notificaties
//! retries later.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

#[cfg(doc)]
use super::CheckpointStore;
use super::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};

mod batch;
mod checkpoint;
mod errors;
mod item;
mod many;
pub mod markers;
mod query;
mod table;

use item::{decode, key, Item};
pub use item::{
    outbox_shard, outbox_values, BY_KLANTCONTACT, BY_OUTBOX, BY_WAS_KLANTCONTACT, CHECKPOINT_ITEM,
    OUTBOX_PENDING, OUTBOX_SHARDS, PARTITION_KEY,
};
pub use markers::{
    legacy_marker_item, legacy_marker_shard, marker_key, marker_shard, marker_values, LEGACY_MARKER_SHARDS,
    MARKER_SHARDS,
};
pub use table::{create_table, wait_until_active};

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

    /// Conditional PutItems, 25 at once (see `many`).
    async fn put_many(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.put_concurrently(writes).await
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
