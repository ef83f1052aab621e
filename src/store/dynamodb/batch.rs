//! Consistent BatchGetItem with retry of the keys DynamoDB left unprocessed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{key, DynamoStore};
use crate::store::StoreError;

impl DynamoStore {
    /// Consistent BatchGetItem of items by key, 100 keys a call, unprocessed keys asked again
    /// with backoff (10 attempts); the items in no particular order, missing keys left out.
    pub(super) async fn batch_get(
        &self,
        keys: &[String],
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
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
}
