//! The HTTP calls to Open Zaak: `POST {root}/events` (structured-mode CloudEvent, fresh ZGW
//! JWT) and, when read access is configured, `GET {root}/zaken/api/v1/zaakobjecten?zaak=`.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use url::Url;

use super::jwt::bearer;
use super::{ConfigError, DeliverError, OpenZaakCredentials};

/// The exact media type Open Zaak accepts for a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// At most this much of Open Zaak's answer body is logged or put into an error.
pub const MAX_LOGGED_BODY: usize = 2048;

/// At most this many pages of zaakobjecten are read for one check.
const MAX_PAGES: usize = 20;

/// `{root}/events`, with or without a trailing slash on the root.
pub fn events_url(root: &str) -> Result<Url, ConfigError> {
    root_path(root, "events")
}

/// `{root}/zaken/api/v1/<rest>`.
fn zaken_api(root: &Url, rest: &str) -> Url {
    let mut url = root.clone();
    let path = format!("{}/zaken/api/v1/{rest}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

fn root_path(root: &str, rest: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "OPEN_ZAAK_ROOT",
        reason,
    };
    let raw = root.trim();
    // as errors show it: user info redacted
    let trimmed = &crate::secret::redact(raw);
    if raw.is_empty() {
        return Err(ConfigError::Missing {
            name: "OPEN_ZAAK_ROOT",
            fix: "set it to Open Zaak's base URL, e.g. https://zaken.example.nl (events go to {root}/events)",
        });
    }
    let mut url = Url::parse(raw).map_err(|e| invalid(format!("{trimmed:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("{trimmed:?}: must be an http(s) URL")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "{trimmed:?}: must not contain user info (`user:password@`); Open Zaak authenticates zaaklink with a JWT from OPEN_ZAAK_CLIENT_ID and OPEN_ZAAK_SECRET: remove the user info from the URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{trimmed:?}: must not have a query or fragment")));
    }
    let path = format!("{}/{rest}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// What Open Zaak's answer means for delivery (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx: accepted.
    Success,
    /// 5xx, 408, 429: Open Zaak is down or busy; retried with backoff.
    Retry,
    /// Any other answer (4xx: bad JWT 403, content type 415, unparsable 400, ...): a
    /// configuration error that no retry fixes; parked at once and alarmed.
    Park,
}

pub fn classify(status: u16) -> AnswerClass {
    match status {
        200..=299 => AnswerClass::Success,
        408 | 429 | 500..=599 => AnswerClass::Retry,
        _ => AnswerClass::Park,
    }
}

/// How one POST ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostResult {
    Answered {
        status: u16,
        body: String,
    },
    /// The request never left (connection refused, DNS): Open Zaak saw nothing.
    NotSent(String),
    /// Sent, but no answer (timeout, connection dropped): Open Zaak may have applied it.
    Unknown(String),
}

/// Open Zaak's endpoints with the Applicatie's credentials.
pub struct OpenZaakClient {
    http: reqwest::Client,
    root: Url,
    events_url: Url,
    credentials: OpenZaakCredentials,
}

impl OpenZaakClient {
    pub fn new(root: &str, credentials: OpenZaakCredentials, timeout: Duration) -> Result<Self, ConfigError> {
        let events_url = events_url(root)?;
        let root = Url::parse(root.trim()).map_err(|e| ConfigError::Invalid {
            name: "OPEN_ZAAK_ROOT",
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("zaaklink-deliver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid {
                name: "HTTP client",
                reason: e.to_string(),
            })?;
        Ok(OpenZaakClient {
            http,
            root,
            events_url,
            credentials,
        })
    }

    pub fn events_url(&self) -> &Url {
        &self.events_url
    }

    /// POST one structured-mode CloudEvent.
    pub async fn post_event(&self, body: Vec<u8>) -> Result<PostResult, DeliverError> {
        let auth = bearer(&self.credentials)?;
        let sent = self
            .http
            .post(self.events_url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(CLOUDEVENTS_CONTENT_TYPE))
            .header(AUTHORIZATION, auth)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Ok(PostResult::NotSent(describe(&e))),
            Err(e) => return Ok(PostResult::Unknown(describe(&e))),
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(b) => truncate(&String::from_utf8_lossy(&b), MAX_LOGGED_BODY),
            Err(e) => {
                return Ok(PostResult::Unknown(format!(
                    "answer {status} cut off: {}",
                    describe(&e)
                )))
            }
        };
        Ok(PostResult::Answered { status, body })
    }

    /// The zaak URL of `data.zaak`: a URL as is, `urn:uuid:<u>` as `{root}/zaken/api/v1/zaken/<u>`.
    pub fn zaak_url(&self, zaak: &str) -> String {
        match zaak.strip_prefix("urn:uuid:") {
            Some(u) => zaken_api(&self.root, &format!("zaken/{u}")).to_string(),
            None => zaak.to_owned(),
        }
    }

    /// The zaken Open Zaak relates to `link_to`: one zaak URL per ZaakObject whose `object`
    /// is `link_to` (`GET {root}/zaken/api/v1/zaakobjecten?object=<link_to>`, every page; the
    /// `object` is also checked here, so a server that ignored the filter is still read right).
    /// Open Zaak lists only the ZaakObjects of zaken whose zaaktype and vertrouwelijkheid the
    /// Applicatie may read (`zaken.lezen`, DEPLOY.md).
    pub async fn relations(&self, link_to: &str) -> Result<Vec<String>, ReadError> {
        let mut url = zaken_api(&self.root, "zaakobjecten");
        url.query_pairs_mut().append_pair("object", link_to);
        let mut next = Some(url.to_string());
        let mut zaken = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some(page_url) = next.take() else {
                return Ok(zaken);
            };
            let auth = bearer(&self.credentials).map_err(|e| ReadError::Failed(e.to_string()))?;
            let resp = zaken_read(&self.http, &page_url, auth)
                .send()
                .await
                .map_err(|e| ReadError::Failed(format!("GET zaakobjecten: {}", describe(&e))))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| {
                ReadError::Failed(format!(
                    "GET zaakobjecten answered {status}, cut off: {}",
                    describe(&e)
                ))
            })?;
            match status {
                200..=299 => {}
                401 | 403 => {
                    return Err(ReadError::Refused {
                        status,
                        body: truncate(&text, 500),
                    })
                }
                408 | 429 | 500.. => {
                    return Err(ReadError::Failed(format!(
                        "GET zaakobjecten answered {status}: {}",
                        truncate(&text, 500)
                    )))
                }
                _ => {
                    return Err(ReadError::Unusable(format!(
                        "GET zaakobjecten answered {status}: {} (is OPEN_ZAAK_ROOT Open Zaak's base URL?)",
                        truncate(&text, 500)
                    )))
                }
            }
            let body: Value = serde_json::from_str(&text).map_err(|e| {
                ReadError::Unusable(format!("GET zaakobjecten answered {status}, no JSON: {e}"))
            })?;
            let results = body
                .get("results")
                .and_then(Value::as_array)
                .or_else(|| body.as_array())
                .cloned()
                .unwrap_or_default();
            zaken.extend(
                results
                    .iter()
                    .filter(|z| z.get("object").and_then(Value::as_str) == Some(link_to))
                    .filter_map(|z| z.get("zaak").and_then(Value::as_str).map(str::to_owned)),
            );
            next = body.get("next").and_then(Value::as_str).map(str::to_owned);
        }
        Err(ReadError::Failed(format!(
            "GET zaakobjecten: more than {MAX_PAGES} pages for one object"
        )))
    }

    /// Whether `zaak_url` (as Open Zaak lists it) is the zaak of `data.zaak` (`urn:uuid:<u>`
    /// or a URL): the same URL, or the same uuid as its last path segment.
    pub fn same_zaak(&self, zaak_url: &str, zaak: &str) -> bool {
        let last = |s: &str| {
            s.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_owned()
        };
        zaak_url == self.zaak_url(zaak) || last(zaak_url) == last(&self.zaak_url(zaak))
    }
}

/// A GET of the zaken API as Open Zaak wants it: the JWT, JSON, and the `Accept-Crs` /
/// `Content-Crs` headers its geo-aware endpoints demand (also the audit's reads).
pub(crate) fn zaken_read(http: &reqwest::Client, url: &str, auth: HeaderValue) -> reqwest::RequestBuilder {
    http.get(url)
        .header(AUTHORIZATION, auth)
        .header(ACCEPT, "application/json")
        .header("Accept-Crs", "EPSG:4326")
        .header("Content-Crs", "EPSG:4326")
}

/// Why the zaakobjecten read gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// 401/403: the Applicatie may not read zaken (no `zaken.lezen`); no retry helps.
    Refused { status: u16, body: String },
    /// Any other 4xx or an answer that is no list: a configuration error; no retry helps.
    Unusable(String),
    /// Timeout, connection, 5xx/408/429: Open Zaak is unavailable now; retried later.
    Failed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Refused { status, body } => write!(
                f,
                "GET zaakobjecten answered {status}: {body}; the Open Zaak Applicatie lacks the scope zaken.lezen"
            ),
            ReadError::Unusable(s) | ReadError::Failed(s) => f.write_str(s),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else {
        // without the URL (the caller names it, redacted) and without any header
        let mut s = e.to_string();
        if let Some(url) = e.url() {
            s = s.replace(url.as_str(), "");
        }
        crate::secret::redact(&s)
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_root_with_user_info_is_refused_with_the_fix_and_without_the_password() {
        for root in [
            "https://zaaklink:geheim-pw@zaken.example.nl",
            "https://zaaklink@zaken.example.nl/",
            "https://:geheim-pw@zaken.example.nl/open-zaak/",
        ] {
            let e = events_url(root).unwrap_err().to_string();
            assert!(e.contains("OPEN_ZAAK_ROOT"), "{e}");
            assert!(e.contains("must not contain user info"), "{e}");
            assert!(
                e.contains("OPEN_ZAAK_CLIENT_ID") && e.contains("remove the user info"),
                "{e}"
            );
            assert!(e.contains("***@zaken.example.nl"), "{e}");
            assert!(!e.contains("geheim-pw") && !e.contains("zaaklink@"), "{e}");
        }
    }

    #[test]
    fn answers_are_classified() {
        for (status, want) in [
            (200, AnswerClass::Success),
            (202, AnswerClass::Success),
            (204, AnswerClass::Success),
            (408, AnswerClass::Retry),
            (429, AnswerClass::Retry),
            (500, AnswerClass::Retry),
            (502, AnswerClass::Retry),
            (503, AnswerClass::Retry),
            (400, AnswerClass::Park),
            (401, AnswerClass::Park),
            (403, AnswerClass::Park),
            (404, AnswerClass::Park),
            (415, AnswerClass::Park),
            (301, AnswerClass::Park),
        ] {
            assert_eq!(classify(status), want, "{status}");
        }
    }

    #[test]
    fn zaak_urls() {
        let c = OpenZaakClient::new(
            "https://oz.example/base/",
            OpenZaakCredentials::new("a", "b"),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            c.zaak_url("urn:uuid:1234"),
            "https://oz.example/base/zaken/api/v1/zaken/1234"
        );
        assert_eq!(c.zaak_url("https://x/zaken/1"), "https://x/zaken/1");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
