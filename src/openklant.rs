//! The Open Klant port (read the truth) and its HTTP adapter. The URL guard lives here: only
//! URLs under `OPEN_KLANT_API_ROOT` are ever fetched, so the token never leaves for another host.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use url::Url;

use crate::link::{Klantcontact, Onderwerpobject};
use crate::secret::Secret;

/// `OPEN_KLANT_API_ROOT`, e.g. `https://klant.example.nl/klantinteracties/api/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot(Url);

/// A URL the guard refused; carries no secret, names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not an Open Klant URL under OPEN_KLANT_API_ROOT {root}: {why}")]
pub struct UrlRefused {
    pub url: String,
    pub root: String,
    pub why: &'static str,
}

impl ApiRoot {
    /// Parse and check the root: http(s), a host, no userinfo, query or fragment.
    /// Errors show the value with any user info redacted (`https://***@host/`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = &crate::secret::redact(raw);
        let mut url = Url::parse(raw.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{s:?} must start with https:// (or http:// for local use)"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{s:?} has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{s:?} must not contain user info; the token goes in OPEN_KLANT_API_TOKEN"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{s:?} must not have a query or fragment"));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(ApiRoot(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Resolve a path below the root (`onderwerpobjecten?…`).
    pub fn join(&self, rel: &str) -> Url {
        self.0
            .join(rel)
            .expect("a relative path joins onto an http(s) root")
    }

    /// Accept `url` only when it lies under the root: same scheme, host and port, no user
    /// info, path below the root's after normalisation (`..`, `%2e`, `\` are resolved by the
    /// WHATWG parser first, so they cannot climb out).
    pub fn check(&self, url: &str) -> Result<Url, UrlRefused> {
        let refuse = |why| UrlRefused {
            url: crate::secret::redact(&url.chars().take(200).collect::<String>()),
            root: self.0.to_string(),
            why,
        };
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refuse("it contains white space or control characters"));
        }
        let parsed = Url::parse(url).map_err(|_| refuse("it is not an absolute URL"))?;
        if parsed.scheme() != self.0.scheme() {
            return Err(refuse("other scheme"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("it carries user info"));
        }
        if parsed.host() != self.0.host() || parsed.port_or_known_default() != self.0.port_or_known_default()
        {
            return Err(refuse("other host or port"));
        }
        if !parsed.path().starts_with(self.0.path()) {
            return Err(refuse("its path is outside the API root"));
        }
        if parsed.fragment().is_some() {
            return Err(refuse("it has a fragment"));
        }
        Ok(parsed)
    }

    /// Accept `url` only as `{root}{collection}/{uuid}` (optionally with a trailing slash)
    /// and return the canonical uuid.
    pub fn resource_uuid(&self, url: &str, collection: &str) -> Result<(Url, String), UrlRefused> {
        let parsed = self.check(url)?;
        let refuse = |why| UrlRefused {
            url: crate::secret::redact(&url.chars().take(200).collect::<String>()),
            root: self.0.to_string(),
            why,
        };
        if parsed.query().is_some() {
            return Err(refuse("a resource URL has no query"));
        }
        let rest = &parsed.path()[self.0.path().len()..];
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let Some((coll, id)) = rest.split_once('/') else {
            return Err(refuse("it is not a resource URL ({collection}/{uuid})"));
        };
        if coll != collection {
            return Err(refuse("it names another kind of resource"));
        }
        let uuid = uuid::Uuid::parse_str(id).map_err(|_| refuse("its last segment is not a uuid"))?;
        if id.len() != 36 {
            return Err(refuse("its last segment is not a hyphenated uuid"));
        }
        Ok((parsed, uuid.to_string()))
    }
}

/// Why Open Klant could not tell us the truth. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum OpenKlantError {
    #[error(transparent)]
    Refused(#[from] UrlRefused),
    #[error("Open Klant did not answer GET {url} within {timeout_ms} ms; it will be retried (check Open Klant's health or raise OPEN_KLANT_TIMEOUT_MS)")]
    Timeout { url: String, timeout_ms: u64 },
    #[error(
        "could not reach Open Klant for GET {url}: {reason} (check OPEN_KLANT_API_ROOT and the network)"
    )]
    Unreachable { url: String, reason: String },
    #[error("Open Klant refused GET {url} with {status}: check OPEN_KLANT_API_TOKEN and the token's rights on the klantinteracties API")]
    Unauthorized { url: String, status: u16 },
    #[error("Open Klant answered GET {url} with {status}; it will be retried")]
    Status { url: String, status: u16 },
    #[error("Open Klant answered GET {url} with a body zaaklink cannot read: {reason}")]
    Malformed { url: String, reason: String },
}

/// One page of a paginated list (`{count, next, previous, results}`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Page<T> {
    /// How many objects the whole list holds now (Open Klant counts on every page).
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
}

/// A klantcontact read with `expand=gingOverOnderwerpobjecten`: its onderwerpobjecten in the
/// same answer (under `_expand`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExpandedKlantcontact {
    #[serde(flatten)]
    pub klantcontact: Klantcontact,
    #[serde(rename = "_expand", default)]
    expand: Expand,
    #[serde(skip)]
    pub objects: Vec<Onderwerpobject>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expand {
    #[serde(default)]
    ging_over_onderwerpobjecten: Option<Vec<Onderwerpobject>>,
}

impl ExpandedKlantcontact {
    /// Build from a klantcontact and its objects (fakes, tests).
    pub fn new(klantcontact: Klantcontact, objects: Vec<Onderwerpobject>) -> Self {
        ExpandedKlantcontact {
            klantcontact,
            expand: Expand::default(),
            objects,
        }
    }

    fn settle(mut self) -> Self {
        self.objects = self.expand.ging_over_onderwerpobjecten.take().unwrap_or_default();
        self
    }
}

/// What zaaklink reads from Open Klant. `Ok(None)` means the object is gone (404/410).
#[async_trait]
pub trait OpenKlant: Send + Sync {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError>;
    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError>;
    /// The klantcontact with its onderwerpobjecten, in one request
    /// (`?expand=gingOverOnderwerpobjecten`).
    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError>;
    /// Page `page` (1-based) of the onderwerpobjecten that name a zaak by uuid
    /// ([`ZAAK_LIST_QUERY`]), `page_size` a page (Open Klant caps it at 500), newest first.
    /// `Ok(None)` past the last page (Open Klant answers 404 there).
    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError>;
}

/// The filters of the zaak list: only documented ones (Open Klant answers 400 to any other
/// query parameter).
pub const ZAAK_LIST_QUERY: &str =
    "onderwerpobjectidentificatorCodeObjecttype=zaak&onderwerpobjectidentificatorCodeSoortObjectId=uuid";

/// The largest page Open Klant serves.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The klantinteracties API over HTTP (rustls), `Authorization: Token …`, with timeouts.
pub struct HttpOpenKlant {
    client: reqwest::Client,
    root: ApiRoot,
    token: Secret,
    timeout: Duration,
}

impl HttpOpenKlant {
    pub fn new(root: ApiRoot, token: Secret, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zaaklink/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a rustls reqwest client builds");
        HttpOpenKlant {
            client,
            root,
            token,
            timeout,
        }
    }

    async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<Option<T>, OpenKlantError> {
        let target = self.root.check(url)?;
        let shown = target.to_string();
        let resp = self
            .client
            .get(target)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Token {}", self.token.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, e))?;
        let status = resp.status().as_u16();
        match status {
            404 | 410 => return Ok(None),
            401 | 403 => return Err(OpenKlantError::Unauthorized { url: shown, status }),
            200..=299 => {}
            _ => return Err(OpenKlantError::Status { url: shown, status }),
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(&shown, e))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| OpenKlantError::Malformed {
                url: shown,
                reason: e.to_string(),
            })
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> OpenKlantError {
        if e.is_timeout() {
            OpenKlantError::Timeout {
                url: url.to_string(),
                timeout_ms: self.timeout.as_millis() as u64,
            }
        } else {
            OpenKlantError::Unreachable {
                url: url.to_string(),
                reason: error_chain(e),
            }
        }
    }
}

#[async_trait]
impl OpenKlant for HttpOpenKlant {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.get(url).await
    }

    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.get(url).await
    }

    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        let mut target = self.root.check(url)?;
        target.set_query(Some("expand=gingOverOnderwerpobjecten"));
        Ok(self
            .get::<ExpandedKlantcontact>(target.as_str())
            .await?
            .map(ExpandedKlantcontact::settle))
    }

    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        let url = self.root.join(&format!(
            "onderwerpobjecten?{ZAAK_LIST_QUERY}&pageSize={}&page={}",
            page_size.clamp(1, MAX_PAGE_SIZE),
            page.max(1)
        ));
        self.get(url.as_str()).await
    }
}

/// A transport error with its causes, without the URL (the caller names it, redacted) and
/// redacted; reqwest never prints headers.
pub(crate) fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    crate::secret::redact(&reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://klant.example.nl/klantinteracties/api/v1/";
    const U: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";

    #[test]
    fn root_is_validated() {
        assert!(ApiRoot::parse(ROOT).is_ok());
        assert_eq!(
            ApiRoot::parse("https://klant.example.nl/klantinteracties/api/v1")
                .unwrap()
                .as_str(),
            ROOT
        );
        for bad in [
            "klant.example.nl/api",
            "ftp://klant.example.nl/api/",
            "https://user:pw@klant.example.nl/api/",
            "https://klant.example.nl/api/?x=1",
            "",
        ] {
            assert!(ApiRoot::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guard_accepts_only_urls_under_the_root() {
        let root = ApiRoot::parse(ROOT).unwrap();
        let ok = format!("{ROOT}onderwerpobjecten/{U}");
        assert_eq!(root.resource_uuid(&ok, "onderwerpobjecten").unwrap().1, U);
        assert_eq!(
            root.resource_uuid(&format!("{ok}/"), "onderwerpobjecten")
                .unwrap()
                .1,
            U
        );
        assert_eq!(
            root.resource_uuid(
                &ok.replace("klant.example.nl", "KLANT.example.nl:443"),
                "onderwerpobjecten"
            )
            .unwrap()
            .1,
            U
        );
        let refused = [
            format!("https://evil.example/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("http://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl:8443/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl@evil.example/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://x:y@klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/../../admin/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/%2e%2e/%2e%2e/x/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/..\\..\\{U}"),
            format!("https://klant.example.nl/other/api/v1/onderwerpobjecten/{U}"),
            format!("https://93.184.216.34/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://[::1]/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/klantcontacten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}?x=1"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}#f"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}/extra"),
            format!(
                "https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{}",
                U.replace('-', "")
            ),
            "https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/not-a-uuid".to_string(),
            format!("file:///klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("javascript:alert(1)//klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("//klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!(" https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1onderwerpobjecten/{U}"),
        ];
        for url in refused {
            assert!(root.resource_uuid(&url, "onderwerpobjecten").is_err(), "{url}");
        }
    }
}
