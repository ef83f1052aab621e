//! The scheduled audit (DESIGN §9), on the resync function.

use serde_json::Value;

use super::LambdaError;
use crate::telemetry;
use crate::Zaaklink;

/// One scheduled audit (DESIGN §9): the metric `AuditDifferences` per kind and `remaining`
/// after the repair; the report's summary in the log and the answer. It must end before
/// `stop_at`; an audit that does not is stopped (repairs made so far stand; the next audit
/// sees the rest).
pub async fn audit_job(
    app: &Zaaklink,
    job: Option<&crate::aws::AuditJob>,
    stop_at: Option<std::time::Instant>,
) -> Result<Value, LambdaError> {
    use crate::audit::Kind;
    let audit = job.ok_or(LambdaError::NoAudit)?.audit(app).await.map_err(|e| {
        tracing::error!(error = %e, "scheduled audit cannot start");
        LambdaError::Audit(e)
    })?;
    let report = match stop_at {
        Some(t) => tokio::time::timeout_at(t.into(), audit.run())
            .await
            .map_err(|_| {
                tracing::error!("scheduled audit did not finish within the invocation");
                LambdaError::Audit(
                    "it did not finish within the invocation (repairs made so far stand)".into(),
                )
            })?,
        None => audit.run().await,
    };
    if let Some(e) = &report.error {
        return Err(LambdaError::Audit(e.message.clone()));
    }
    for kind in Kind::ALL {
        telemetry::audit_differences(kind.name(), report.count(kind) as u64);
    }
    telemetry::audit_differences("remaining", report.remaining as u64);
    let repaired = report.repairs.as_ref().map_or(0, |r| r.differences);
    if report.remaining > 0 {
        tracing::error!(result = %report.result, counted = report.counted, remaining = report.remaining, repaired,
            alarm = "audit_differences", "scheduled audit: differences remain (AuditDifferencesAlarm; `zaaklink audit` shows them)");
    } else {
        tracing::info!(result = %report.result, counted = report.counted, repaired, "scheduled audit done");
    }
    let mut answer = serde_json::to_value(&report).expect("a report serialises");
    answer["job"] = "audit".into();
    Ok(answer)
}
