//! Settings from the environment, flags overriding (clap), validated once at startup.
//! A missing or invalid setting stops startup with a message naming it and the fix.

use std::time::Duration;

use crate::openklant::ApiRoot;
use crate::secret::Secret;
use crate::webhook::WebhookAuth;
use crate::Settings;

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

/// A setting that stops startup: which one, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {setting} {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

fn err(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        problem: problem.into(),
    }
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

pub fn parse_bool(setting: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(err(setting, format!("is {other:?}; use true or false"))),
    }
}

fn required(setting: &'static str, v: &Option<String>, hint: &str) -> Result<String, ConfigError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(err(setting, format!("is not set: {hint}"))),
    }
}

impl CoreArgs {
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
                outbox_lease: crate::DEFAULT_OUTBOX_LEASE,
            },
            webhook_auth: WebhookAuth::new(&Secret::new(webhook_auth)),
            open_klant_token: Secret::new(token),
            open_klant_timeout: Duration::from_millis(timeout_ms),
            emission_off_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> CoreArgs {
        CoreArgs {
            enable_cloud_events: "true".into(),
            notifications_source: "urn:nld:oin:1:openklant".into(),
            webhook_auth: Some("Token geheim".into()),
            open_klant_api_root: Some("https://klant.example.nl/klantinteracties/api/v1".into()),
            open_klant_api_token: Some("tok-geheim".into()),
            label_max_chars: "80".into(),
            open_klant_timeout_ms: "10000".into(),
        }
    }

    #[test]
    fn valid_settings() {
        let c = full().validate().unwrap();
        assert_eq!(c.settings.emit_source.as_deref(), Some("urn:nld:oin:1:openklant"));
        assert_eq!(
            c.settings.api_root.as_str(),
            "https://klant.example.nl/klantinteracties/api/v1/"
        );
        assert!(c.emission_off_reason.is_none());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("geheim"), "secrets must not print: {dbg}");
    }

    #[test]
    fn emission_off_is_explained() {
        let mut a = full();
        a.enable_cloud_events = "false".into();
        let c = a.validate().unwrap();
        assert!(c.settings.emit_source.is_none());
        assert!(c.emission_off_reason.unwrap().contains("ENABLE_CLOUD_EVENTS"));
        let mut a = full();
        a.notifications_source = " ".into();
        let c = a.validate().unwrap();
        assert!(c.settings.emit_source.is_none());
        assert!(c.emission_off_reason.unwrap().contains("NOTIFICATIONS_SOURCE"));
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Edit = fn(&mut CoreArgs);
        let cases: Vec<(&str, Edit)> = vec![
            ("ENABLE_CLOUD_EVENTS", |a| a.enable_cloud_events = "maybe".into()),
            ("WEBHOOK_AUTH", |a| a.webhook_auth = None),
            ("WEBHOOK_AUTH", |a| a.webhook_auth = Some("  ".into())),
            ("OPEN_KLANT_API_ROOT", |a| a.open_klant_api_root = None),
            ("OPEN_KLANT_API_ROOT", |a| {
                a.open_klant_api_root = Some("klant.example.nl".into())
            }),
            ("OPEN_KLANT_API_TOKEN", |a| a.open_klant_api_token = None),
            ("LABEL_MAX_CHARS", |a| a.label_max_chars = "0".into()),
            ("LABEL_MAX_CHARS", |a| a.label_max_chars = "tachtig".into()),
            ("OPEN_KLANT_TIMEOUT_MS", |a| a.open_klant_timeout_ms = "-1".into()),
        ];
        for (setting, edit) in cases {
            let mut a = full();
            edit(&mut a);
            let e = a.validate().unwrap_err();
            assert_eq!(e.setting, setting);
            assert!(e.to_string().contains(setting));
        }
    }
}
