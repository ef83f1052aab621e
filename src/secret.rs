//! A secret value that never prints, and the webhook's expected `Authorization` value, kept
//! only as a digest.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The expected `Authorization` value (`WEBHOOK_AUTH`), kept only as its SHA-256 so that the
/// comparison takes the same time whatever the presented value's length or content.
#[derive(Clone)]
pub struct WebhookAuth {
    digest: [u8; 32],
}

impl WebhookAuth {
    pub fn new(expected: &Secret) -> Self {
        WebhookAuth {
            digest: Sha256::digest(expected.expose().as_bytes()).into(),
        }
    }

    /// Constant-time check of the presented header value.
    pub fn verify(&self, presented: Option<&[u8]>) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.unwrap_or(b"\0missing")).into();
        bool::from(presented.ct_eq(&self.digest))
    }
}

impl fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookAuth(<redacted>)")
    }
}

/// What a URL's user info (`user:password@`) is replaced by wherever a URL is printed.
pub const REDACTED_USERINFO: &str = "***";

/// `url` as text with its user info replaced by `***` (`https://***@host/…`): the form every
/// log line, error and problem body uses for a configured URL (`OPEN_KLANT_API_ROOT`,
/// `--sink`, `OPEN_ZAAK_ROOT`) and everything derived from it.
pub fn redact_url(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    if u.set_password(None).is_ok() && u.set_username(REDACTED_USERINFO).is_ok() {
        return u.to_string();
    }
    redact(url.as_str())
}

/// `text` with the user info of every URL in it (`scheme://user:password@…`) replaced by
/// `***`. For text that may hold a URL nobody parsed (a setting's raw value, an error
/// message). Errs on the side of hiding: everything from `://` to the last `@` before the next
/// white space or quote goes, so a password holding `/` or `?` is hidden too.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        match token.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED_USERINFO);
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(token),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_redacted_in_text() {
        for (text, want) in [
            ("https://user:pass@host/x", "https://***@host/x"),
            ("https://user@host", "https://***@host"),
            ("https://:pass@host:8443/a?b=c", "https://***@host:8443/a?b=c"),
            // a password with @, / or ? in it (badly encoded) still goes entirely
            ("http://u:p@ss/w?rd@host/p", "http://***@host/p"),
            (
                r#"config: "https://u:geheim@h/api/" is invalid; see https://docs.example/x"#,
                r#"config: "https://***@h/api/" is invalid; see https://docs.example/x"#,
            ),
            (
                "POST https://a:b@one/events failed, then http://c:d@two/ too",
                "POST https://***@one/events failed, then http://***@two/ too",
            ),
            // JSON-escaped inside a log line
            (
                r#"{"msg":"\"https://u:p@h/\""}"#,
                r#"{"msg":"\"https://***@h/\""}"#,
            ),
            ("no url here", "no url here"),
            ("https://host/path", "https://host/path"),
            ("ends with ://", "ends with ://"),
        ] {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn user_info_is_redacted_in_urls() {
        let u = url::Url::parse("https://zaaklink:s3cr%40t@zaken.example.nl/events").unwrap();
        assert_eq!(redact_url(&u), "https://***@zaken.example.nl/events");
        let u = url::Url::parse("https://zaken.example.nl/events").unwrap();
        assert_eq!(redact_url(&u), "https://zaken.example.nl/events");
        let u = url::Url::parse("http://only-user@127.0.0.1:8080/").unwrap();
        assert_eq!(redact_url(&u), "http://***@127.0.0.1:8080/");
    }
}
