//! The klantinteracties API over HTTP: the adapter of the [`OpenKlant`] port.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::{ApiRoot, ExpandedKlantcontact, OpenKlant, OpenKlantError, Page, MAX_PAGE_SIZE, ZAAK_LIST_QUERY};
use crate::link::{Klantcontact, Onderwerpobject};
use crate::secret::Secret;

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
