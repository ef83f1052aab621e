//! How a failed DynamoDB call reaches the caller: [`StoreError::Unavailable`], naming the
//! operation, the table, the cause and the fix.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::DynamoStore;
use crate::store::StoreError;

impl DynamoStore {
    /// An SDK error as [`StoreError::Unavailable`], naming the operation, the table, the
    /// error with its causes, and the fix where it is obvious.
    pub(super) fn unavailable<E, R>(&self, op: &str, e: &SdkError<E, R>) -> StoreError
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
}
