//! The settings every entry point shares (DESIGN §6): the arguments and the validated
//! configuration.

use std::time::Duration;

use super::error::{err, ConfigError};
use super::parse::{parse_bool, required};
use super::plain_http::refuse_plain_http;
use crate::openklant::ApiRoot;
use crate::pipeline::{Settings, DEFAULT_DESTROY_RECHECK_AFTER, DEFAULT_OUTBOX_LEASE};
use crate::secret::{Secret, WebhookAuth};

/// The settings every entry point shares (DESIGN §6).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CoreArgs {
    /// Emit CloudEvents (true/false). Without it state is tracked but nothing is emitted.
    #[arg(long, env = "ENABLE_CLOUD_EVENTS", default_value = "false")]
    pub enable_cloud_events: String,
    /// CloudEvent `source`, e.g. urn:nld:oin:<oin>:openklant. Empty = nothing is emitted.
    #[arg(long, env = "NOTIFICATIONS_SOURCE", default_value = "")]
    pub notifications_source: String,
    /// Expected Authorization header value (the abonnement's `auth`).
    #[arg(long, env = "WEBHOOK_AUTH", hide_env_values = true)]
    pub webhook_auth: Option<String>,
    /// Root of Open Klant's klantinteracties API, e.g. https://klant.example.nl/klantinteracties/api/v1/
    #[arg(long, env = "OPEN_KLANT_API_ROOT")]
    pub open_klant_api_root: Option<String>,
    /// Token for Open Klant (sent as `Authorization: Token <token>`).
    #[arg(long, env = "OPEN_KLANT_API_TOKEN", hide_env_values = true)]
    pub open_klant_api_token: Option<String>,
    /// Labels are cut to this many characters (Open Zaak drops longer ones).
    #[arg(long, env = "LABEL_MAX_CHARS", default_value = "80")]
    pub label_max_chars: String,
    /// Timeout of every request to Open Klant, in milliseconds.
    #[arg(long, env = "OPEN_KLANT_TIMEOUT_MS", default_value = "10000")]
    pub open_klant_timeout_ms: String,
}

/// Validated core configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub settings: Settings,
    pub webhook_auth: WebhookAuth,
    pub open_klant_token: Secret,
    pub open_klant_timeout: Duration,
    /// Why events are not emitted, when they are not (logged at startup).
    pub emission_off_reason: Option<&'static str>,
}

impl CoreArgs {
    /// [`CoreArgs::validate`] for the Lambda functions (webhook, resync): also refuses an
    /// `http://` `OPEN_KLANT_API_ROOT` unless `allow_plain_http` (`ALLOW_PLAIN_HTTP`) is true.
    pub fn validate_for_lambda(&self, allow_plain_http: &str) -> Result<CoreConfig, ConfigError> {
        let allow = parse_bool("ALLOW_PLAIN_HTTP", allow_plain_http)?;
        let cfg = self.validate()?;
        refuse_plain_http(cfg.settings.api_root.as_str(), allow)
            .map_err(|problem| err("OPEN_KLANT_API_ROOT", problem))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<CoreConfig, ConfigError> {
        let enabled = parse_bool("ENABLE_CLOUD_EVENTS", &self.enable_cloud_events)?;
        let source = self.notifications_source.trim();
        let emission_off_reason = match (enabled, source.is_empty()) {
            (false, _) => Some("ENABLE_CLOUD_EVENTS is not true: links are tracked, no events are emitted"),
            (true, true) => Some("NOTIFICATIONS_SOURCE is empty: links are tracked, no events are emitted"),
            (true, false) => None,
        };
        let webhook_auth = required(
            "WEBHOOK_AUTH",
            &self.webhook_auth,
            "set it to the exact Authorization value of the Open Notificaties abonnement (e.g. `Token <secret>`)",
        )?;
        let root = required(
            "OPEN_KLANT_API_ROOT",
            &self.open_klant_api_root,
            "set it to the klantinteracties API root, e.g. https://klant.example.nl/klantinteracties/api/v1/",
        )?;
        let api_root =
            ApiRoot::parse(&root).map_err(|e| err("OPEN_KLANT_API_ROOT", format!("is invalid: {e}")))?;
        let token = required(
            "OPEN_KLANT_API_TOKEN",
            &self.open_klant_api_token,
            "set it to an Open Klant API token with read access to klantinteracties",
        )?;
        let label_max_chars: usize = self
            .label_max_chars
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                err(
                    "LABEL_MAX_CHARS",
                    format!(
                        "is {:?}; use a whole number above 0 (Open Zaak keeps 80)",
                        self.label_max_chars
                    ),
                )
            })?;
        let timeout_ms: u64 = self
            .open_klant_timeout_ms
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=120_000).contains(n))
            .ok_or_else(|| {
                err(
                    "OPEN_KLANT_TIMEOUT_MS",
                    format!(
                        "is {:?}; use milliseconds from 1 to 120000",
                        self.open_klant_timeout_ms
                    ),
                )
            })?;
        Ok(CoreConfig {
            settings: Settings {
                api_root,
                emit_source: emission_off_reason.is_none().then(|| source.to_string()),
                label_max_chars,
                max_attempts: 8,
                outbox_lease: DEFAULT_OUTBOX_LEASE,
                destroy_recheck_after: DEFAULT_DESTROY_RECHECK_AFTER,
            },
            webhook_auth: WebhookAuth::new(&Secret::new(webhook_auth)),
            open_klant_token: Secret::new(token),
            open_klant_timeout: Duration::from_millis(timeout_ms),
            emission_off_reason,
        })
    }
}
