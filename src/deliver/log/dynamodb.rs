//! The delivery log on DynamoDB (`DELIVERIES_TABLE`, partition key `id` (S)): one item per
//! object key, written only with conditional UpdateItems.
//!
//! Item layout:
//! - `id` (S): the object key, `object:<linkTo>` (or `event:<id>` for a legacy event);
//! - `applied` (N): highest place applied (delivered or parked);
//! - `claimSeq` (N), `claimOwner` (S), `claimUntil` (N, unix ms): the claim; `claimSeq` stays
//!   after a release as the mark of an earlier attempt;
//! - `parkedSeq` (N), `parkedAt` (S): the last parked place, while it is also `applied`;
//! - `updatedAt` (S): RFC 3339 time of the last write.
//!
//! Object items carry no `expiresAt`: the table's TTL must never forget where an object
//! stands (a forgotten `applied` would make its next place wait for ever). Items of the
//! earlier per-event-id layout (`{id, deliveredAt, expiresAt}`) still expire by TTL.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::{ClaimOutcome, Claimed, Completion, DeliveryLog, DeliveryLogError, ObjectState};

#[derive(Debug, Clone)]
pub struct DynamoDbDeliveryLog {
    client: Client,
    table: String,
}

impl DynamoDbDeliveryLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbDeliveryLog {
            client,
            table: table.into(),
        }
    }

    fn error<E: std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        op: &str,
        e: &SdkError<E, R>,
    ) -> DeliveryLogError {
        DeliveryLogError(format!(
            "DynamoDB {op} on {} (DELIVERIES_TABLE): {}",
            self.table,
            DisplayErrorContext(e)
        ))
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn decode(item: &HashMap<String, AttributeValue>) -> ObjectState {
    ObjectState {
        applied: num(item, "applied").unwrap_or(0),
        claim_seq: num(item, "claimSeq"),
        claim_owner: item.get("claimOwner").and_then(|v| v.as_s().ok()).cloned(),
        claim_until_ms: num(item, "claimUntil"),
        parked_seq: num(item, "parkedSeq"),
    }
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

#[async_trait]
impl DeliveryLog for DynamoDbDeliveryLog {
    async fn state(&self, key: &str) -> Result<ObjectState, DeliveryLogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", &e))?;
        Ok(out.item.as_ref().map(decode).unwrap_or_default())
    }

    async fn claim(
        &self,
        key: &str,
        seq: u64,
        expect_applied: u64,
        owner: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<ClaimOutcome, DeliveryLogError> {
        let mut condition = if expect_applied == 0 {
            "(attribute_not_exists(applied) OR applied = :exp)".to_owned()
        } else {
            "applied = :exp".to_owned()
        };
        if expect_applied == seq {
            condition.push_str(" AND parkedSeq = :seq");
        }
        condition.push_str(" AND (attribute_not_exists(claimOwner) OR claimUntil <= :now)");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key))
            .update_expression(
                "SET applied = if_not_exists(applied, :zero), claimSeq = :seq, claimOwner = :owner, claimUntil = :until, updatedAt = :at",
            )
            .condition_expression(condition)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":exp", n(expect_applied))
            .expression_attribute_values(":seq", n(seq))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":at", s(&now_text()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes.unwrap_or_default();
                Ok(ClaimOutcome::Claimed(Claimed {
                    earlier_attempt: num(&old, "claimSeq") == Some(seq),
                }))
            }
            Err(e) if condition_failed(&e) => {
                let st = self.state(key).await?;
                let moved =
                    st.applied != expect_applied || (expect_applied == seq && st.parked_seq != Some(seq));
                Ok(if moved {
                    ClaimOutcome::Moved
                } else {
                    ClaimOutcome::Busy
                })
            }
            Err(e) => Err(self.error("UpdateItem (claim)", &e)),
        }
    }

    async fn complete(
        &self,
        key: &str,
        seq: u64,
        owner: &str,
        how: Completion,
    ) -> Result<bool, DeliveryLogError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key))
            .condition_expression("claimOwner = :owner AND claimSeq = :seq")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":seq", n(seq))
            .expression_attribute_values(":at", s(&now_text()));
        let req = match how {
            Completion::Applied => req.update_expression(
                "SET applied = :seq, updatedAt = :at REMOVE claimSeq, claimOwner, claimUntil, parkedSeq, parkedAt",
            ),
            Completion::Parked => req.update_expression(
                "SET applied = :seq, updatedAt = :at, parkedSeq = :seq, parkedAt = :at REMOVE claimSeq, claimOwner, claimUntil",
            ),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(self.error("UpdateItem (complete)", &e)),
        }
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), DeliveryLogError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key))
            .update_expression("REMOVE claimOwner, claimUntil")
            .condition_expression("claimOwner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(self.error("UpdateItem (release)", &e)),
        }
    }
}

/// Create the deliveries table (partition key `id`, on demand) and wait until it is active.
/// For tests and local setups; in AWS the stack creates it.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("name and key type are set"),
        )
        .send()
        .await
        .map_err(|e| format!("DynamoDB CreateTable {table} failed: {}", DisplayErrorContext(&e)))?;
    crate::store::dynamodb::wait_until_active(client, table).await
}
