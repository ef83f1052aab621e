//! The Lambda's event handling (DESIGN §6): Function URL / HTTP API (payload v2) and REST API
//! (payload v1) webhook requests answered with the webhook's status codes, and scheduled
//! events that run the outbox sweep (or, when asked, the resync). Parses, calls the core,
//! maps the answer; nothing else.
//!
//! A map: [`incoming`] recognises the event, [`http`] answers webhook requests,
//! [`scheduled`] runs the sweep and the resync, [`head`] the head poll, [`audit`] the audit;
//! [`error`] is what an invocation fails with.

mod audit;
mod error;
mod head;
mod http;
mod incoming;
mod scheduled;
#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::resync::Resync;
use crate::webhook::WebhookAuth;
use crate::Zaaklink;

pub use audit::{audit_job, is_continuation};
pub use error::LambdaError;
pub use head::{HeadPolls, HEAD_POLL_WINDOW};
pub use incoming::{is_audit, recognise, Incoming, Job};

/// Handle one Lambda event; the `Value` is the response the invoking service expects.
/// (A resync event needs [`handle_with`].)
pub async fn handle(app: &Zaaklink, auth: &WebhookAuth, event: Value) -> Result<Value, LambdaError> {
    handle_with(app, auth, event, None, None).await
}

/// [`handle`], with the resync and the moment the run must stop (the invocation's deadline
/// minus a margin): a resync run saves its checkpoint and ends before it.
pub async fn handle_with(
    app: &Zaaklink,
    auth: &WebhookAuth,
    event: Value,
    resync: Option<&Resync>,
    stop_at: Option<std::time::Instant>,
) -> Result<Value, LambdaError> {
    let polls = HeadPolls::of(&event);
    match recognise(event)? {
        Incoming::HttpV2(req) => Ok(http::respond_v2(app, auth, &req).await),
        Incoming::HttpV1(req) => Ok(http::respond_v1(app, auth, &req).await),
        Incoming::Scheduled(Job::Resync) => {
            let resync = resync.ok_or(LambdaError::NoResync("resync"))?;
            scheduled::resync_job(resync, stop_at, false).await
        }
        Incoming::Scheduled(Job::Audit) => Err(LambdaError::NoAudit),
        Incoming::Scheduled(Job::Head) => {
            let resync = resync.ok_or(LambdaError::NoResync("head"))?;
            head::head_job(resync, polls, stop_at).await
        }
        Incoming::Scheduled(job) => scheduled::sweep_job(app, job).await,
    }
}
