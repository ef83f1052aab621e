//! Reading both sides in full (I/O): Open Klant's zaak onderwerpobjecten (the list the resync
//! reads) and every ZaakObject of Open Zaak, side by side. Either read failing fails the
//! audit, naming the side: nothing is compared or repaired from a partial read.

use super::sides::{Expected, OpenKlantSide, OpenZaakSide};
use super::zaakobjecten::{ZaakObjecten, ZaakObjectenError, MAX_PAGES};
use crate::link;
use crate::openklant::{ApiRoot, OpenKlant, OpenKlantError, MAX_PAGE_SIZE};
use crate::store::StoreError;

/// Why the audit could not finish; every variant names the side (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("Open Klant could not be read: {0}; nothing was compared or repaired")]
    OpenKlant(#[from] OpenKlantError),
    #[error("Open Zaak could not be read: {0}; nothing was compared or repaired")]
    OpenZaak(#[from] ZaakObjectenError),
    #[error("zaaklink's state could not be read: {0}; nothing was compared or repaired")]
    State(#[from] StoreError),
    #[error("Open Klant could not be read: its list of zaak onderwerpobjecten did not end within {0} pages; nothing was compared or repaired")]
    EndlessList(u32),
}

impl AuditError {
    /// The side that failed, as the JSON report names it.
    pub fn side(&self) -> &'static str {
        match self {
            AuditError::OpenKlant(_) | AuditError::EndlessList(_) => "openKlant",
            AuditError::OpenZaak(_) => "openZaak",
            AuditError::State(_) => "state",
        }
    }
}

/// At most this many pages of Open Klant's list (5,000,000 objects at 500 a page).
const MAX_OK_PAGES: u32 = 10_000;

/// The onderwerpobject's uuid as zaaklink keys it (canonical lower case): its `uuid`, else the
/// last segment of its URL under the root.
pub fn object_uuid(root: &ApiRoot, uuid: &str, url: &str) -> Option<String> {
    uuid::Uuid::parse_str(uuid)
        .ok()
        .map(|u| u.to_string())
        .or_else(|| root.resource_uuid(url, "onderwerpobjecten").ok().map(|(_, u)| u))
}

/// Every zaak onderwerpobject Open Klant lists, as the links it shows.
pub async fn open_klant(
    klant: &dyn OpenKlant,
    root: &ApiRoot,
    page_size: u32,
) -> Result<OpenKlantSide, AuditError> {
    let mut side = OpenKlantSide::default();
    let size = page_size.clamp(1, MAX_PAGE_SIZE);
    for page in 1..=MAX_OK_PAGES {
        let Some(p) = klant.zaak_onderwerpobjecten(page, size).await? else {
            return Ok(side);
        };
        for o in &p.results {
            side.listed += 1;
            let (Some(zaak), Some(uuid)) = (link::linked_zaak(o), object_uuid(root, &o.uuid, &o.url)) else {
                continue;
            };
            side.links.insert(
                uuid,
                Expected {
                    zaak: zaak.to_owned(),
                    url: o.url.clone(),
                    label: None,
                },
            );
        }
        if p.next.is_none() || p.results.is_empty() {
            return Ok(side);
        }
    }
    Err(AuditError::EndlessList(MAX_OK_PAGES))
}

/// Every ZaakObject of Open Zaak, keeping those that name an onderwerpobject under `root`.
pub async fn open_zaak(
    oz: &dyn ZaakObjecten,
    root: &ApiRoot,
    page_size: u32,
) -> Result<OpenZaakSide, AuditError> {
    let mut side = OpenZaakSide::default();
    for page in 1..=MAX_PAGES {
        let Some(p) = oz.page(page, page_size).await? else {
            return Ok(side);
        };
        let empty = p.results.is_empty();
        for r in p.results {
            side.add(root, r);
        }
        if p.next.is_none() || empty {
            return Ok(side);
        }
    }
    Err(AuditError::OpenZaak(ZaakObjectenError::Failed {
        url: oz.root(),
        reason: format!("the list of zaakobjecten did not end within {MAX_PAGES} pages"),
    }))
}
