//! Batched conditional writes: `TransactWriteItems`, up to [`MAX_ITEMS`] puts a call, each
//! with the same `version` condition as a single PutItem. A transaction is all or nothing:
//! when it is cancelled, the writes whose condition failed are that write's conflict and the
//! others are sent again without them.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::item::Item;
use super::{DynamoStore, PARTITION_KEY};
use crate::store::{LinkRecord, StoreError};

/// DynamoDB's limit of actions in one transaction.
const MAX_ITEMS: usize = 100;

/// Cancelled transactions sent again before the batch fails (another transaction on one of
/// the items, `TransactionConflict`, or a throttle).
const ATTEMPTS: u32 = 8;

impl DynamoStore {
    /// The writes in transactions of [`MAX_ITEMS`]; one result per write, in order.
    pub(super) async fn transact_puts(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut out = Vec::with_capacity(writes.len());
        for chunk in writes.chunks(MAX_ITEMS) {
            out.extend(self.transact_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn transact_chunk(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut result: Vec<Option<Result<(), StoreError>>> = writes.iter().map(|_| None).collect();
        for attempt in 0..ATTEMPTS {
            let open: Vec<usize> = (0..writes.len()).filter(|i| result[*i].is_none()).collect();
            if open.is_empty() {
                break;
            }
            let items = open
                .iter()
                .map(|i| self.conditional_put(&writes[*i].0, writes[*i].1))
                .collect::<Result<Vec<_>, _>>()?;
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let e = match sent {
                Ok(_) => {
                    for i in open {
                        result[i] = Some(Ok(()));
                    }
                    break;
                }
                Err(e) => e,
            };
            let reasons = match e.as_service_error() {
                Some(s) if s.is_transaction_canceled_exception() => match s {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().to_vec()
                    }
                    _ => Vec::new(),
                },
                _ => return Err(self.unavailable("TransactWriteItems", &e)),
            };
            let mut failed_condition = false;
            for (n, i) in open.iter().enumerate() {
                if reasons.get(n).and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                    result[*i] = Some(Err(StoreError::Conflict));
                    failed_condition = true;
                }
            }
            if !failed_condition {
                // Cancelled for another reason (a concurrent transaction, a throttle): the
                // same writes again after a pause.
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(5))).await;
            }
        }
        if result.iter().any(Option::is_none) {
            return Err(StoreError::Unavailable(format!(
                "DynamoDB TransactWriteItems on table {}: transactions still cancelled after {ATTEMPTS} attempts (concurrent transactions or throttling)",
                self.table
            )));
        }
        Ok(result
            .into_iter()
            .map(|r| r.expect("every write has a result"))
            .collect())
    }

    /// A put of `record` on the condition of [`Self::put_if_version`].
    fn conditional_put(&self, record: &LinkRecord, expected: u64) -> Result<TransactWriteItem, StoreError> {
        let item = serde_dynamo::aws_sdk_dynamodb_1::to_item(Item::from(record))
            .map_err(|e| StoreError::Corrupt(format!("onderwerpobject {}: {e}", record.onderwerpobject)))?;
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY)
        } else {
            put.condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        let put = put
            .build()
            .map_err(|e| StoreError::Unavailable(format!("TransactWriteItems request: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
