//! What a Lambda invocation can fail with.

use super::Job;
use crate::webhook;

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("unrecognised Lambda event: {0}; zaaklink accepts Function URL / API Gateway requests and scheduled events")]
    Unrecognised(String),
    /// The invocation's error (what the invoker and the console show): which side failed,
    /// never a table, bus, URL or SDK error — those are in the job's log line.
    #[error("scheduled {job:?} failed: {}; it runs again on the next schedule (the function's log line of this invocation has the details)", webhook::public_cause(.error))]
    Job { job: Job, error: crate::Error },
    #[error("a {0} event arrived but this function was built without the resync (its checkpoint store); invoke the resync function of the stack")]
    NoResync(&'static str),
    #[error("an audit event arrived but this function has no Open Zaak to read (OPEN_ZAAK_ROOT and its credentials): invoke the resync function of a stack that delivers with DeliveryMode=function")]
    NoAudit,
    #[error("scheduled audit failed: {0}; it runs again on the next schedule")]
    Audit(String),
}
