//! The Open Zaak Applicatie's credentials (client id + secret) and where they come from.

use std::fmt;

use serde::Deserialize;

use super::ConfigError;

/// The secret of an Open Zaak Applicatie. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ClientSecret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The JWT's `user_id` unless `OPEN_ZAAK_USER_ID` says otherwise (Open Zaak's audit trail
/// shows it as `gebruikersId`).
pub const DEFAULT_USER_ID: &str = "zaaklink";
/// The JWT's `user_representation` unless `OPEN_ZAAK_USER_REPRESENTATION` says otherwise
/// (the audit trail's `gebruikersWeergave`).
pub const DEFAULT_USER_REPRESENTATION: &str = "zaaklink (Open Klant koppelingen)";

/// Client id and secret of the Open Zaak Applicatie (autorisatie `cloudevents.bezorgen`),
/// and the user the JWT names (`user_id`, `user_representation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenZaakCredentials {
    pub client_id: String,
    pub secret: ClientSecret,
    pub user_id: String,
    pub user_representation: String,
}

impl OpenZaakCredentials {
    /// With the default user ([`DEFAULT_USER_ID`], [`DEFAULT_USER_REPRESENTATION`]).
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        OpenZaakCredentials {
            client_id: client_id.into(),
            secret: ClientSecret::new(secret),
            user_id: DEFAULT_USER_ID.into(),
            user_representation: DEFAULT_USER_REPRESENTATION.into(),
        }
    }

    /// The same credentials naming another user in the JWT.
    pub fn with_user(mut self, user_id: impl Into<String>, user_representation: impl Into<String>) -> Self {
        self.user_id = user_id.into();
        self.user_representation = user_representation.into();
        self
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

/// Where the Open Zaak credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// `OPEN_ZAAK_CLIENT_ID` + `OPEN_ZAAK_SECRET`.
    Env(OpenZaakCredentials),
    /// `OPEN_ZAAK_CREDENTIALS_SECRET_ID`: a Secrets Manager secret (name or ARN).
    SecretsManager(String),
}

/// Resolves the credentials, fetching the Secrets Manager secret if needed.
pub async fn load_credentials(
    source: &CredentialsSource,
    sdk: &aws_config::SdkConfig,
) -> Result<OpenZaakCredentials, ConfigError> {
    match source {
        CredentialsSource::Env(c) => Ok(c.clone()),
        CredentialsSource::SecretsManager(secret_id) => {
            let text = crate::aws_json::secret_string(sdk, secret_id)
                .await
                .map_err(|e| ConfigError::Secret {
                    secret_id: secret_id.clone(),
                    reason: format!(
                        "{e} (check the name and the function's secretsmanager:GetSecretValue right)"
                    ),
                })?;
            OpenZaakCredentials::from_secret_json(&text).map_err(|reason| ConfigError::Secret {
                secret_id: secret_id.clone(),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
