//! The two secrets reads at a cold start, SSM `GetParameters` and Secrets Manager
//! `GetSecretValue` / `BatchGetSecretValue`, as plain AWS JSON 1.1 calls: a `POST /` with
//! `X-Amz-Target: <prefix>.<Operation>`, signed with SigV4 (`aws-sigv4`, the signer the SDK
//! itself uses) with the `SdkConfig`'s credentials and region, sent with `reqwest`. The SDK
//! clients of these two services cost more compile time than the rest of the Lambda's
//! dependencies for one call each (docs/DESIGN.md §"Secrets without the SDK clients").
//!
//! The endpoint is the SDK's: an `endpoint_url` set on the `SdkConfig` in code wins, then
//! the service's own setting (`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`, or
//! `endpoint_url` in the profile's service section), then `AWS_ENDPOINT_URL`, then
//! `https://<service>.<region>.amazonaws.com/` (`.amazonaws.com.cn` in the China regions).
//! Throttling, 5xx answers and lost connections are retried (3 attempts, backoff).
//! Answers are bounded ([`MAX_ANSWER_BYTES`]). An error carries AWS's `__type` and message
//! (which name the parameter or secret, never its value); no value is ever logged.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// The largest answer read (two secrets are a few KB; a Lambda's environment is 4 KB).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(20);

/// One AWS JSON 1.1 service: its SDK service id (for `AWS_ENDPOINT_URL_<ID>`), the signing
/// name (also the host's first label) and the `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub id: &'static str,
    pub signing_name: &'static str,
    pub target_prefix: &'static str,
}

pub const SSM: Service = Service {
    id: "SSM",
    signing_name: "ssm",
    target_prefix: "AmazonSSM",
};
pub const SECRETS_MANAGER: Service = Service {
    id: "Secrets Manager",
    signing_name: "secretsmanager",
    target_prefix: "secretsmanager",
};

/// Why a call failed. `Display` gives the cause; callers add the setting and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// AWS answered with an error: the short `__type` (`AccessDeniedException`,
    /// `ParameterNotFound`, `ResourceNotFoundException`, …), its message, the HTTP status.
    Aws {
        code: String,
        message: String,
        status: u16,
    },
    /// No answer (connection, timeout), or an answer that is not AWS JSON.
    Transport(String),
    /// Nothing to sign with: no region or no credentials in the configuration.
    Setup(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Aws {
                code,
                message,
                status,
            } => write!(f, "{code} (HTTP {status}): {message}"),
            CallError::Transport(why) => write!(f, "no answer from AWS: {why}"),
            CallError::Setup(why) => write!(f, "{why}"),
        }
    }
}

impl CallError {
    /// The short error code (`AccessDeniedException`), if AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            CallError::Aws { code, status, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(
                        code.as_str(),
                        "ThrottlingException"
                            | "ThrottledException"
                            | "TooManyRequestsException"
                            | "RequestLimitExceeded"
                            | "RequestThrottled"
                            | "RequestThrottledException"
                            | "Throttling"
                    )
            }
            CallError::Transport(_) => true,
            CallError::Setup(_) => false,
        }
    }
}

/// An AWS error answer's short code: `__type` (or the `x-amzn-errortype` header) without
/// the namespace before `#` and anything after `:`.
pub fn error_code(type_field: &str) -> String {
    let short = type_field.rsplit('#').next().unwrap_or(type_field);
    short.split(':').next().unwrap_or(short).to_string()
}

/// The endpoint for `service`, as the SDK clients choose it (module docs).
pub fn endpoint(sdk: &SdkConfig, service: &Service) -> Result<String, CallError> {
    let configured = if sdk.get_origin("endpoint_url").is_client_config() {
        sdk.endpoint_url().map(str::to_string)
    } else {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id(service.id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("all fields set");
        sdk.service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| sdk.endpoint_url().map(str::to_string))
    };
    if let Some(url) = configured {
        return Ok(url);
    }
    let region = region(sdk)?;
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(format!("https://{}.{region}.{suffix}/", service.signing_name))
}

fn region(sdk: &SdkConfig) -> Result<&str, CallError> {
    sdk.region().map(|r| r.as_ref()).ok_or_else(|| {
        CallError::Setup("no AWS region is configured (set AWS_REGION; Lambda sets it)".into())
    })
}

/// The one HTTP client of these calls: built once (its TLS set-up is the costly part), shared
/// by every read of a cold start. It keeps no idle connection (each read is one request to its
/// own service), so no connection outlives the runtime that opened it.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default()
    })
}

/// The request's headers before signing: the JSON 1.1 content type and the operation.
pub fn request_headers(service: &Service, operation: &str) -> [(&'static str, String); 2] {
    [
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("x-amz-target", format!("{}.{operation}", service.target_prefix)),
    ]
}

/// Calls `operation` with `body`; the answer's JSON. Retries what AWS says to retry.
pub async fn call(
    http: &reqwest::Client,
    sdk: &SdkConfig,
    service: &Service,
    operation: &str,
    body: &Value,
) -> Result<Value, CallError> {
    let mut attempt = 1;
    loop {
        match call_once(http, sdk, service, operation, body).await {
            Err(e) if e.retryable() && attempt < ATTEMPTS => {
                tracing::warn!(service = service.id, operation, attempt, error = %e, "AWS call failed, retrying");
                tokio::time::sleep(Duration::from_millis(200 * 4u64.pow(attempt - 1))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn call_once(
    http: &reqwest::Client,
    sdk: &SdkConfig,
    service: &Service,
    operation: &str,
    body: &Value,
) -> Result<Value, CallError> {
    let url = endpoint(sdk, service)?;
    let region = region(sdk)?;
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| CallError::Setup("no AWS credentials are configured".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| CallError::Setup(format!("the AWS credentials could not be loaded: {e}")))?;
    let identity = credentials.into();
    let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service.signing_name)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CallError::Setup(format!("the request could not be signed: {e}")))?
        .into();
    let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
    let headers = request_headers(service, operation);
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(&bytes),
    )
    .and_then(|r| sign(r, &params))
    .map_err(|e| CallError::Setup(format!("the request could not be signed: {e}")))?;
    let mut request = http.post(&url).timeout(TIMEOUT).body(bytes);
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(signable.output().headers())
    {
        request = request.header(k, v);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let header_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?
    {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CallError::Transport(format!(
                "the answer is over {MAX_ANSWER_BYTES} bytes"
            )));
        }
        answer.extend_from_slice(&chunk);
    }
    read_answer(status, header_type.as_deref(), &answer)
}

/// One Secrets Manager secret's `SecretString` (`GetSecretValue`); the error names the
/// cause, the caller adds the secret and the right.
pub async fn secret_string(sdk: &SdkConfig, id: &str) -> Result<String, String> {
    let body = serde_json::json!({"SecretId": id});
    let out = call(client(), sdk, &SECRETS_MANAGER, "GetSecretValue", &body)
        .await
        .map_err(|e| e.to_string())?;
    field(&out, "SecretString")
        .map(str::to_string)
        .ok_or_else(|| "it has no string value".to_string())
}

/// A string field of an AWS JSON object.
pub fn field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The entries of an AWS JSON list field (none when absent).
pub fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// An answer's JSON, or the error it carries (`__type`, `message`/`Message`).
pub fn read_answer(status: u16, header_type: Option<&str>, body: &[u8]) -> Result<Value, CallError> {
    let json: Option<Value> = if body.is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_slice(body).ok()
    };
    if (200..300).contains(&status) {
        return json
            .ok_or_else(|| CallError::Transport(format!("HTTP {status} with an answer that is not JSON")));
    }
    let json = json.unwrap_or(Value::Null);
    let text = |k: &str| json.get(k).and_then(Value::as_str);
    let code = text("__type")
        .or(header_type)
        .map(error_code)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = text("message")
        .or(text("Message"))
        .unwrap_or("(no message)")
        .to_string();
    Err(CallError::Aws {
        code,
        message,
        status,
    })
}

#[cfg(test)]
mod tests;
