//! Reading both sides in full (I/O): Open Klant's zaak onderwerpobjecten (the list the resync
//! reads) and every ZaakObject of Open Zaak, side by side. Either read failing fails the
//! audit, naming the side: nothing is compared or repaired from a partial read.

use super::object::{self, Named};
use super::sides::{Expected, OpenKlantSide, OpenZaakSide, Relation};
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

/// One page of Open Klant's list (`page` from 1): the links it shows (by uuid), how many
/// zaak onderwerpobjecten it listed, and whether more pages follow.
pub async fn open_klant_page(
    klant: &dyn OpenKlant,
    root: &ApiRoot,
    page: u32,
    page_size: u32,
) -> Result<(Vec<(String, Expected)>, u64, bool), AuditError> {
    if page > MAX_OK_PAGES {
        return Err(AuditError::EndlessList(MAX_OK_PAGES));
    }
    let Some(p) = klant
        .zaak_onderwerpobjecten(page, page_size.clamp(1, MAX_PAGE_SIZE))
        .await?
    else {
        return Ok((Vec::new(), 0, false));
    };
    let mut links = Vec::new();
    for o in &p.results {
        let (Some(zaak), Some(uuid)) = (link::linked_zaak(o), object_uuid(root, &o.uuid, &o.url)) else {
            continue;
        };
        let e = Expected {
            zaak: zaak.to_owned(),
            url: o.url.clone(),
            label: None,
        };
        links.push((uuid, e));
    }
    let more = p.next.is_some() && !p.results.is_empty();
    Ok((links, p.results.len() as u64, more))
}

/// Every zaak onderwerpobject Open Klant lists, as the links it shows.
pub async fn open_klant(
    klant: &dyn OpenKlant,
    root: &ApiRoot,
    page_size: u32,
) -> Result<OpenKlantSide, AuditError> {
    let mut side = OpenKlantSide::default();
    for page in 1.. {
        let (links, listed, more) = open_klant_page(klant, root, page, page_size).await?;
        side.listed += listed;
        side.links.extend(links);
        if !more {
            break;
        }
    }
    Ok(side)
}

/// One page of Open Zaak's list (`page` from 1): the ZaakObjects naming an onderwerpobject
/// under `root` (malformed ones included; the others are not kept), how many it read, and
/// whether more pages follow.
pub async fn open_zaak_page(
    oz: &dyn ZaakObjecten,
    root: &ApiRoot,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Relation>, u64, bool), AuditError> {
    if page > MAX_PAGES {
        return Err(AuditError::OpenZaak(ZaakObjectenError::Failed {
            url: oz.root(),
            reason: format!("the list of zaakobjecten did not end within {MAX_PAGES} pages"),
        }));
    }
    let Some(p) = oz.page(page, page_size).await? else {
        return Ok((Vec::new(), 0, false));
    };
    let (read, more) = (p.results.len() as u64, p.next.is_some() && !p.results.is_empty());
    let kept = p
        .results
        .into_iter()
        .filter(|r| !matches!(object::classify(root, &r.object), Named::Elsewhere))
        .collect();
    Ok((kept, read, more))
}

/// Every ZaakObject of Open Zaak, keeping those that name an onderwerpobject under `root`.
pub async fn open_zaak(
    oz: &dyn ZaakObjecten,
    root: &ApiRoot,
    page_size: u32,
) -> Result<OpenZaakSide, AuditError> {
    let mut side = OpenZaakSide::default();
    for page in 1.. {
        let (kept, read, more) = open_zaak_page(oz, root, page, page_size).await?;
        side.read += read;
        for r in kept {
            side.add(root, r);
        }
        if !more {
            break;
        }
    }
    Ok(side)
}
