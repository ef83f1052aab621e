//! The zaaklink Lambda: webhook (Function URL / API Gateway) and scheduled sweep/resync.
//! Init: settings and secrets once, one SdkConfig shared by the clients; then the runtime loop.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use zaaklink::aws::{self, LambdaArgs};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zaaklink::init_logging("info");
    // Metrics in CloudWatch's embedded metric format, flushed to stdout after every invocation.
    let emf = zaaklink::telemetry::Emf::from_env().map_err(|e| {
        tracing::error!(setting = "METRICS_NAMESPACE", error = %e, "zaaklink cannot start");
        e
    })?;
    let mut args = LambdaArgs::try_parse_from(["bootstrap"]).map_err(|e| {
        tracing::error!(error = %e, "invalid setting");
        e
    })?;
    // The resync function (ZAAKLINK_FUNCTION=resync) takes only its schedule's events and
    // gets no webhook secret: an HTTP request to it is refused with a value nobody knows.
    if std::env::var("ZAAKLINK_FUNCTION").is_ok_and(|f| f == "resync") && args.core.webhook_auth.is_none() {
        args.core.webhook_auth = Some(format!("Token {}", uuid::Uuid::new_v4()));
    }
    let sdk = aws::sdk_config().await;
    let (app, cfg) = aws::build(&sdk, args.clone()).await.inspect_err(|e| {
        tracing::error!(setting = e.setting, error = %zaaklink::secret::redact(&e.to_string()), "zaaklink cannot start");
    })?;
    let resync = aws::resync(&sdk, &args, &app).map_err(|e| {
        tracing::error!(setting = e.setting, error = %e, "zaaklink cannot start");
        e
    })?;
    // The scheduled audit (DESIGN §9) on the resync function, when Open Zaak is configured.
    let audit = aws::AuditJob::from_lookup(&sdk, |n| std::env::var(n).ok()).map_err(|e| {
        tracing::error!(setting = e.setting, error = %e, "zaaklink cannot start");
        e
    })?;
    if let Some(why) = cfg.emission_off_reason {
        tracing::warn!(reason = why, "events are not emitted");
    }
    let auth = cfg.webhook_auth;
    let (app, auth, resync, emf, audit) = (&app, &auth, &resync, &emf, &audit);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // A resync run (and an audit) ends before the invocation's deadline (see stop_at).
        let stop_at = stop_at(event.context.deadline);
        let answer = if zaaklink::lambda::is_audit(&event.payload) {
            let start = !zaaklink::lambda::is_continuation(&event.payload);
            zaaklink::lambda::audit_job(app, audit.as_ref(), Some(stop_at), start).await
        } else {
            zaaklink::lambda::handle_with(app, auth, event.payload, Some(resync), Some(stop_at)).await
        };
        emf.flush(&event.context.request_id);
        answer.map_err(Error::from)
    }))
    .await
}

/// The invocation's deadline (ms since the epoch) as an Instant, minus a reserve for the
/// last checkpoint save and the answer (10 s, or a tenth of a short invocation). The margin
/// for the work itself follows what the run measures: it starts a page read or a batch of
/// objects only while twice its slowest step so far still fits (DESIGN §7).
fn stop_at(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let reserve = Duration::from_secs(10).min(left / 10);
    Instant::now() + left.saturating_sub(reserve)
}
