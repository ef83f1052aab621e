//! Reads through the sparse GSIs: a paginated Query, then a consistent re-read of what it
//! found, since a GSI may lag the table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, PARTITION_KEY};
use crate::store::{LinkRecord, LinkStore, StoreError};

impl DynamoStore {
    /// All items of a Query on `index` where `attr = value` (every page). GSI reads are
    /// eventually consistent; callers re-read what they use with [`Self::get`].
    pub(super) async fn query_index(
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
    pub(super) async fn reread(
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
