//! The Open Klant port (read the truth): what zaaklink asks Open Klant and what it answers.
//! Its HTTP adapter is [`http`]; the URL guard, [`root`]: only URLs under
//! `OPEN_KLANT_API_ROOT` are ever fetched, so the token never leaves for another host.

use async_trait::async_trait;

use crate::link::{Klantcontact, Onderwerpobject};

pub mod http;
pub mod root;

pub(crate) use http::error_chain;
pub use http::HttpOpenKlant;
pub use root::{ApiRoot, UrlRefused};

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
