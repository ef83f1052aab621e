//! The `deliver` Lambda's settings (env), read once at cold start.

use std::time::Duration;

use super::credentials::{CredentialsSource, OpenZaakCredentials};
use super::openzaak::events_url;
use super::ConfigError;

/// Default timeout for the whole request to Open Zaak.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub open_zaak_root: String,
    pub credentials: CredentialsSource,
    pub deliveries_table: String,
    pub timeout: Duration,
    /// `OPEN_ZAAK_ZAKEN_API_READ` (default true): the Applicatie also reads zaakobjecten
    /// (`zaken.lezen`): before an object's first `gekoppeld` and before re-POSTing one whose
    /// earlier attempt may have reached Open Zaak, skip it when the ZaakObject exists; at an
    /// epoch start remove relations the restored state does not know; after each 2xx, check
    /// that it exists (`gekoppeld`) or is gone (`ontkoppeld`), else park the event.
    pub zaken_api_read: bool,
    /// `PARKED_QUEUE_URL`: where parked events go (the stack's dead-letter queue), so they
    /// are alarmed and can be redriven. Unset: parked events are only logged.
    pub parked_queue_url: Option<String>,
    /// `OPEN_ZAAK_USER_ID` / `OPEN_ZAAK_USER_REPRESENTATION`: the JWT's `user_id` and
    /// `user_representation` (Open Zaak's audit trail).
    pub user_id: String,
    pub user_representation: String,
}

fn flag(name: &'static str, v: Option<String>) -> Result<bool, ConfigError> {
    flag_or(name, v, false)
}

fn flag_or(name: &'static str, v: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match v.as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("{other:?}: expected true or false"),
        }),
    }
}

/// A JWT user field: at most 255 characters (Open Zaak's audit trail keeps 255).
fn jwt_user(name: &'static str, v: Option<String>, default: &str) -> Result<String, ConfigError> {
    let v = v
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| default.to_owned());
    if v.chars().count() > 255 {
        return Err(ConfigError::Invalid {
            name,
            reason: format!(
                "{} characters; use at most 255 (Open Zaak's audit trail keeps 255)",
                v.chars().count()
            ),
        });
    }
    Ok(v)
}

impl DeliverSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (env-like; empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let open_zaak_root = get("OPEN_ZAAK_ROOT").unwrap_or_default();
        events_url(&open_zaak_root)?;
        // The Lambda talks https only, unless a test stack allows http (the CLI's Open Zaak
        // sink does not read these settings and keeps accepting http).
        let allow_plain_http = flag("ALLOW_PLAIN_HTTP", get("ALLOW_PLAIN_HTTP"))?;
        crate::config::refuse_plain_http(&open_zaak_root, allow_plain_http).map_err(|reason| {
            ConfigError::Invalid {
                name: "OPEN_ZAAK_ROOT",
                reason,
            }
        })?;

        let credentials = match (
            get("OPEN_ZAAK_CLIENT_ID"),
            get("OPEN_ZAAK_SECRET"),
            get("OPEN_ZAAK_CREDENTIALS_SECRET_ID"),
        ) {
            (Some(id), Some(secret), _) => CredentialsSource::Env(OpenZaakCredentials::new(id, secret)),
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
            fix: "set it to the DynamoDB table (partition key `id`) that records per onderwerpobject which events were applied: the SAM stack's DeliveriesTable",
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
            zaken_api_read: flag_or("OPEN_ZAAK_ZAKEN_API_READ", get("OPEN_ZAAK_ZAKEN_API_READ"), true)?,
            parked_queue_url: get("PARKED_QUEUE_URL"),
            user_id: jwt_user(
                "OPEN_ZAAK_USER_ID",
                get("OPEN_ZAAK_USER_ID"),
                super::credentials::DEFAULT_USER_ID,
            )?,
            user_representation: jwt_user(
                "OPEN_ZAAK_USER_REPRESENTATION",
                get("OPEN_ZAAK_USER_REPRESENTATION"),
                super::credentials::DEFAULT_USER_REPRESENTATION,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<DeliverSettings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DeliverSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn a_plain_http_open_zaak_root_is_refused_unless_allowed() {
        let base = [
            ("OPEN_ZAAK_ROOT", "http://open-zaak.test:8000"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "zaaklink/open-zaak"),
            ("DELIVERIES_TABLE", "t"),
        ];
        for allow in [None, Some("false"), Some("0"), Some("")] {
            let mut vars = base.to_vec();
            if let Some(v) = allow {
                vars.push(("ALLOW_PLAIN_HTTP", v));
            }
            let err = settings(&vars).unwrap_err().to_string();
            assert!(err.contains("OPEN_ZAAK_ROOT"), "{err}");
            assert!(err.contains("https"), "the cause: {err}");
            assert!(err.contains("ALLOW_PLAIN_HTTP=true"), "the fix: {err}");
        }
        let mut vars = base.to_vec();
        vars.push(("ALLOW_PLAIN_HTTP", "true"));
        assert_eq!(
            settings(&vars).unwrap().open_zaak_root,
            "http://open-zaak.test:8000"
        );
        vars.pop();
        vars.push(("ALLOW_PLAIN_HTTP", "misschien"));
        assert!(settings(&vars)
            .unwrap_err()
            .to_string()
            .contains("ALLOW_PLAIN_HTTP"));
        // https needs no permission
        let mut vars = base.to_vec();
        vars[0] = ("OPEN_ZAAK_ROOT", "https://open-zaak.test");
        assert!(settings(&vars).is_ok());
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
        assert!(s.zaken_api_read, "the read is on by default");
        assert_eq!(s.parked_queue_url, None);
        assert_eq!(
            (s.user_id.as_str(), s.user_representation.as_str()),
            ("zaaklink", "zaaklink (Open Klant koppelingen)")
        );
        let s = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CLIENT_ID", "a"),
            ("OPEN_ZAAK_SECRET", "b"),
            ("DELIVERIES_TABLE", "t"),
            ("OPEN_ZAAK_TIMEOUT_SECONDS", "3"),
            ("OPEN_ZAAK_ZAKEN_API_READ", "true"),
            ("PARKED_QUEUE_URL", "https://sqs/q"),
            ("OPEN_ZAAK_USER_ID", "svc"),
            ("OPEN_ZAAK_USER_REPRESENTATION", "Koppelservice"),
        ])
        .unwrap();
        assert_eq!(
            (s.user_id.as_str(), s.user_representation.as_str()),
            ("svc", "Koppelservice")
        );
        assert_eq!(
            s.credentials,
            CredentialsSource::Env(OpenZaakCredentials::new("a", "b"))
        );
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert!(s.zaken_api_read);
        assert_eq!(s.parked_queue_url.as_deref(), Some("https://sqs/q"));
        let err = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CLIENT_ID", "a"),
            ("OPEN_ZAAK_SECRET", "b"),
            ("DELIVERIES_TABLE", "t"),
            ("OPEN_ZAAK_ZAKEN_API_READ", "ja"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("OPEN_ZAAK_ZAKEN_API_READ"), "{err}");
        let s = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CLIENT_ID", "a"),
            ("OPEN_ZAAK_SECRET", "b"),
            ("DELIVERIES_TABLE", "t"),
            ("OPEN_ZAAK_ZAKEN_API_READ", "false"),
        ])
        .unwrap();
        assert!(!s.zaken_api_read, "switched off explicitly");
        let long = "x".repeat(256);
        let err = settings(&[
            ("OPEN_ZAAK_ROOT", "https://oz"),
            ("OPEN_ZAAK_CLIENT_ID", "a"),
            ("OPEN_ZAAK_SECRET", "b"),
            ("DELIVERIES_TABLE", "t"),
            ("OPEN_ZAAK_USER_REPRESENTATION", &long),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("OPEN_ZAAK_USER_REPRESENTATION"), "{err}");
    }
}
