//! The resync's state on reserved items of the links table ([`CheckpointStore`]): the
//! checkpoint item and the `seen` items of a pass (layout in the module docs of [`super`]);
//! the audit's state document ([`crate::store::AuditStateStore`]) beside them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{key, DynamoStore, CHECKPOINT_ITEM, PARTITION_KEY};
use crate::store::{CheckpointStore, SavedCheckpoint, StoreError};

fn seen_item(pass: &str, chunk: u32) -> String {
    format!("{CHECKPOINT_ITEM}:seen:{pass}:{chunk}")
}

/// The audit's state document (DESIGN §9): a reserved item beside the resync's checkpoint.
fn audit_item() -> String {
    format!("{CHECKPOINT_ITEM}:audit")
}

impl DynamoStore {
    /// The versioned document of reserved item `item` (`attr` holds the JSON).
    async fn load_versioned(&self, item: &str, attr: &str) -> Result<Option<SavedCheckpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", &e))?;
        let Some(found) = out.item else {
            return Ok(None);
        };
        let json = found.get(attr).and_then(|v| v.as_s().ok()).cloned();
        let version = found
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok());
        match (json, version) {
            (Some(json), Some(version)) => Ok(Some(SavedCheckpoint { json, version })),
            _ => Err(StoreError::Corrupt(format!(
                "DynamoDB item {item:?} lacks {attr} or version"
            ))),
        }
    }

    /// Save reserved item `item` as version `expected + 1` if it is still at `expected`.
    async fn save_versioned(
        &self,
        item: &str,
        attr: &str,
        json: &str,
        expected: u64,
    ) -> Result<(), StoreError> {
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, AttributeValue::S(item.into()))
            .item(attr, AttributeValue::S(json.into()))
            .item("version", AttributeValue::N((expected + 1).to_string()));
        self.put_if_version(req, expected).await
    }
}

#[async_trait]
impl crate::store::AuditStateStore for DynamoStore {
    async fn load_audit(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.load_versioned(&audit_item(), "audit").await
    }

    async fn save_audit(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        self.save_versioned(&audit_item(), "audit", json, expected).await
    }
}

#[async_trait]
impl CheckpointStore for DynamoStore {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.load_versioned(CHECKPOINT_ITEM, "checkpoint").await
    }

    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        self.save_versioned(CHECKPOINT_ITEM, "checkpoint", json, expected)
            .await
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
