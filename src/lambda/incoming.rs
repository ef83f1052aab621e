//! Recognising the incoming event: an HTTP request (payload v2 or v1) or a scheduled job.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use serde_json::Value;

use super::LambdaError;

/// A scheduled job: `{"zaaklink": "sweep"|"resync"|"head"}` (the schedule's Input), or a
/// plain EventBridge "Scheduled Event" (sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Sweep,
    Resync,
    /// The head poll (DESIGN §7a), on the resync function: its state lives beside the
    /// checkpoint, and a pass it asks for runs in the same invocation.
    Head,
    /// The audit (DESIGN §9), on the resync function: Open Zaak against Open Klant, repaired
    /// through the outbox; metric `AuditDifferences`.
    Audit,
}

/// What arrived.
#[derive(Debug)]
pub enum Incoming {
    HttpV2(Box<ApiGatewayV2httpRequest>),
    HttpV1(Box<ApiGatewayProxyRequest>),
    Scheduled(Job),
}

/// Recognise the event by its shape.
pub fn recognise(v: Value) -> Result<Incoming, LambdaError> {
    let job = |name: &str| match name {
        "sweep" => Ok(Job::Sweep),
        "resync" => Ok(Job::Resync),
        "head" => Ok(Job::Head),
        "audit" => Ok(Job::Audit),
        other => Err(LambdaError::Unrecognised(format!(
            "unknown job {other:?} (use sweep, resync, head or audit)"
        ))),
    };
    if let Some(name) = v.get("zaaklink").and_then(Value::as_str) {
        return job(name).map(Incoming::Scheduled);
    }
    if v.get("source").and_then(Value::as_str) == Some("aws.events") {
        let name = v
            .pointer("/detail/zaaklink")
            .and_then(Value::as_str)
            .unwrap_or("sweep");
        return job(name).map(Incoming::Scheduled);
    }
    if v.pointer("/requestContext/http").is_some() {
        return serde_json::from_value(v)
            .map(|r| Incoming::HttpV2(Box::new(r)))
            .map_err(|e| LambdaError::Unrecognised(format!("payload v2 request: {e}")));
    }
    if v.get("httpMethod").is_some() {
        return serde_json::from_value(v)
            .map(|r| Incoming::HttpV1(Box::new(r)))
            .map_err(|e| LambdaError::Unrecognised(format!("payload v1 request: {e}")));
    }
    Err(LambdaError::Unrecognised(
        "neither an HTTP request nor a scheduled event".into(),
    ))
}

/// Whether `event` is the audit's schedule (the resync function runs it with its
/// [`crate::aws::AuditJob`], [`super::audit_job`]).
pub fn is_audit(event: &Value) -> bool {
    matches!(recognise(event.clone()), Ok(Incoming::Scheduled(Job::Audit)))
}
