//! The ZGW JWT Open Zaak expects: HS256, `iss` = `client_id` = the Applicatie's client id,
//! `iat` = now, `user_id` and `user_representation` (who acts, for Open Zaak's audit trail:
//! `OPEN_ZAAK_USER_ID` / `OPEN_ZAAK_USER_REPRESENTATION`, default `zaaklink` /
//! `zaaklink (Open Klant koppelingen)`); signed fresh for every request (Open Zaak refuses tokens older than its
//! leeway). Neither the secret nor the token is ever logged.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{DeliverError, OpenZaakCredentials};

/// The JOSE header of every token zaaklink signs.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

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
    let payload = serde_json::to_vec(&claims).map_err(|e| DeliverError::Jwt(e.to_string()))?;
    Ok(sign_hs256(
        HEADER.as_bytes(),
        &payload,
        credentials.secret.expose().as_bytes(),
    ))
}

/// A compact JWS (RFC 7515) over exactly these header and payload bytes, HMAC-SHA256 with
/// `secret`: `b64(header).b64(payload).b64(mac)`, base64url without padding.
pub fn sign_hs256(header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let tag = mac(secret, signing_input.as_bytes()).finalize().into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// HMAC-SHA256 keyed with `secret` (any length: HMAC hashes a long key, pads a short one),
/// fed with `data`.
fn mac(secret: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts a key of any length");
    mac.update(data);
    mac
}

/// Why a token was refused ([`verify_hs256`]); never says anything about the secret.
#[cfg(any(test, feature = "testkit"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtRefused {
    /// Not three base64url parts, or a part that is not the JSON it should be.
    Malformed,
    /// The header's `alg` is not `HS256`.
    NotHs256,
    /// The signature does not match (another secret, or a changed header or payload).
    BadSignature,
}

/// The claims of an HS256 token signed with `secret`, as the fake Open Zaak and the tests
/// check it (what `jsonwebtoken::decode` did with `Validation::new(HS256)`, no required
/// claims, no `exp`): three parts, `alg` = `HS256`, the signature (constant-time compare),
/// then the claims. Freshness (`iat`) is the caller's rule.
#[cfg(any(test, feature = "testkit"))]
pub fn verify_hs256<T: serde::de::DeserializeOwned>(token: &str, secret: &[u8]) -> Result<T, JwtRefused> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtRefused::Malformed);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtRefused::Malformed);
    let head: serde_json::Value =
        serde_json::from_slice(&decode(header)?).map_err(|_| JwtRefused::Malformed)?;
    if head.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtRefused::NotHs256);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    mac(secret, signing_input.as_bytes())
        .verify_slice(&decode(signature)?)
        .map_err(|_| JwtRefused::BadSignature)?;
    serde_json::from_slice(&decode(payload)?).map_err(|_| JwtRefused::Malformed)
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

    /// jwt.io's HS256 example.
    const JWT_IO_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
    const JWT_IO_PAYLOAD: &str = r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#;
    const JWT_IO_SECRET: &[u8] = b"your-256-bit-secret";
    const JWT_IO_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
        SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn the_signer_reproduces_the_jwt_io_vector_byte_for_byte() {
        let token = sign_hs256(JWT_IO_HEADER.as_bytes(), JWT_IO_PAYLOAD.as_bytes(), JWT_IO_SECRET);
        assert_eq!(token, JWT_IO_TOKEN);
        assert!(token.ends_with(".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"));
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    }

    #[test]
    fn the_verifier_accepts_the_jwt_io_vector_and_refuses_the_rest() {
        let claims: serde_json::Value = verify_hs256(JWT_IO_TOKEN, JWT_IO_SECRET).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
        );
        // another secret
        let wrong = verify_hs256::<serde_json::Value>(JWT_IO_TOKEN, b"your-256-bit-secreT");
        assert_eq!(wrong, Err(JwtRefused::BadSignature));
        // a tampered payload under the original signature
        let parts: Vec<&str> = JWT_IO_TOKEN.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"1234567890","name":"John Doe","iat":1516239023}"#);
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            verify_hs256::<serde_json::Value>(&tampered, JWT_IO_SECRET),
            Err(JwtRefused::BadSignature)
        );
        // a tampered signature, a header that is not HS256, a token that is not three parts
        let bad_sig = JWT_IO_TOKEN.replace(".SflKx", ".TflKx");
        assert_eq!(
            verify_hs256::<serde_json::Value>(&bad_sig, JWT_IO_SECRET),
            Err(JwtRefused::BadSignature)
        );
        let none = sign_hs256(
            br#"{"alg":"none","typ":"JWT"}"#,
            JWT_IO_PAYLOAD.as_bytes(),
            JWT_IO_SECRET,
        );
        assert_eq!(
            verify_hs256::<serde_json::Value>(&none, JWT_IO_SECRET),
            Err(JwtRefused::NotHs256)
        );
        for malformed in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.??.**",
            &format!("{}.{}", parts[0], parts[1]),
        ] {
            assert_eq!(
                verify_hs256::<serde_json::Value>(malformed, JWT_IO_SECRET),
                Err(JwtRefused::Malformed),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn signs_hs256_with_client_id_as_issuer() {
        let c = OpenZaakCredentials::new("zl", "een-geheim-van-minstens-32-tekens-lang!");
        let token = sign_jwt(&c, 1_700_000_000).unwrap();
        let got: ZgwClaims = verify_hs256(&token, b"een-geheim-van-minstens-32-tekens-lang!").unwrap();
        assert_eq!(
            got,
            ZgwClaims {
                iss: "zl".into(),
                client_id: "zl".into(),
                iat: 1_700_000_000,
                user_id: "zaaklink".into(),
                user_representation: "zaaklink (Open Klant koppelingen)".into(),
            }
        );
        let header = token.split('.').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(header).unwrap(), HEADER.as_bytes());
        assert_eq!(
            verify_hs256::<ZgwClaims>(&token, b"other"),
            Err(JwtRefused::BadSignature)
        );
        // exactly these claims, as Open Zaak reads them
        let payload = token.split('.').nth(1).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
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
        let got: ZgwClaims = verify_hs256(&token, b"s").unwrap();
        assert_eq!(got.user_id, "svc-42");
        assert_eq!(got.user_representation, "Koppelservice gemeente X");
        assert_eq!((got.iss.as_str(), got.client_id.as_str()), ("zl", "zl"));
    }
}
