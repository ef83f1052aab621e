//! Creating the links table (tests and local setups; in AWS the stack creates it).

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use super::{BY_KLANTCONTACT, BY_OUTBOX, BY_WAS_KLANTCONTACT, PARTITION_KEY};

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
    wait_until_active(client, table).await
}

/// Wait (≤ 60 s) until a table just created is ACTIVE (also used for the delivery log's table).
pub async fn wait_until_active(client: &Client, table: &str) -> Result<(), String> {
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
