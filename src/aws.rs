//! AWS wiring for the Lambda: one shared `SdkConfig` (honours `AWS_ENDPOINT_URL` for
//! emulators), secrets by name from SSM Parameter Store or Secrets Manager (fetched once per
//! cold start, one request per service: [`fetch_secrets`]), and the pipeline on DynamoDB +
//! EventBridge.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::aws_json::{self, field, list};
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
    config_loader().load().await
}

/// `aws_config::defaults` with zaaklink's [`http_client`]: every `SdkConfig` starts here
/// (the crate turns the SDK's default client, and with it aws-lc, off).
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
}

/// The AWS SDK's own default HTTPS client (hyper, rustls, the system's roots, the SDK's
/// connect timeouts, a proxy from the environment), with rustls on ring instead of aws-lc:
/// ring is the crypto reqwest uses for Open Klant and Open Zaak already, so the build
/// compiles one crypto library instead of two (aws-lc is a large C build, for the test
/// command and the arm64 Lambda alike).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, runtime_components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// One secret the Lambda reads at cold start: the setting it fills and where it is kept (an
/// SSM parameter wins over a Secrets Manager secret when both are named).
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    pub setting: &'static str,
    pub ssm: Option<&'a str>,
    pub secret_id: Option<&'a str>,
}

/// Read every named secret in one round trip per service, both services at once: all SSM
/// parameters with one `GetParameters` (`WithDecryption`), all Secrets Manager secrets with
/// one `GetSecretValue` (one secret) or `BatchGetSecretValue` (more). `Ok(values)` in the
/// order of `wanted`, `None` where nothing was named. Errors name the setting and the
/// parameter/secret and the right the function needs, never a value.
pub async fn fetch_secrets(
    sdk: &SdkConfig,
    wanted: &[SecretRef<'_>],
) -> Result<Vec<Option<String>>, ConfigError> {
    let mut ssm_names: Vec<&str> = wanted.iter().filter_map(|w| w.ssm).collect();
    let mut sm_ids: Vec<&str> = wanted
        .iter()
        .filter(|w| w.ssm.is_none())
        .filter_map(|w| w.secret_id)
        .collect();
    ssm_names.dedup();
    sm_ids.dedup();
    let (ssm, sm) = tokio::join!(ssm_values(sdk, &ssm_names), secrets_manager_values(sdk, &sm_ids));
    let (ssm, sm) = (ssm?, sm?);
    let fail = |setting, problem: String| ConfigError { setting, problem };
    wanted
        .iter()
        .map(|w| match (w.ssm, w.secret_id) {
            (Some(name), _) => match ssm.iter().find(|(n, _)| *n == name) {
                Some((_, Ok(v))) => Ok(Some(v.clone())),
                Some((_, Err(why))) => Err(fail(
                    w.setting,
                    format!("could not be read from SSM parameter {name:?}: {why}"),
                )),
                None => Err(fail(
                    w.setting,
                    format!("SSM parameter {name:?} was not in the answer"),
                )),
            },
            (None, Some(id)) => match sm.iter().find(|(i, _)| *i == id) {
                Some((_, Ok(v))) => Ok(Some(v.clone())),
                Some((_, Err(why))) => Err(fail(
                    w.setting,
                    format!("could not be read from Secrets Manager secret {id:?}: {why}"),
                )),
                None => Err(fail(
                    w.setting,
                    format!("Secrets Manager secret {id:?} was not in the answer"),
                )),
            },
            (None, None) => Ok(None),
        })
        .collect()
}

type Fetched<'a> = Vec<(&'a str, Result<String, String>)>;

/// All SSM SecureString parameters in one `GetParameters` (at most 10 names a call; two here).
async fn ssm_values<'a>(sdk: &SdkConfig, names: &[&'a str]) -> Result<Fetched<'a>, ConfigError> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let body = serde_json::json!({"Names": names, "WithDecryption": true});
    let out = aws_json::call(aws_json::client(), sdk, &aws_json::SSM, "GetParameters", &body)
        .await
        .map_err(|e| ConfigError {
            setting: "WEBHOOK_AUTH_SSM_PARAMETER / OPEN_KLANT_API_TOKEN_SSM_PARAMETER",
            problem: format!(
                "SSM parameters {names:?} could not be read: {e} (check the names and the function's ssm:GetParameters / kms:Decrypt rights)"
            ),
        })?;
    let (parameters, invalid) = (list(&out, "Parameters"), list(&out, "InvalidParameters"));
    Ok(names
        .iter()
        .map(|&name| {
            let found = parameters.iter().find(|p| {
                let n = field(p, "Name");
                n == Some(name)
                    || field(p, "ARN") == Some(name)
                    || n.is_some_and(|n| n.trim_start_matches('/') == name.trim_start_matches('/'))
            });
            let v = match found.map(|p| field(p, "Value")) {
                Some(Some(v)) => Ok(v.to_string()),
                Some(None) => Err("it has no value".to_string()),
                None if invalid.iter().any(|n| n.as_str() == Some(name)) => Err(
                    "it does not exist (check the name; the function needs ssm:GetParameters on it)"
                        .to_string(),
                ),
                None => Err("it was not in the answer".to_string()),
            };
            (name, v)
        })
        .collect())
}

/// Whether a Secrets Manager entry (name, ARN) is the secret asked for by `id` (a name, a
/// full ARN or an ARN without the random suffix).
fn is_secret(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    name == Some(id) || arn == Some(id) || (id.starts_with("arn:") && arn.is_some_and(|a| a.starts_with(id)))
}

/// All Secrets Manager secrets: one `GetSecretValue`, or one `BatchGetSecretValue` for more.
async fn secrets_manager_values<'a>(sdk: &SdkConfig, ids: &[&'a str]) -> Result<Fetched<'a>, ConfigError> {
    match ids {
        [] => Ok(vec![]),
        [id] => {
            let v = aws_json::secret_string(sdk, id).await.map_err(|e| {
                format!("{e} (check the name and the function's secretsmanager:GetSecretValue right)")
            });
            Ok(vec![(*id, v)])
        }
        _ => {
            let body = serde_json::json!({"SecretIdList": ids});
            let out = aws_json::call(
                aws_json::client(),
                sdk,
                &aws_json::SECRETS_MANAGER,
                "BatchGetSecretValue",
                &body,
            )
            .await
            .map_err(|e| ConfigError {
                setting: "WEBHOOK_AUTH_SECRET_ID / OPEN_KLANT_API_TOKEN_SECRET_ID",
                problem: format!(
                    "Secrets Manager secrets {ids:?} could not be read: {e} (check the names and the function's secretsmanager:BatchGetSecretValue and secretsmanager:GetSecretValue rights)"
                ),
            })?;
            let (values, errors) = (list(&out, "SecretValues"), list(&out, "Errors"));
            Ok(ids
                .iter()
                .map(|&id| {
                    let found = values.iter().find(|s| is_secret(id, field(s, "Name"), field(s, "ARN")));
                    let failed = errors.iter().find(|e| {
                        field(e, "SecretId").is_some_and(|s| s == id || is_secret(id, Some(s), Some(s)))
                    });
                    let v = match (found, failed) {
                        (Some(s), _) => field(s, "SecretString")
                            .map(str::to_string)
                            .ok_or_else(|| "it has no string value".to_string()),
                        (None, Some(e)) => Err(format!(
                            "{}: {} (check the name and the function's secretsmanager:GetSecretValue right on it)",
                            field(e, "ErrorCode").unwrap_or("error"),
                            field(e, "Message").unwrap_or("(no message)")
                        )),
                        (None, None) => Err("it was not in the answer".to_string()),
                    };
                    (id, v)
                })
                .collect())
        }
    }
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
    let wanted = [
        SecretRef {
            setting: "WEBHOOK_AUTH",
            ssm: non_empty(&args.webhook_auth_ssm_parameter),
            secret_id: non_empty(&args.webhook_auth_secret_id),
        },
        SecretRef {
            setting: "OPEN_KLANT_API_TOKEN",
            ssm: non_empty(&args.open_klant_api_token_ssm_parameter),
            secret_id: non_empty(&args.open_klant_api_token_secret_id),
        },
    ];
    let mut values = fetch_secrets(sdk, &wanted).await?.into_iter();
    if let Some(v) = values.next().flatten() {
        args.core.webhook_auth = Some(v);
    }
    if let Some(v) = values.next().flatten() {
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

/// The scheduled audit on the resync function (DESIGN §9): where Open Zaak is, whose
/// credentials read it (fetched when an audit runs, so a missing secret fails that audit, not
/// the function), and whether it repairs (`ZAAKLINK_AUDIT_REPAIR`, default true).
pub struct AuditJob {
    sdk: SdkConfig,
    root: String,
    /// `LINKS_TABLE`: where a run that spans invocations is saved.
    table: Option<String>,
    credentials: crate::deliver::CredentialsSource,
    repair: bool,
    settle: std::time::Duration,
}

impl AuditJob {
    /// From the environment through `lookup`; `Ok(None)` when `OPEN_ZAAK_ROOT` is not set
    /// (a stack that delivers through an API destination has no Applicatie to read with).
    pub fn from_lookup(
        sdk: &SdkConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |n: &str| lookup(n).filter(|v| !v.trim().is_empty());
        let Some(root) = get("OPEN_ZAAK_ROOT") else {
            return Ok(None);
        };
        let allow_http = get("ALLOW_PLAIN_HTTP").is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        crate::config::refuse_plain_http(&root, allow_http).map_err(|problem| ConfigError {
            setting: "OPEN_ZAAK_ROOT",
            problem,
        })?;
        let credentials = match (
            get("OPEN_ZAAK_CREDENTIALS_SECRET_ID"),
            get("OPEN_ZAAK_CLIENT_ID"),
            get("OPEN_ZAAK_SECRET"),
        ) {
            (Some(id), _, _) => crate::deliver::CredentialsSource::SecretsManager(id),
            (None, Some(id), Some(secret)) => crate::deliver::CredentialsSource::Env(
                crate::deliver::OpenZaakCredentials::new(id, secret),
            ),
            _ => {
                return Err(ConfigError {
                    setting: "OPEN_ZAAK_CREDENTIALS_SECRET_ID",
                    problem: "is not set: the audit reads Open Zaak with the Applicatie deliver uses (it needs zaken.lezen); set it, or OPEN_ZAAK_CLIENT_ID and OPEN_ZAAK_SECRET, or unset OPEN_ZAAK_ROOT".into(),
                })
            }
        };
        let repair = match get("ZAAKLINK_AUDIT_REPAIR").as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError {
                    setting: "ZAAKLINK_AUDIT_REPAIR",
                    problem: format!("is {other:?}: use true or false"),
                })
            }
        };
        let settle = match get("ZAAKLINK_AUDIT_SETTLE") {
            Some(v) => crate::config::parse_duration("ZAAKLINK_AUDIT_SETTLE", &v)?,
            None => crate::audit::DEFAULT_SETTLE,
        };
        Ok(Some(AuditJob {
            sdk: sdk.clone(),
            root,
            table: get("LINKS_TABLE"),
            credentials,
            repair,
            settle,
        }))
    }

    /// Where the audit's run is saved between invocations: the links table (DESIGN §9).
    pub fn store(&self) -> Result<Arc<dyn crate::store::AuditStateStore>, String> {
        let table = self.table.as_deref().ok_or(
            "LINKS_TABLE is not set: the audit saves a run that spans invocations in the links table",
        )?;
        Ok(Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            table,
        )))
    }

    /// The audit over `app` (its links table and bus: repairs go through the outbox and
    /// `deliver` like every event).
    pub async fn audit(&self, app: &Zaaklink) -> Result<crate::audit::Audit, String> {
        let credentials = crate::deliver::load_credentials(&self.credentials, &self.sdk)
            .await
            .map_err(|e| e.to_string())?;
        let oz =
            crate::audit::HttpZaakObjecten::new(&self.root, credentials, std::time::Duration::from_secs(30))
                .map_err(|e| format!("OPEN_ZAAK_ROOT: {e}"))?;
        Ok(crate::audit::Audit::new(
            app,
            Arc::new(oz),
            crate::audit::AuditSettings {
                repair: self.repair,
                settle: self.settle,
                ..Default::default()
            },
        ))
    }
}
