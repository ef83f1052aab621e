//! The Open Zaak port of the audit and its HTTP adapter: `GET {root}/zaken/api/v1/zaakobjecten`
//! with a fresh ZGW JWT of the Applicatie `deliver` uses (it needs `zaken.lezen`), paginated
//! (`pageSize` up to 500; a page past the end answers 404), bounded against huge or hostile
//! answers: at most [`MAX_PAGE_BYTES`] a page, [`MAX_PAGES`] pages, `next` links never
//! followed (only page numbers under the configured root are requested).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use url::Url;

use super::sides::Relation;
use crate::deliver::jwt::bearer;
use crate::deliver::OpenZaakCredentials;
use crate::openklant::Page;

/// The largest page Open Zaak 1.30 serves (`pageSize` is honoured up to 500).
pub const MAX_PAGE_SIZE: u32 = 500;
/// At most this many bytes of one answer are read; a longer one is a failed read.
pub const MAX_PAGE_BYTES: usize = 8 << 20;
/// At most this many pages are read in one listing (5,000,000 ZaakObjects at 500 a page).
pub const MAX_PAGES: u32 = 10_000;
/// At most this many pages of one object's ZaakObjects (the second look).
const MAX_OBJECT_PAGES: u32 = 20;
/// Attempts per page when Open Zaak is busy (429, 5xx) or does not answer.
const ATTEMPTS: u32 = 4;

/// Why Open Zaak's zaakobjecten could not be read. Never carries the secret or the JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZaakObjectenError {
    #[error("Open Zaak refused to list zaakobjecten (HTTP {status}) to the Applicatie with client id {client_id:?}: it lacks the scope zaken.lezen (or its client id or secret is wrong). Give that Applicatie zaken.lezen on the zaaktypen of the zaken zaaklink links, with maximale vertrouwelijkheidaanduiding zeer_geheim (docs/DEPLOY.md, \"The Open Zaak Applicatie\")")]
    Refused { status: u16, client_id: String },
    #[error("could not read Open Zaak's zaakobjecten (GET {url}): {reason}")]
    Failed { url: String, reason: String },
}

/// What the audit reads from Open Zaak.
#[async_trait]
pub trait ZaakObjecten: Send + Sync {
    /// Page `page` (1-based) of every ZaakObject, `page_size` a page (at most
    /// [`MAX_PAGE_SIZE`]). `Ok(None)` past the last page (Open Zaak answers 404 there).
    async fn page(&self, page: u32, page_size: u32) -> Result<Option<Page<Relation>>, ZaakObjectenError>;
    /// Every ZaakObject whose `object` is exactly `object` (`?object=`, all its pages).
    async fn of_object(&self, object: &str) -> Result<Vec<Relation>, ZaakObjectenError>;
    /// Open Zaak's root, for the report.
    fn root(&self) -> String;
}

/// One ZaakObject as Open Zaak lists it (only the fields the audit reads; absent = empty).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Row {
    url: String,
    zaak: String,
    object: String,
    relatieomschrijving: String,
}

impl From<Row> for Relation {
    fn from(r: Row) -> Self {
        Relation {
            url: r.url,
            zaak: r.zaak,
            object: r.object,
            label: r.relatieomschrijving,
        }
    }
}

/// The zaken API of Open Zaak over HTTP (rustls), no redirects followed.
pub struct HttpZaakObjecten {
    client: reqwest::Client,
    list: Url,
    credentials: OpenZaakCredentials,
}

impl HttpZaakObjecten {
    /// `root`: Open Zaak's base URL (as `OPEN_ZAAK_ROOT`; `{root}/events` also names it).
    pub fn new(root: &str, credentials: OpenZaakCredentials, timeout: Duration) -> Result<Self, String> {
        let root = crate::deliver::sink::open_zaak_root(root).map_err(|e| e.to_string())?;
        crate::deliver::events_url(&root).map_err(|e| e.to_string())?;
        let mut list = Url::parse(&root).map_err(|e| e.to_string())?;
        let path = format!("{}/zaken/api/v1/zaakobjecten", list.path().trim_end_matches('/'));
        list.set_path(&path);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zaaklink-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpZaakObjecten {
            client,
            list,
            credentials,
        })
    }

    /// One GET, retried when Open Zaak is busy or does not answer. `Ok(None)`: 404.
    async fn get(&self, url: &Url) -> Result<Option<Page<Relation>>, ZaakObjectenError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url).await {
                Err((e, true)) if attempt + 1 < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "Open Zaak busy; backing off");
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    attempt += 1;
                }
                other => return other.map_err(|(e, _)| e),
            }
        }
    }

    /// (error, whether another attempt may succeed)
    async fn get_once(&self, url: &Url) -> Result<Option<Page<Relation>>, (ZaakObjectenError, bool)> {
        let shown = crate::secret::redact_url(url);
        let failed = |reason: String, again: bool| {
            (
                ZaakObjectenError::Failed {
                    url: shown.clone(),
                    reason,
                },
                again,
            )
        };
        let auth = bearer(&self.credentials).map_err(|e| failed(e.to_string(), false))?;
        let mut resp = self
            .client
            .get(url.clone())
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .header("Accept-Crs", "EPSG:4326")
            .header("Content-Crs", "EPSG:4326")
            .send()
            .await
            .map_err(|e| failed(describe(e), true))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            404 => return Ok(None),
            401 | 403 => {
                return Err((
                    ZaakObjectenError::Refused {
                        status,
                        client_id: self.credentials.client_id.clone(),
                    },
                    false,
                ))
            }
            408 | 429 | 500.. => return Err(failed(format!("Open Zaak answered {status}"), true)),
            _ => {
                return Err(failed(
                    format!("Open Zaak answered {status} (is the Open Zaak root its base URL?)"),
                    false,
                ))
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(describe(e), true))? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(failed(
                    format!("the answer is longer than {MAX_PAGE_BYTES} bytes; not read"),
                    false,
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let page: Page<Row> = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("the answer is no page of zaakobjecten: {e}"), false))?;
        Ok(Some(Page {
            count: page.count,
            next: page.next,
            results: page.results.into_iter().map(Relation::from).collect(),
        }))
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
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

#[async_trait]
impl ZaakObjecten for HttpZaakObjecten {
    async fn page(&self, page: u32, page_size: u32) -> Result<Option<Page<Relation>>, ZaakObjectenError> {
        let mut url = self.list.clone();
        url.query_pairs_mut()
            .append_pair("page", &page.max(1).to_string())
            .append_pair("pageSize", &page_size.clamp(1, MAX_PAGE_SIZE).to_string());
        self.get(&url).await
    }

    async fn of_object(&self, object: &str) -> Result<Vec<Relation>, ZaakObjectenError> {
        let mut out = Vec::new();
        for page in 1..=MAX_OBJECT_PAGES {
            let mut url = self.list.clone();
            url.query_pairs_mut()
                .append_pair("object", object)
                .append_pair("page", &page.to_string())
                .append_pair("pageSize", &MAX_PAGE_SIZE.to_string());
            let Some(p) = self.get(&url).await? else {
                return Ok(out);
            };
            // a server that ignored the filter is still read right
            out.extend(p.results.into_iter().filter(|r| r.object == object));
            if p.next.is_none() {
                return Ok(out);
            }
        }
        Err(ZaakObjectenError::Failed {
            url: crate::secret::redact_url(&self.list),
            reason: format!("more than {MAX_OBJECT_PAGES} pages of ZaakObjects for one object"),
        })
    }

    fn root(&self) -> String {
        let s = self.list.as_str();
        s.strip_suffix("/zaken/api/v1/zaakobjecten")
            .unwrap_or(s)
            .to_owned()
    }
}
