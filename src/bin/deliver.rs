//! The `deliver` Lambda: target of the EventBridge rule for zaaklink's CloudEvents.
//! Each invocation POSTs the CloudEvent in the EventBridge event's `detail` to
//! `{OPEN_ZAAK_ROOT}/events` (see `zaaklink::deliver`). An error fails the invocation, so
//! Lambda's asynchronous retries try again and, after the last, the event lands in the
//! delivery dead-letter queue.
//!
//! Settings (env), read once at cold start:
//! - `OPEN_ZAAK_ROOT` (required): Open Zaak's base URL.
//! - `OPEN_ZAAK_CREDENTIALS_SECRET_ID`: Secrets Manager secret (name or ARN) holding
//!   `{"client_id": "...", "secret": "..."}`; or `OPEN_ZAAK_CLIENT_ID` + `OPEN_ZAAK_SECRET`.
//! - `DELIVERIES_TABLE` (required): DynamoDB table of delivered event ids.
//! - `OPEN_ZAAK_TIMEOUT_SECONDS` (optional, default 10), `RUST_LOG` (default `info`).

use aws_config::BehaviorVersion;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::EnvFilter;
use zaaklink::deliver::{load_credentials, DeliverSettings, Deliverer, DynamoDbDeliveryLog, Outcome};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();

    let deliverer = match init().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "deliver: startup failed");
            return Err(e);
        }
    };
    let deliverer = &deliverer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            match deliverer.deliver_eventbridge(&event.payload).await {
                Ok(Outcome::Delivered { status, .. }) => {
                    Ok(serde_json::json!({"delivered": true, "status": status}))
                }
                Ok(Outcome::AlreadyDelivered) => {
                    Ok(serde_json::json!({"delivered": false, "duplicate": true}))
                }
                Err(e) => {
                    tracing::error!(error = %e, "delivery failed; the invocation will be retried");
                    Err(Error::from(e))
                }
            }
        },
    ))
    .await
}

async fn init() -> Result<Deliverer<DynamoDbDeliveryLog>, Error> {
    let settings = DeliverSettings::from_env()?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let credentials = load_credentials(&settings.credentials, &sdk).await?;
    let log = DynamoDbDeliveryLog::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.deliveries_table.clone(),
    );
    let deliverer = Deliverer::new(&settings.open_zaak_root, credentials, log, settings.timeout)?;
    tracing::info!(
        events_url = %deliverer.events_url(),
        deliveries_table = %settings.deliveries_table,
        "deliver: ready"
    );
    Ok(deliverer)
}
