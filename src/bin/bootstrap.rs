//! The zaaklink Lambda: webhook (Function URL / API Gateway) and scheduled sweep/resync.
//! Init: settings and secrets once, one SdkConfig shared by the clients; then the runtime loop.

use clap::Parser;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use zaaklink::aws::{self, LambdaArgs};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zaaklink::init_logging("info");
    let args = LambdaArgs::try_parse_from(["bootstrap"]).map_err(|e| {
        tracing::error!(error = %e, "invalid setting");
        e
    })?;
    let sdk = aws::sdk_config().await;
    let (app, cfg) = aws::build(&sdk, args).await.map_err(|e| {
        tracing::error!(setting = e.setting, error = %e, "zaaklink cannot start");
        e
    })?;
    if let Some(why) = cfg.emission_off_reason {
        tracing::warn!(reason = why, "events are not emitted");
    }
    let auth = cfg.webhook_auth;
    let (app, auth) = (&app, &auth);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        zaaklink::lambda::handle(app, auth, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
