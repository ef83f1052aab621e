//! The `deliver` Lambda: fed by the delivery SQS queue (event source mapping with
//! `ReportBatchItemFailures`), whose messages are the EventBridge events of zaaklink's
//! CloudEvents. See `zaaklink::deliver` (the rules) and `zaaklink::deliver::sqs` (batches,
//! retry delays, parking).
//!
//! Settings (env), read once at cold start:
//! - `OPEN_ZAAK_ROOT` (required): Open Zaak's base URL.
//! - `OPEN_ZAAK_CREDENTIALS_SECRET_ID`: Secrets Manager secret (name or ARN) holding
//!   `{"client_id": "...", "secret": "..."}`; or `OPEN_ZAAK_CLIENT_ID` + `OPEN_ZAAK_SECRET`.
//! - `DELIVERIES_TABLE` (required): DynamoDB table of the per-object delivery state.
//! - `PARKED_QUEUE_URL` (optional): the queue parked events go to (the stack's DLQ).
//! - `OPEN_ZAAK_ZAKEN_API_READ` (optional, default true), `OPEN_ZAAK_TIMEOUT_SECONDS`
//!   (optional, default 10), `RUST_LOG` (default `info`), `METRICS_NAMESPACE` (default
//!   `zaaklink`: the CloudWatch namespace of the metrics, `zaaklink::telemetry`).
//! - `OPEN_ZAAK_USER_ID`, `OPEN_ZAAK_USER_REPRESENTATION` (optional): the JWT's `user_id` /
//!   `user_representation` (default `zaaklink` / `zaaklink (Open Klant koppelingen)`).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use zaaklink::deliver::sqs::{handle_batch, SqsQueues};
use zaaklink::deliver::{load_credentials, DeliverSettings, Deliverer, DynamoDbDeliveryLog};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(zaaklink::logging::env_filter("info"))
        .with_current_span(false)
        .with_ansi(false)
        .with_target(false)
        .init();

    // Metrics in CloudWatch's embedded metric format, flushed to stdout after every invocation.
    let emf = match zaaklink::telemetry::Emf::from_env() {
        Ok(emf) => emf,
        Err(e) => {
            tracing::error!(error = %e, "deliver: startup failed");
            return Err(e.into());
        }
    };
    let (deliverer, queues) = match init().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %zaaklink::secret::redact(&e.to_string()), "deliver: startup failed");
            return Err(e);
        }
    };
    let (deliverer, queues, emf) = (&deliverer, &queues, &emf);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let answer = handle_batch(deliverer, queues, &event.payload).await;
        emf.flush(&event.context.request_id);
        Ok::<SqsBatchResponse, Error>(answer)
    }))
    .await
}

async fn init() -> Result<(Deliverer<DynamoDbDeliveryLog>, SqsQueues), Error> {
    let settings = DeliverSettings::from_env()?;
    let sdk = zaaklink::aws::sdk_config().await;
    let credentials = load_credentials(&settings.credentials, &sdk)
        .await?
        .with_user(&settings.user_id, &settings.user_representation);
    let log = DynamoDbDeliveryLog::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.deliveries_table.clone(),
    );
    let deliverer = Deliverer::new(&settings.open_zaak_root, credentials, log, settings.timeout)?
        .with_zaken_api_read(settings.zaken_api_read);
    let queues = SqsQueues {
        client: aws_sdk_sqs::Client::new(&sdk),
        parked_queue_url: settings.parked_queue_url.clone(),
    };
    tracing::info!(
        events_url = %zaaklink::secret::redact_url(deliverer.events_url()),
        deliveries_table = %settings.deliveries_table,
        zaken_api_read = settings.zaken_api_read,
        parked_queue = settings.parked_queue_url.as_deref().unwrap_or("(none)"),
        "deliver: ready"
    );
    Ok((deliverer, queues))
}
