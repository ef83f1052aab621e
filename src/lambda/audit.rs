//! The scheduled audit (DESIGN §9), on the resync function.

use serde_json::Value;

use super::LambdaError;
use crate::audit::{Ran, Report};
use crate::telemetry;
use crate::Zaaklink;

/// Whether `event` is the audit's continuation tick (`{"zaaklink": "audit", "continue":
/// true}`): it continues a saved run, never starts one.
pub fn is_continuation(event: &Value) -> bool {
    event.get("continue").and_then(Value::as_bool) == Some(true)
}

/// One invocation of the scheduled audit (DESIGN §9, "A run over several invocations"):
/// `start` = the audit's schedule (starts a run, or continues the unfinished one), otherwise
/// the continuation tick. Work stops before `stop_at`; a run that does not finish is saved
/// and answered "continued" (no metric, no alarm), and the next tick goes on with it. A
/// finished run writes the metric `AuditDifferences` per kind and `remaining` after the
/// repair, and logs the report's summary.
pub async fn audit_job(
    app: &Zaaklink,
    job: Option<&crate::aws::AuditJob>,
    stop_at: Option<std::time::Instant>,
    start: bool,
) -> Result<Value, LambdaError> {
    let job = job.ok_or(LambdaError::NoAudit)?;
    if !start {
        let saved = job.store().map_err(LambdaError::Audit)?;
        if !crate::audit::unfinished_run(saved.as_ref()).await.unwrap_or(true) {
            tracing::debug!("scheduled audit: no run to continue");
            return Ok(serde_json::json!({"job": "audit", "result": "idle"}));
        }
    }
    let (audit, store) = match job.audit(app).await.and_then(|a| Ok((a, job.store()?))) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "scheduled audit cannot start");
            return Err(LambdaError::Audit(e));
        }
    };
    let answer = |result: &str, extra: Value| {
        let mut v = serde_json::json!({"job": "audit", "result": result});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    match audit.run_saved(store, stop_at, start).await {
        Ran::Finished(report) => finished(*report),
        Ran::Continued {
            run,
            stage,
            invocations,
        } => {
            tracing::info!(run = %run, stage = ?stage, invocations, "scheduled audit continued: saved; the next invocation goes on with it");
            Ok(answer(
                "continued",
                serde_json::json!({"run": run, "stage": stage, "invocations": invocations}),
            ))
        }
        Ran::Busy => {
            tracing::info!("scheduled audit: another invocation works the run; left to it");
            Ok(answer("busy", Value::Null))
        }
        Ran::Idle => {
            tracing::debug!("scheduled audit: no run to continue");
            Ok(answer("idle", Value::Null))
        }
        Ran::Abandoned { run, invocations } => {
            tracing::error!(run = %run, invocations, "scheduled audit did not finish within its invocations; given up (the next scheduled audit starts over)");
            Err(LambdaError::Audit(format!(
                "it did not finish within {invocations} invocations and was given up (repairs made so far stand; the next scheduled audit starts over)"
            )))
        }
    }
}

/// A finished run: its metric, its log line, its report as the answer.
fn finished(report: Report) -> Result<Value, LambdaError> {
    use crate::audit::Kind;
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
            invocations = report.invocations, alarm = "audit_differences", "scheduled audit: differences remain (AuditDifferencesAlarm; `zaaklink audit` shows them)");
    } else {
        tracing::info!(result = %report.result, counted = report.counted, repaired, invocations = report.invocations, "scheduled audit done");
    }
    let mut answer = serde_json::to_value(&report).expect("a report serialises");
    answer["job"] = "audit".into();
    Ok(answer)
}
