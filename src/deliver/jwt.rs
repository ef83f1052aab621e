//! The ZGW JWT Open Zaak expects: HS256, `iss` = `client_id` = the Applicatie's client id,
//! `iat` = now, `user_id` and `user_representation` (who acts, for Open Zaak's audit trail:
//! `OPEN_ZAAK_USER_ID` / `OPEN_ZAAK_USER_REPRESENTATION`, default `zaaklink` /
//! `zaaklink (Open Klant koppelingen)`); signed fresh for every request (Open Zaak refuses tokens older than its
//! leeway). Neither the secret nor the token is ever logged.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::{DeliverError, OpenZaakCredentials};

/// The claims of a ZGW JWT as Open Zaak validates them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ZgwClaims {
    pub iss: String,
    pub client_id: String,
    pub iat: u64,
    pub user_id: String,
    pub user_representation: String,
}

/// Signs a ZGW JWT (HS256) for one request, issued at `iat` (unix seconds).
pub fn sign_jwt(credentials: &OpenZaakCredentials, iat: u64) -> Result<String, DeliverError> {
    let claims = ZgwClaims {
        iss: credentials.client_id.clone(),
        client_id: credentials.client_id.clone(),
        iat,
        user_id: credentials.user_id.clone(),
        user_representation: credentials.user_representation.clone(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(credentials.secret.expose().as_bytes()),
    )
    .map_err(|e| DeliverError::Jwt(e.to_string()))
}

/// `Bearer <fresh jwt>` as a sensitive header value (never printed by reqwest).
pub fn bearer(credentials: &OpenZaakCredentials) -> Result<reqwest::header::HeaderValue, DeliverError> {
    let jwt = sign_jwt(credentials, unix_now())?;
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {jwt}"))
        .map_err(|_| DeliverError::Jwt("token is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signs_hs256_with_client_id_as_issuer() {
        let c = OpenZaakCredentials::new("zl", "een-geheim-van-minstens-32-tekens-lang!");
        let token = sign_jwt(&c, 1_700_000_000).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let got = jsonwebtoken::decode::<ZgwClaims>(
            &token,
            &DecodingKey::from_secret(b"een-geheim-van-minstens-32-tekens-lang!"),
            &v,
        )
        .unwrap();
        assert_eq!(
            got.claims,
            ZgwClaims {
                iss: "zl".into(),
                client_id: "zl".into(),
                iat: 1_700_000_000,
                user_id: "zaaklink".into(),
                user_representation: "zaaklink (Open Klant koppelingen)".into(),
            }
        );
        assert_eq!(got.header.alg, Algorithm::HS256);
        assert!(jsonwebtoken::decode::<ZgwClaims>(&token, &DecodingKey::from_secret(b"other"), &v).is_err());
        // exactly these claims, as Open Zaak reads them
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        let raw: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let mut keys: Vec<&str> = raw.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["client_id", "iat", "iss", "user_id", "user_representation"]
        );
    }

    #[test]
    fn the_user_is_configurable() {
        let c = OpenZaakCredentials::new("zl", "s").with_user("svc-42", "Koppelservice gemeente X");
        let token = sign_jwt(&c, 1).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        let got = jsonwebtoken::decode::<ZgwClaims>(&token, &DecodingKey::from_secret(b"s"), &v).unwrap();
        assert_eq!(got.claims.user_id, "svc-42");
        assert_eq!(got.claims.user_representation, "Koppelservice gemeente X");
        assert_eq!(
            (got.claims.iss.as_str(), got.claims.client_id.as_str()),
            ("zl", "zl")
        );
    }
}
