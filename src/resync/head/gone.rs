//! The list look (DESIGN §7a): which stored links left Open Klant's list, or are listed with
//! another zaak now, without a pass.
//!
//! - A head poll whose count shows objects left the list (`Shrunk`) asks for a pass. When a
//!   pass is already under way (started before the change: it may have read the deleted
//!   object's page already, and a new pass can only start when it ends), the poll does not
//!   wait for it.
//! - A poll of a burst (`Burst`, `BurstSettled`): the announcements of changes made meanwhile
//!   queue behind the burst's own, and the passes it asks for work the burst's new objects
//!   (newest first, at Open Zaak's pace) before they reach older ones.
//!
//! Either poll reads the list (pages of Open Klant's largest size, no object reconciled) and
//! looks up each stored link the list did not show (as phase `stored` of a pass does: a 404
//! gives its `zaak-ontkoppeld`) or shows linking another zaak (a relink: the look-up gives
//! its events). Objects the store does not know yet (a burst's) are left to the head poll and
//! the pass. The pass request stands as before: the pass after it still catches what a list
//! look cannot (an arrival, a changed klantcontact).
//!
//! Exactly once: every look-up goes through the pipeline's per-object turn and conditional
//! write, as the running pass's, the webhook's and the next pass's do; whichever comes first
//! emits, the others find the link already as it is.

use std::collections::HashMap;

use super::Why;
use crate::link;
use crate::openklant::MAX_PAGE_SIZE;
use crate::pipeline::Outcome;
use crate::resync::checkpoint::{Checkpoint, Phase};
use crate::resync::Resync;
use crate::store::LinkRecord;
use crate::Error;

/// Stored links read per store page.
const STORE_PAGE: usize = 4 * MAX_PAGE_SIZE as usize;

/// Whether a poll does the list look (pure): a poll of a burst always (`Burst`,
/// `BurstSettled`, or any poll while `in_burst`: the last poll's burst was open, its passes
/// work the burst's objects first); one whose count shrank when a pass is due and the pass in
/// the checkpoint has not finished (it runs, or waits for its next run to continue it), so
/// the pass asked for cannot start until it ends.
pub fn look_due(why: Option<&Why>, due: bool, cp: Option<&Checkpoint>, in_burst: bool) -> bool {
    match why {
        Some(Why::Burst | Why::BurstSettled) => true,
        Some(Why::Shrunk { .. }) => in_burst || due && cp.is_some_and(|c| c.phase != Phase::Done),
        _ => false,
    }
}

/// The look: the list's uuids, then the stored links store page by store page, each one the
/// list did not show looked up.
pub async fn look(resync: &Resync) -> Result<Outcome, Error> {
    let listed = listed_zaken(resync).await?;
    let store = &resync.app().store;
    let mut outcome = Outcome::default();
    let mut cursor: Option<String> = None;
    loop {
        let (records, next) = store.linked_page(cursor.as_deref(), STORE_PAGE).await?;
        let unlisted: Vec<LinkRecord> = records
            .into_iter()
            .filter(|r| gone_or_moved(r, &listed))
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

/// Whether a stored link is not on the list, or is listed with another zaak (pure).
fn gone_or_moved(r: &LinkRecord, listed: &HashMap<String, Option<String>>) -> bool {
    match (listed.get(&r.onderwerpobject), r.link.as_ref()) {
        (None, _) => true,
        (Some(zaak), Some(l)) => zaak.as_deref() != Some(l.zaak.as_str()),
        (Some(_), None) => false,
    }
}

/// Every uuid on Open Klant's list of zaak onderwerpobjecten with the zaak it links, page by
/// page. An object that a delete meanwhile pulls across a page boundary is missed here: it is
/// looked up, and found.
async fn listed_zaken(resync: &Resync) -> Result<HashMap<String, Option<String>>, Error> {
    let mut listed = HashMap::new();
    let mut page = 1;
    loop {
        let Some(p) = resync
            .app()
            .klant
            .zaak_onderwerpobjecten(page, MAX_PAGE_SIZE)
            .await?
        else {
            return Ok(listed);
        };
        let last = p.results.is_empty() || p.next.as_deref().is_none_or(str::is_empty);
        listed.extend(
            p.results
                .iter()
                .filter_map(|o| Some((resync.uuid_of(o)?, link::linked_zaak(o).map(str::to_string)))),
        );
        if last {
            return Ok(listed);
        }
        page += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ZaakLink;

    #[test]
    fn gone_or_moved_table() {
        let record = |zaak: Option<&str>| {
            let mut r = LinkRecord::absent("o1");
            r.link = zaak.map(|z| ZaakLink {
                zaak: z.into(),
                label: "l".into(),
                link_to: "http://ok/onderwerpobjecten/o1".into(),
                klantcontact: "http://ok/klantcontacten/k1".into(),
                was_klantcontact: None,
            });
            r
        };
        let listed = |zaak: Option<&str>| HashMap::from([("o1".to_string(), zaak.map(str::to_string))]);
        let cases = [
            ("not listed: gone", record(Some("z1")), HashMap::new(), true),
            (
                "listed with its zaak",
                record(Some("z1")),
                listed(Some("z1")),
                false,
            ),
            (
                "listed with another zaak: relinked",
                record(Some("z1")),
                listed(Some("z2")),
                true,
            ),
            ("listed without a zaak", record(Some("z1")), listed(None), true),
            ("no link stored", record(None), listed(Some("z1")), false),
        ];
        for (name, r, listed, want) in cases {
            assert_eq!(gone_or_moved(&r, &listed), want, "{name}");
        }
    }

    #[test]
    fn look_due_table() {
        let running = Checkpoint::fresh("p".into(), chrono::Utc::now());
        let mut done = running.clone();
        done.phase = Phase::Done;
        let shrunk = Why::Shrunk {
            expected: 2,
            count: 1,
        };
        // (name, why, a pass due, the checkpoint, in a burst, want)
        type Case<'a> = (&'a str, Option<Why>, bool, Option<&'a Checkpoint>, bool, bool);
        let cases: Vec<Case> = vec![
            ("a burst goes on", Some(Why::Burst), true, None, true, true),
            (
                "a burst settled",
                Some(Why::BurstSettled),
                true,
                Some(&done),
                true,
                true,
            ),
            (
                "shrunk, a pass under way",
                Some(shrunk.clone()),
                true,
                Some(&running),
                false,
                true,
            ),
            (
                "shrunk, no pass under way: it looks",
                Some(shrunk.clone()),
                true,
                Some(&done),
                false,
                false,
            ),
            (
                "shrunk in a burst, no pass under way",
                Some(shrunk.clone()),
                true,
                Some(&done),
                true,
                true,
            ),
            ("shrunk, no pass ever", Some(shrunk), true, None, false, false),
            (
                "an overflow: its pass starts",
                Some(Why::Overflow),
                true,
                Some(&running),
                true,
                false,
            ),
            ("nothing seen", None, false, Some(&running), true, false),
        ];
        for (name, why, due, cp, in_burst, want) in cases {
            assert_eq!(look_due(why.as_ref(), due, cp, in_burst), want, "{name}");
        }
    }
}
