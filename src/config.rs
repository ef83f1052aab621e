//! Settings from the environment, flags overriding (clap), validated once at startup.
//! A missing or invalid setting stops startup with a message naming it and the fix.

use std::time::Duration;

use crate::openklant::{ApiRoot, MAX_PAGE_SIZE};
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

/// The resync's settings (DESIGN §7), shared by the Lambda and the CLI.
#[derive(clap::Args, Debug, Clone)]
pub struct ResyncArgs {
    /// The least time between the starts of two resync passes (e.g. 90s, 30m, 1h). With a
    /// run every minute, 90s starts a pass every 2 minutes (DESIGN §7a: at 100,000 objects a
    /// silent change reaches Open Zaak within 5 minutes).
    #[arg(long = "resync-interval", env = "RESYNC_INTERVAL", default_value = "90s")]
    pub interval: String,
    /// Requests to Open Klant (and writes) the resync makes at once.
    #[arg(long = "resync-concurrency", env = "RESYNC_CONCURRENCY", default_value = "4")]
    pub concurrency: String,
    /// Objects per list page (Open Klant serves at most 500).
    #[arg(long = "resync-page-size", env = "RESYNC_PAGE_SIZE", default_value = "500")]
    pub page_size: String,
    /// How long a resync run holds a pass without renewing (renewed after every page).
    #[arg(long = "resync-lease", env = "RESYNC_LEASE", default_value = "2m")]
    pub lease: String,
    /// The least time between two passes while Open Klant's own CloudEvents arrive (one
    /// heard in the last 72 hours): the pass is then only a backstop (DESIGN §7a).
    /// `off` = always --resync-interval.
    #[arg(
        long = "resync-backstop-interval",
        env = "RESYNC_BACKSTOP_INTERVAL",
        default_value = "1h"
    )]
    pub backstop: String,
}

impl Default for ResyncArgs {
    fn default() -> Self {
        ResyncArgs {
            interval: "90s".into(),
            concurrency: "4".into(),
            page_size: "500".into(),
            lease: "2m".into(),
            backstop: "1h".into(),
        }
    }
}

impl ResyncArgs {
    pub fn validate(&self) -> Result<ResyncSettings, ConfigError> {
        let interval = parse_duration("RESYNC_INTERVAL", &self.interval)?;
        let lease = parse_duration("RESYNC_LEASE", &self.lease)?;
        if lease < Duration::from_secs(1) {
            return Err(err(
                "RESYNC_LEASE",
                "must be at least 1s (a run renews it after every page)",
            ));
        }
        let concurrency: usize = self
            .concurrency
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                err(
                    "RESYNC_CONCURRENCY",
                    format!("is {:?}; use a whole number from 1 to 64", self.concurrency),
                )
            })?;
        let page_size: u32 = self
            .page_size
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                err(
                    "RESYNC_PAGE_SIZE",
                    format!("is {:?}; use a whole number from 1 to 500", self.page_size),
                )
            })?;
        let backstop = match self.backstop.trim() {
            "off" => None,
            v => Some(
                parse_duration("RESYNC_BACKSTOP_INTERVAL", v).map_err(|e| ConfigError {
                    problem: format!("{} (or off: always RESYNC_INTERVAL)", e.problem),
                    ..e
                })?,
            ),
        };
        Ok(ResyncSettings {
            page_size,
            concurrency,
            lease,
            interval,
            backstop,
            ..Default::default()
        })
    }
}

/// `90`, `90s`, `15m`, `1h`, `2d` (a bare number is seconds).
pub fn parse_duration(setting: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let t = v.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        err(
            setting,
            format!("is {v:?}; use a duration such as 90s, 15m, 1h or 1d"),
        )
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(err(
                setting,
                format!("is {v:?}; use a duration such as 90s, 15m, 1h or 1d"),
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

/// How a resync runs (DESIGN §7): what [`ResyncArgs::validate`] makes of the RESYNC_*
/// settings; [`crate::resync`] reads it.
#[derive(Debug, Clone)]
pub struct ResyncSettings {
    /// Objects per list page (Open Klant serves at most 500) and per store page.
    pub page_size: u32,
    /// Requests to Open Klant (and writes) at once.
    pub concurrency: usize,
    /// How long a run holds the pass without renewing (renewed after every page).
    pub lease: Duration,
    /// The least time between the starts of two passes.
    pub interval: Duration,
    /// Retries of an Open Klant read on 429/5xx/timeouts, and the first wait.
    pub retries: u32,
    pub retry_base: Duration,
    /// Changed objects reconciled at once — each one's look at Open Klant, write and delivery
    /// — when not `concurrency`: `serve` delivers a burst side by side
    /// (`ZAAKLINK_DELIVER_CONCURRENCY`, issue 24). Label reads stay at `concurrency`.
    pub deliver_concurrency: Option<usize>,
    /// The least time between the starts of two passes while Open Klant's own CloudEvents
    /// arrive (`crate::resync::period`); None = always `interval`.
    pub backstop: Option<Duration>,
}

impl ResyncSettings {
    /// How many changed objects are reconciled (and delivered) at once.
    pub fn objects_at_once(&self) -> usize {
        self.deliver_concurrency.unwrap_or(self.concurrency).max(1)
    }
}

impl Default for ResyncSettings {
    fn default() -> Self {
        ResyncSettings {
            page_size: MAX_PAGE_SIZE,
            concurrency: 4,
            lease: Duration::from_secs(120),
            interval: Duration::from_secs(3600),
            retries: 4,
            retry_base: Duration::from_millis(200),
            deliver_concurrency: None,
            backstop: None,
        }
    }
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

/// The Lambda functions talk https only: an `http://` root (Open Klant's, Open Zaak's) is
/// refused unless `ALLOW_PLAIN_HTTP` is true (test stacks; the template's `AllowPlainHttp`).
/// The CLI (`serve`, `resync`, …) runs on laptops and never applies this. The `Err` is the
/// problem and the fix, without the URL (a root could carry user info).
pub fn refuse_plain_http(url: &str, allow_plain_http: bool) -> Result<(), String> {
    let scheme = url.trim().split(':').next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("http") && !allow_plain_http {
        return Err(
            "is an http:// URL, and the Lambda functions only talk https (tokens and personal data must not cross the network in clear text): \
             use the https:// URL, or for a test stack set ALLOW_PLAIN_HTTP=true (stack parameter AllowPlainHttp=true)"
                .to_string(),
        );
    }
    Ok(())
}

fn required(setting: &'static str, v: &Option<String>, hint: &str) -> Result<String, ConfigError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(err(setting, format!("is not set: {hint}"))),
    }
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
    fn resync_settings_table() {
        for (v, want) in [
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("2d", 172_800),
        ] {
            assert_eq!(parse_duration("X", v).unwrap(), Duration::from_secs(want), "{v}");
        }
        for bad in ["", "h", "1w", "-5", "1.5h"] {
            assert!(
                parse_duration("RESYNC_INTERVAL", bad)
                    .unwrap_err()
                    .to_string()
                    .contains("RESYNC_INTERVAL"),
                "{bad}"
            );
        }
        let ok = ResyncArgs::default().validate().unwrap();
        assert_eq!((ok.page_size, ok.concurrency), (500, 4));
        assert_eq!(ok.interval, Duration::from_secs(90));
        assert_eq!(ok.backstop, Some(Duration::from_secs(3600)));
        for (v, want) in [("off", None), ("30m", Some(1800))] {
            let a = ResyncArgs {
                backstop: v.into(),
                ..Default::default()
            };
            assert_eq!(
                a.validate().unwrap().backstop,
                want.map(Duration::from_secs),
                "{v}"
            );
        }
        let e = ResyncArgs {
            backstop: "hourly".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.setting, "RESYNC_BACKSTOP_INTERVAL");
        assert!(e.to_string().contains("or off"), "{e}");
        let bad = ResyncArgs {
            page_size: "501".into(),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("RESYNC_PAGE_SIZE"));
        let bad = ResyncArgs {
            concurrency: "0".into(),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("RESYNC_CONCURRENCY"));
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
    fn lambdas_refuse_a_plain_http_open_klant_root_unless_allowed() {
        let mut a = full();
        a.open_klant_api_root = Some("http://klant.example.nl/klantinteracties/api/v1/".into());
        // the CLI (laptops) keeps accepting http
        assert!(a.validate().is_ok());
        for unset in ["", "false", "0", "no"] {
            let e = a.validate_for_lambda(unset).unwrap_err();
            assert_eq!(e.setting, "OPEN_KLANT_API_ROOT", "{unset:?}");
            let msg = e.to_string();
            assert!(msg.contains("http://") && msg.contains("https"), "{msg}");
            assert!(msg.contains("ALLOW_PLAIN_HTTP=true"), "the fix is named: {msg}");
        }
        for allow in ["true", "TRUE", "1", "yes"] {
            let c = a.validate_for_lambda(allow).unwrap();
            assert_eq!(
                c.settings.api_root.as_str(),
                "http://klant.example.nl/klantinteracties/api/v1/"
            );
        }
        // https needs no permission; a bad flag is named
        assert!(full().validate_for_lambda("").is_ok());
        assert!(full().validate_for_lambda("false").is_ok());
        assert_eq!(
            full().validate_for_lambda("misschien").unwrap_err().setting,
            "ALLOW_PLAIN_HTTP"
        );
        assert!(refuse_plain_http("HTTP://x.example", false).is_err());
        assert!(refuse_plain_http("https://x.example", false).is_ok());
        assert!(refuse_plain_http("http://x.example", true).is_ok());
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
