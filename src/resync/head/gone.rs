//! The gone look (DESIGN §7a): which stored links left Open Klant's list, without a pass.
//!
//! A head poll whose count shows objects left the list (`Shrunk`) asks for a pass. When a
//! pass is already under way (started before the change: it may have read the deleted
//! object's page already, and a new pass can only start when it ends), the poll does not wait
//! for it: it reads the list's uuids (pages of Open Klant's largest size, no object reconciled)
//! and looks up each stored link the list did not show, as phase `stored` of a pass does (a
//! 404 gives its `zaak-ontkoppeld`; an object still there changes nothing). The pass request
//! stands as before: the pass after it still catches what a count cannot show.
//!
//! Exactly once: every look-up goes through the pipeline's per-object turn and conditional
//! write, as the running pass's, the webhook's and the next pass's do; whichever comes first
//! emits, the others find the link already gone.

use std::collections::HashSet;

use super::Why;
use crate::openklant::MAX_PAGE_SIZE;
use crate::pipeline::Outcome;
use crate::resync::checkpoint::{Checkpoint, Phase};
use crate::resync::Resync;
use crate::store::LinkRecord;
use crate::Error;

/// Stored links read per store page.
const STORE_PAGE: usize = 4 * MAX_PAGE_SIZE as usize;

/// Whether a poll does the gone look (pure): its count shrank, a pass is due, and the pass
/// in the checkpoint has not finished (it runs, or waits for its next run to continue it), so
/// the pass asked for cannot start until it ends.
pub fn look_due(why: Option<&Why>, due: bool, cp: Option<&Checkpoint>) -> bool {
    matches!(why, Some(Why::Shrunk { .. })) && due && cp.is_some_and(|c| c.phase != Phase::Done)
}

/// The look: the list's uuids, then the stored links store page by store page, each one the
/// list did not show looked up.
pub async fn look(resync: &Resync) -> Result<Outcome, Error> {
    let listed = listed_uuids(resync).await?;
    let store = &resync.app().store;
    let mut outcome = Outcome::default();
    let mut cursor: Option<String> = None;
    loop {
        let (records, next) = store.linked_page(cursor.as_deref(), STORE_PAGE).await?;
        let unlisted: Vec<LinkRecord> = records
            .into_iter()
            .filter(|r| !listed.contains(&r.onderwerpobject))
            .collect();
        if !unlisted.is_empty() {
            outcome.add(resync.work_unlisted(unlisted).await?);
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(outcome),
        }
    }
}

/// Every uuid on Open Klant's list of zaak onderwerpobjecten, page by page. An object that a
/// delete meanwhile pulls across a page boundary is missed here: it is looked up, and found.
async fn listed_uuids(resync: &Resync) -> Result<HashSet<String>, Error> {
    let mut uuids = HashSet::new();
    let mut page = 1;
    loop {
        let Some(p) = resync
            .app()
            .klant
            .zaak_onderwerpobjecten(page, MAX_PAGE_SIZE)
            .await?
        else {
            return Ok(uuids);
        };
        let last = p.results.is_empty() || p.next.as_deref().is_none_or(str::is_empty);
        uuids.extend(p.results.iter().filter_map(|o| resync.uuid_of(o)));
        if last {
            return Ok(uuids);
        }
        page += 1;
    }
}
