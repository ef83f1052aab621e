//! Delivery of zaaklink's CloudEvents to Open Zaak (DESIGN §4, "To Open Zaak").
//!
//! The `deliver` Lambda is the target of the EventBridge rule that matches the two
//! `nl.overheid.zaken.zaak-*` event types. Its payload is the EventBridge event; the
//! CloudEvent is the event's `detail` (the webhook puts the whole CloudEvent there).
//!
//! For each CloudEvent:
//! 1. if its `id` is already in the [`DeliveryLog`], skip it (logged, `Ok`);
//! 2. `POST {OPEN_ZAAK_ROOT}/events` in structured mode: the body is the CloudEvent
//!    re-serialised compactly with `serde_json` (key order preserved), the header
//!    `Content-Type: application/cloudevents+json` exactly (Open Zaak compares the string),
//!    and `Authorization: Bearer <jwt>` with a ZGW JWT signed for this request
//!    (HS256, claims `iss` = `client_id` = the Applicatie's client id, `iat` = now);
//! 3. a 2xx answer is success: Open Zaak's body is logged (it answers 202 even when it
//!    drops an event) and the id is marked delivered; anything else is an error naming the
//!    status and body, so the invocation fails and is retried (and ends in the DLQ).
//!
//! Neither the secret nor the JWT is ever logged or part of an error message.

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// The exact media type Open Zaak accepts for a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// How long a delivered id is remembered (DynamoDB TTL on `expiresAt`).
pub const DELIVERED_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Default timeout for the whole request to Open Zaak.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of Open Zaak's answer body is logged or put into an error.
const MAX_LOGGED_BODY: usize = 2048;

// ---------------------------------------------------------------------------------------
// Errors

/// A setting that is missing or invalid: stops startup with a message naming it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {fix}")]
    Missing { name: &'static str, fix: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read Open Zaak credentials from Secrets Manager secret {secret_id:?}: {reason}")]
    Secret { secret_id: String, reason: String },
}

/// Why one delivery failed. Every variant fails the invocation so it is retried.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("the event detail is not a CloudEvent: {0}")]
    NotACloudEvent(String),
    #[error("could not sign the Open Zaak JWT: {0}")]
    Jwt(String),
    #[error("request to Open Zaak {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("Open Zaak answered {status} to event {event_id}: {body}")]
    Rejected {
        event_id: String,
        status: u16,
        body: String,
    },
    #[error("delivery log: {0}")]
    Log(#[from] DeliveryLogError),
}

/// A failure of the delivery log's storage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryLogError(pub String);

// ---------------------------------------------------------------------------------------
// Credentials and the JWT

/// The secret of an Open Zaak Applicatie. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ClientSecret(s.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Client id and secret of the Open Zaak Applicatie (autorisatie `cloudevents.bezorgen`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenZaakCredentials {
    pub client_id: String,
    pub secret: ClientSecret,
}

impl OpenZaakCredentials {
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        OpenZaakCredentials {
            client_id: client_id.into(),
            secret: ClientSecret::new(secret),
        }
    }

    /// Parses the Secrets Manager secret: `{"client_id": "...", "secret": "..."}`.
    pub fn from_secret_json(json: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Stored {
            client_id: String,
            secret: String,
        }
        // The serde error could quote the value: keep only its position.
        let stored: Stored = serde_json::from_str(json).map_err(|e| {
            format!(
                "expected JSON {{\"client_id\": \"...\", \"secret\": \"...\"}} (error at line {} column {})",
                e.line(),
                e.column()
            )
        })?;
        if stored.client_id.is_empty() || stored.secret.is_empty() {
            return Err("client_id and secret must both be non-empty".into());
        }
        Ok(Self::new(stored.client_id, stored.secret))
    }
}

/// The claims of a ZGW JWT as Open Zaak validates them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZgwClaims {
    pub iss: String,
    pub client_id: String,
    pub iat: u64,
}

/// Signs a ZGW JWT (HS256) for one request, issued at `iat` (unix seconds).
pub fn sign_jwt(credentials: &OpenZaakCredentials, iat: u64) -> Result<String, DeliverError> {
    let claims = ZgwClaims {
        iss: credentials.client_id.clone(),
        client_id: credentials.client_id.clone(),
        iat,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(credentials.secret.expose().as_bytes()),
    )
    .map_err(|e| DeliverError::Jwt(e.to_string()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `{root}/events`, with or without a trailing slash on the root.
pub fn events_url(root: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "OPEN_ZAAK_ROOT",
        reason,
    };
    let trimmed = root.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Missing {
            name: "OPEN_ZAAK_ROOT",
            fix: "set it to Open Zaak's base URL, e.g. https://zaken.example.nl (events go to {root}/events)",
        });
    }
    let mut url = Url::parse(trimmed).map_err(|e| invalid(format!("{trimmed:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("{trimmed:?}: must be an http(s) URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{trimmed:?}: must not have a query or fragment")));
    }
    let path = format!("{}/events", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

// ---------------------------------------------------------------------------------------
// The delivery log (dedupe by CloudEvent id)

/// Remembers which CloudEvent ids were delivered, so a repeat is not POSTed again.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    async fn already_delivered(&self, id: &str) -> Result<bool, DeliveryLogError>;
    async fn mark_delivered(&self, id: &str) -> Result<(), DeliveryLogError>;
}

/// In-memory log, for tests and local runs.
#[derive(Debug, Default)]
pub struct MemoryDeliveryLog {
    ids: Mutex<HashSet<String>>,
}

impl MemoryDeliveryLog {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl DeliveryLog for MemoryDeliveryLog {
    async fn already_delivered(&self, id: &str) -> Result<bool, DeliveryLogError> {
        Ok(self
            .ids
            .lock()
            .map_err(|_| DeliveryLogError("poisoned lock".into()))?
            .contains(id))
    }
    async fn mark_delivered(&self, id: &str) -> Result<(), DeliveryLogError> {
        self.ids
            .lock()
            .map_err(|_| DeliveryLogError("poisoned lock".into()))?
            .insert(id.to_owned());
        Ok(())
    }
}

/// DynamoDB log: table with partition key `id` (S), items
/// `{id, deliveredAt, expiresAt}` where `expiresAt` (unix seconds) is the table's TTL.
#[derive(Debug, Clone)]
pub struct DynamoDbDeliveryLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbDeliveryLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDbDeliveryLog {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl DeliveryLog for DynamoDbDeliveryLog {
    async fn already_delivered(&self, id: &str) -> Result<bool, DeliveryLogError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .projection_expression("id")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                DeliveryLogError(format!(
                    "GetItem on {}: {}",
                    self.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(out.item().is_some())
    }

    async fn mark_delivered(&self, id: &str) -> Result<(), DeliveryLogError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let now = unix_now();
        let delivered_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(id.to_owned()))
            .item("deliveredAt", AttributeValue::S(delivered_at))
            .item(
                "expiresAt",
                AttributeValue::N((now + DELIVERED_TTL.as_secs()).to_string()),
            )
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                // Delivered concurrently by another invocation: already recorded.
                Ok(())
            }
            Err(e) => Err(DeliveryLogError(format!(
                "PutItem on {}: {}",
                self.table,
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The deliverer

/// What happened to one CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Open Zaak answered 2xx.
    Delivered { status: u16, body: String },
    /// The id was delivered before; nothing was sent.
    AlreadyDelivered,
}

/// POSTs CloudEvents to Open Zaak, once per id.
pub struct Deliverer<L> {
    http: reqwest::Client,
    events_url: Url,
    credentials: OpenZaakCredentials,
    log: L,
}

impl<L: DeliveryLog> Deliverer<L> {
    /// `open_zaak_root` is Open Zaak's base URL; events go to `{root}/events`.
    pub fn new(
        open_zaak_root: &str,
        credentials: OpenZaakCredentials,
        log: L,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let events_url = events_url(open_zaak_root)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("zaaklink-deliver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid {
                name: "HTTP client",
                reason: e.to_string(),
            })?;
        Ok(Deliverer {
            http,
            events_url,
            credentials,
            log,
        })
    }

    pub fn events_url(&self) -> &Url {
        &self.events_url
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    /// Delivers the CloudEvent carried in an EventBridge event's `detail`.
    pub async fn deliver_eventbridge(
        &self,
        event: &EventBridgeEvent<Value>,
    ) -> Result<Outcome, DeliverError> {
        tracing::debug!(
            eventbridge_id = event.id.as_deref().unwrap_or(""),
            detail_type = %event.detail_type,
            source = %event.source,
            "received EventBridge event"
        );
        self.deliver(&event.detail).await
    }

    /// Delivers one CloudEvent (structured mode).
    pub async fn deliver(&self, cloudevent: &Value) -> Result<Outcome, DeliverError> {
        let object = cloudevent
            .as_object()
            .ok_or_else(|| DeliverError::NotACloudEvent("not a JSON object".into()))?;
        let id = match object.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.as_str(),
            _ => {
                return Err(DeliverError::NotACloudEvent(
                    "missing or empty string \"id\"".into(),
                ))
            }
        };
        if !matches!(object.get("specversion"), Some(Value::String(_))) {
            return Err(DeliverError::NotACloudEvent(format!(
                "event {id}: missing \"specversion\""
            )));
        }
        let event_type = object.get("type").and_then(Value::as_str).unwrap_or("");

        if self.log.already_delivered(id).await? {
            tracing::info!(event_id = id, event_type, "already delivered: skipped");
            return Ok(Outcome::AlreadyDelivered);
        }

        let body = serde_json::to_vec(cloudevent).map_err(|e| DeliverError::NotACloudEvent(e.to_string()))?;
        let jwt = sign_jwt(&self.credentials, unix_now())?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {jwt}"))
            .map_err(|_| DeliverError::Jwt("token is not a valid header value".into()))?;
        authorization.set_sensitive(true);

        let request_error = |e: reqwest::Error| DeliverError::Request {
            url: self.events_url.to_string(),
            reason: if e.is_timeout() {
                "timed out".to_owned()
            } else {
                // without the URL (already named) and without any header
                e.without_url().to_string()
            },
        };
        let response = self
            .http
            .post(self.events_url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(CLOUDEVENTS_CONTENT_TYPE))
            .header(AUTHORIZATION, authorization)
            .body(body)
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        let answer = response.bytes().await.map_err(request_error)?;
        let answer = truncate(&String::from_utf8_lossy(&answer), MAX_LOGGED_BODY);

        if !status.is_success() {
            tracing::warn!(
                event_id = id,
                event_type,
                status = status.as_u16(),
                body = %answer,
                "Open Zaak rejected the event"
            );
            return Err(DeliverError::Rejected {
                event_id: id.to_owned(),
                status: status.as_u16(),
                body: answer,
            });
        }
        tracing::info!(
            event_id = id,
            event_type,
            status = status.as_u16(),
            body = %answer,
            "delivered to Open Zaak"
        );
        self.log.mark_delivered(id).await?;
        Ok(Outcome::Delivered {
            status: status.as_u16(),
            body: answer,
        })
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------------------------
// Settings (env) for the Lambda

/// Where the Open Zaak credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// `OPEN_ZAAK_CLIENT_ID` + `OPEN_ZAAK_SECRET`.
    Env(OpenZaakCredentials),
    /// `OPEN_ZAAK_CREDENTIALS_SECRET_ID`: a Secrets Manager secret (name or ARN).
    SecretsManager(String),
}

/// The `deliver` Lambda's settings, read once at cold start.
#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub open_zaak_root: String,
    pub credentials: CredentialsSource,
    pub deliveries_table: String,
    pub timeout: Duration,
}

impl DeliverSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (env-like; empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let open_zaak_root = get("OPEN_ZAAK_ROOT").unwrap_or_default();
        events_url(&open_zaak_root)?;

        let credentials = match (
            get("OPEN_ZAAK_CLIENT_ID"),
            get("OPEN_ZAAK_SECRET"),
            get("OPEN_ZAAK_CREDENTIALS_SECRET_ID"),
        ) {
            (Some(id), Some(secret), _) => {
                CredentialsSource::Env(OpenZaakCredentials::new(id, secret))
            }
            (Some(_), None, None) => {
                return Err(ConfigError::Missing {
                    name: "OPEN_ZAAK_SECRET",
                    fix: "set it to the Open Zaak Applicatie's secret (with OPEN_ZAAK_CLIENT_ID), or set OPEN_ZAAK_CREDENTIALS_SECRET_ID instead",
                })
            }
            (None, Some(_), None) => {
                return Err(ConfigError::Missing {
                    name: "OPEN_ZAAK_CLIENT_ID",
                    fix: "set it to the Open Zaak Applicatie's client id (with OPEN_ZAAK_SECRET), or set OPEN_ZAAK_CREDENTIALS_SECRET_ID instead",
                })
            }
            (_, _, Some(secret_id)) => CredentialsSource::SecretsManager(secret_id),
            (None, None, None) => {
                return Err(ConfigError::Missing {
                    name: "OPEN_ZAAK_CREDENTIALS_SECRET_ID",
                    fix: "set it to the name or ARN of a Secrets Manager secret holding {\"client_id\": \"...\", \"secret\": \"...\"} (or set OPEN_ZAAK_CLIENT_ID and OPEN_ZAAK_SECRET)",
                })
            }
        };

        let deliveries_table = get("DELIVERIES_TABLE").ok_or(ConfigError::Missing {
            name: "DELIVERIES_TABLE",
            fix: "set it to the DynamoDB table (partition key `id`, TTL on `expiresAt`) that records delivered event ids: the SAM stack's DeliveriesTable",
        })?;

        let timeout = match get("OPEN_ZAAK_TIMEOUT_SECONDS") {
            None => DEFAULT_TIMEOUT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=60).contains(&n) => Duration::from_secs(n),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "OPEN_ZAAK_TIMEOUT_SECONDS",
                        reason: format!("{v:?}: expected whole seconds from 1 to 60"),
                    })
                }
            },
        };

        Ok(DeliverSettings {
            open_zaak_root,
            credentials,
            deliveries_table,
            timeout,
        })
    }
}

/// Resolves the credentials, fetching the Secrets Manager secret if needed.
pub async fn load_credentials(
    source: &CredentialsSource,
    sdk: &aws_config::SdkConfig,
) -> Result<OpenZaakCredentials, ConfigError> {
    match source {
        CredentialsSource::Env(c) => Ok(c.clone()),
        CredentialsSource::SecretsManager(secret_id) => {
            let client = aws_sdk_secretsmanager::Client::new(sdk);
            let out = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|e| ConfigError::Secret {
                    secret_id: secret_id.clone(),
                    reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })?;
            let text = out.secret_string().ok_or_else(|| ConfigError::Secret {
                secret_id: secret_id.clone(),
                reason: "the secret has no SecretString".into(),
            })?;
            OpenZaakCredentials::from_secret_json(text).map_err(|reason| ConfigError::Secret {
                secret_id: secret_id.clone(),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn events_url_handles_trailing_slash_and_paths() {
        for (root, want) in [
            ("https://zaken.example.nl", "https://zaken.example.nl/events"),
            ("https://zaken.example.nl/", "https://zaken.example.nl/events"),
            (
                "https://example.nl/open-zaak/",
                "https://example.nl/open-zaak/events",
            ),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000/events"),
        ] {
            assert_eq!(events_url(root).unwrap().as_str(), want, "{root}");
        }
        assert!(events_url("").is_err());
        assert!(events_url("ftp://x").is_err());
        assert!(events_url("https://x/?a=b").is_err());
    }

    #[test]
    fn secret_json_parses_and_never_echoes() {
        let c = OpenZaakCredentials::from_secret_json(r#"{"client_id":"zl","secret":"s3"}"#).unwrap();
        assert_eq!(c.client_id, "zl");
        assert!(!format!("{c:?}").contains("s3"));
        let err =
            OpenZaakCredentials::from_secret_json(r#"{"client_id":7,"secret":"topsecret"}"#).unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(OpenZaakCredentials::from_secret_json(r#"{"client_id":"","secret":"x"}"#).is_err());
    }

    fn settings(vars: &[(&str, &str)]) -> Result<DeliverSettings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DeliverSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn settings_name_the_missing_variable() {
        let err = settings(&[]).unwrap_err().to_string();
        assert!(err.contains("OPEN_ZAAK_ROOT"), "{err}");
        let err = settings(&[("OPEN_ZAAK_ROOT", "https://oz")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OPEN_ZAAK_CREDENTIALS_SECRET_ID"), "{err}");
        let err = settings(&[("OPEN_ZAAK_ROOT", "https://oz"), ("OPEN_ZAAK_CLIENT_ID", "a")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OPEN_ZAAK_SECRET"), "{err}");
        let err = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "zaaklink/open-zaak"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("DELIVERIES_TABLE"), "{err}");
        let s = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "zaaklink/open-zaak"),
            ("DELIVERIES_TABLE", "t"),
        ])
        .unwrap();
        assert_eq!(
            s.credentials,
            CredentialsSource::SecretsManager("zaaklink/open-zaak".into())
        );
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        let s = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CLIENT_ID", "a"),
            ("OPEN_ZAAK_SECRET", "b"),
            ("DELIVERIES_TABLE", "t"),
            ("OPEN_ZAAK_TIMEOUT_SECONDS", "3"),
        ])
        .unwrap();
        assert_eq!(
            s.credentials,
            CredentialsSource::Env(OpenZaakCredentials::new("a", "b"))
        );
        assert_eq!(s.timeout, Duration::from_secs(3));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
