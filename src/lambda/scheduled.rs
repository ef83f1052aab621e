//! The scheduled sweep of the outbox and the resync run.

use serde_json::Value;

use super::{Job, LambdaError};
use crate::resync::{Resync, Stop};
use crate::telemetry;
use crate::Zaaklink;

/// The outbox sweep (`job` names it in the log and the answer).
pub(super) async fn sweep_job(app: &Zaaklink, job: Job) -> Result<Value, LambdaError> {
    match app.sweep().await {
        Ok(o) => {
            telemetry::events_put(o.emitted as u64);
            tracing::info!(job = ?job, objects = o.objects, written = o.written, emitted = o.emitted, "scheduled job done");
            Ok(
                serde_json::json!({"job": format!("{job:?}").to_lowercase(), "objects": o.objects, "written": o.written, "emitted": o.emitted}),
            )
        }
        Err(error) => {
            tracing::error!(job = ?job, error = %error, "scheduled job failed; it runs again on the next schedule");
            Err(LambdaError::Job { job, error })
        }
    }
}

/// One resync run (`force`: start a pass even when the interval has not passed).
pub(super) async fn resync_job(
    resync: &Resync,
    stop_at: Option<std::time::Instant>,
    force: bool,
) -> Result<Value, LambdaError> {
    match resync.run(stop_at, force).await {
        Ok(r) => {
            telemetry::resync_run(
                r.run.objects,
                r.run.written,
                r.run.emitted,
                r.stop == Stop::PassDone,
            );
            tracing::info!(stop = ?r.stop, pass = ?r.pass, phase = ?r.phase, objects = r.run.objects,
                        written = r.run.written, emitted = r.run.emitted, pages = r.run.pages,
                        pass_objects = r.pass_counts.objects, "resync run done");
            Ok(serde_json::json!({
                "job": "resync", "stop": format!("{:?}", r.stop), "pass": r.pass,
                "phase": r.phase, "objects": r.run.objects, "written": r.run.written,
                "emitted": r.run.emitted, "pages": r.run.pages,
            }))
        }
        Err(error) => {
            tracing::error!(error = %error, "resync run failed; the next run continues from the checkpoint");
            Err(LambdaError::Job {
                job: Job::Resync,
                error,
            })
        }
    }
}
