//! AWS wiring for the Lambda: one shared `SdkConfig` (honours `AWS_ENDPOINT_URL` for
//! emulators), secrets by name from SSM Parameter Store or Secrets Manager (fetched once per
//! cold start), and the pipeline on DynamoDB + EventBridge.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{ConfigError, CoreArgs, CoreConfig};
use crate::openklant::HttpOpenKlant;
use crate::sink::eventbridge::EventBridgeSink;
use crate::sink::{EventSink, MemorySink};
use crate::store::dynamodb::DynamoStore;
use crate::Zaaklink;

/// The Lambda's settings: the core ones plus table, bus and where the secrets live.
#[derive(clap::Parser, Debug, Clone, Default)]
#[command(name = "bootstrap", about = "zaaklink Lambda (settings from the environment)")]
pub struct LambdaArgs {
    #[command(flatten)]
    pub core: CoreArgs,
    /// DynamoDB table holding the links.
    #[arg(long, env = "LINKS_TABLE")]
    pub links_table: Option<String>,
    /// EventBridge bus the CloudEvents are put on.
    #[arg(long, env = "EVENT_BUS_NAME")]
    pub event_bus_name: Option<String>,
    /// SSM SecureString parameter holding WEBHOOK_AUTH.
    #[arg(long, env = "WEBHOOK_AUTH_SSM_PARAMETER")]
    pub webhook_auth_ssm_parameter: Option<String>,
    /// Secrets Manager secret (name or ARN) holding WEBHOOK_AUTH.
    #[arg(long, env = "WEBHOOK_AUTH_SECRET_ID")]
    pub webhook_auth_secret_id: Option<String>,
    /// SSM SecureString parameter holding OPEN_KLANT_API_TOKEN.
    #[arg(long, env = "OPEN_KLANT_API_TOKEN_SSM_PARAMETER")]
    pub open_klant_api_token_ssm_parameter: Option<String>,
    /// Secrets Manager secret (name or ARN) holding OPEN_KLANT_API_TOKEN.
    #[arg(long, env = "OPEN_KLANT_API_TOKEN_SECRET_ID")]
    pub open_klant_api_token_secret_id: Option<String>,
    /// Accept an http:// OPEN_KLANT_API_ROOT (test stacks only; the functions talk https).
    #[arg(long, env = "ALLOW_PLAIN_HTTP", default_value = "false")]
    pub allow_plain_http: String,
    #[command(flatten)]
    pub resync: crate::config::ResyncArgs,
}

/// The SDK configuration, loaded once; `AWS_ENDPOINT_URL` (emulators) is honoured by the SDK.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Fetch a secret by SSM parameter name or Secrets Manager id. Errors name the setting and
/// the parameter/secret, never a value.
async fn fetch_secret(
    sdk: &SdkConfig,
    setting: &'static str,
    ssm: Option<&str>,
    secret_id: Option<&str>,
) -> Result<Option<String>, ConfigError> {
    let fail = |what: String| ConfigError {
        setting,
        problem: what,
    };
    if let Some(name) = ssm {
        let out = aws_sdk_ssm::Client::new(sdk)
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "could not be read from SSM parameter {name:?}: {} (check the name and the function's ssm:GetParameter / kms:Decrypt rights)",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                ))
            })?;
        let value = out.parameter.and_then(|p| p.value);
        return value
            .map(Some)
            .ok_or_else(|| fail(format!("SSM parameter {name:?} has no value")));
    }
    if let Some(id) = secret_id {
        let out = aws_sdk_secretsmanager::Client::new(sdk)
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "could not be read from Secrets Manager secret {id:?}: {} (check the name and the function's secretsmanager:GetSecretValue right)",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        return out
            .secret_string
            .map(Some)
            .ok_or_else(|| fail(format!("Secrets Manager secret {id:?} has no string value")));
    }
    Ok(None)
}

/// The resync over the pipeline, its checkpoint in the same links table.
pub fn resync(
    sdk: &SdkConfig,
    args: &LambdaArgs,
    app: &Zaaklink,
) -> Result<crate::resync::Resync, ConfigError> {
    let settings = args.resync.validate()?;
    let table = non_empty(&args.links_table).ok_or_else(|| ConfigError {
        setting: "LINKS_TABLE",
        problem: "is not set: set it to the DynamoDB table of the stack (output LinksTableName)".into(),
    })?;
    let checkpoints = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table));
    Ok(crate::resync::Resync::new(app, checkpoints, settings))
}

/// Resolve secrets by name, validate every setting, and build the pipeline.
pub async fn build(sdk: &SdkConfig, mut args: LambdaArgs) -> Result<(Zaaklink, CoreConfig), ConfigError> {
    let (webhook, token) = tokio::join!(
        fetch_secret(
            sdk,
            "WEBHOOK_AUTH",
            non_empty(&args.webhook_auth_ssm_parameter),
            non_empty(&args.webhook_auth_secret_id)
        ),
        fetch_secret(
            sdk,
            "OPEN_KLANT_API_TOKEN",
            non_empty(&args.open_klant_api_token_ssm_parameter),
            non_empty(&args.open_klant_api_token_secret_id)
        ),
    );
    if let Some(v) = webhook? {
        args.core.webhook_auth = Some(v);
    }
    if let Some(v) = token? {
        args.core.open_klant_api_token = Some(v);
    }
    let cfg = args.core.validate_for_lambda(&args.allow_plain_http)?;
    let table = non_empty(&args.links_table).ok_or_else(|| ConfigError {
        setting: "LINKS_TABLE",
        problem: "is not set: set it to the DynamoDB table of the stack (output LinksTableName)".into(),
    })?;
    let sink: Arc<dyn EventSink> = match &cfg.settings.emit_source {
        Some(source) => {
            let bus = non_empty(&args.event_bus_name).ok_or_else(|| ConfigError {
                setting: "EVENT_BUS_NAME",
                problem: "is not set while events are emitted: set it to the EventBridge bus of the stack (output EventBusName)".into(),
            })?;
            Arc::new(EventBridgeSink::new(
                aws_sdk_eventbridge::Client::new(sdk),
                bus,
                source.clone(),
            ))
        }
        // Emission off: the pipeline never publishes (events are not even created).
        None => Arc::new(MemorySink::default()),
    };
    let app = Zaaklink {
        klant: Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            cfg.open_klant_timeout,
        )),
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table)),
        sink,
        settings: cfg.settings.clone(),
    };
    Ok((app, cfg))
}
