//! Objects whose outbox another writer holds (DESIGN §7, "Held objects"). A writer claims an
//! object's outbox while it puts the events (`DEFAULT_OUTBOX_LEASE`, 15 s). Within one
//! process writers take turns (`pipeline::serial`), so a claim the pass finds still live
//! after its retries belongs to another process: one still putting those events, or a run
//! that died with them (killed, timed out). That is no change and no failure: the pass passes
//! over the object ([`pass_over`]) and comes back to it once the claim has run out
//! ([`Resync::revisit`], at the end of the run, waiting for the claim when the run has the
//! time); what it cannot wait for, the next run of this process or the next pass takes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use std::sync::Mutex;

use super::checkpoint::parse;
use crate::pipeline::{Outcome, Truth};
use crate::{Error, Zaaklink};

/// Objects noted at most (more are left to the next pass, which finds them again).
const MOST: usize = 10_000;

/// Rounds of coming back within one run (an object held again each time is left to the next
/// pass: someone is working on it).
const ROUNDS: u32 = 3;

/// Waited beyond a claim's end, for clocks that differ a little.
const SLACK: Duration = Duration::from_millis(250);

/// Time left before a deadline that one more object's reconcile needs (a few Open Klant
/// reads, a write and a put, each with its own timeout).
const SYNC_ROOM: Duration = Duration::from_secs(30);

/// The objects passed over, shared by the runs of one `Resync` (and its head poll).
#[derive(Default)]
pub(super) struct Noted(Mutex<Vec<Waiting>>);

impl Noted {
    fn take(&self) -> Vec<Waiting> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn add(&self, w: impl IntoIterator<Item = Waiting>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(w)
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// An object passed over: its uuid, URL, and the end of the claim on its outbox.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    uuid: String,
    url: String,
    until: Option<DateTime<Utc>>,
}

/// One object's sync in the pass: a held outbox is noted (to come back to) and counts as
/// looked at; anything else is the sync's own result.
pub(super) fn pass_over(
    noted: &Noted,
    uuid: &str,
    url: &str,
    result: Result<Outcome, Error>,
) -> Result<Outcome, Error> {
    let Err(Error::Held { until, .. }) = &result else {
        return result;
    };
    tracing::info!(onderwerpobject = %uuid, until = %until,
        "resync passes over this onderwerpobject for now: another writer holds its outbox until then \
         (one still putting those events, or a run that stopped before it could release them); \
         it comes back to it when that claim has run out");
    let mut held = noted.0.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|w| w.uuid != uuid);
    if held.len() < MOST {
        held.push(Waiting {
            uuid: uuid.to_string(),
            url: url.to_string(),
            until: parse(until),
        });
    }
    Ok(Outcome {
        objects: 1,
        ..Default::default()
    })
}

/// Come back to the objects passed over, once their claims have run out (as the store shows
/// them now): waiting for that, and reconciling them through `app`, only while `deadline`
/// leaves the time and no stop was asked (`stopping`); the rest stay noted for the next run.
/// What it wrote and emitted.
pub(super) async fn revisit(
    app: &Zaaklink,
    noted: &Noted,
    deadline: Option<Instant>,
    stopping: impl Fn() -> bool,
) -> Outcome {
    let room = |extra: Duration| !stopping() && deadline.is_none_or(|d| Instant::now() + extra < d);
    let mut total = Outcome::default();
    for _ in 0..ROUNDS {
        let mut waiting = noted.take();
        if waiting.is_empty() {
            break;
        }
        refresh(app, &mut waiting).await;
        let now = Utc::now();
        let latest = waiting.iter().filter_map(|w| w.until).filter(|u| *u > now).max();
        let wait = latest.map_or(Duration::ZERO, |l| (l - now).to_std().unwrap_or_default() + SLACK);
        if !room(wait * 2 + SYNC_ROOM) {
            noted.add(waiting);
            break;
        }
        tokio::time::sleep(wait).await;
        let mut rest = waiting.into_iter();
        while let Some(w) = rest.next() {
            if !room(SYNC_ROOM) {
                noted.add(std::iter::once(w).chain(rest));
                break;
            }
            match app.sync(&w.uuid, Truth::Fetch(&w.url), None).await {
                // held again (a writer that is alive after all): noted with its new end
                r @ Err(Error::Held { .. }) => drop(pass_over(noted, &w.uuid, &w.url, r)),
                Ok(o) => {
                    tracing::info!(onderwerpobject = %w.uuid, written = o.written, emitted = o.emitted,
                            "resync came back to this onderwerpobject after the claim on its outbox ran out: reconciled");
                    total.written += o.written;
                    total.emitted += o.emitted;
                }
                Err(e) => {
                    // not dropped: it stays noted for this resync's next run (and the next
                    // pass lists it anyway)
                    tracing::warn!(onderwerpobject = %w.uuid, error = %e,
                            "resync came back to this onderwerpobject and could not reconcile it; its next run tries again");
                    noted.add(std::iter::once(w));
                }
            }
        }
    }
    let left = noted.len();
    if left > 0 {
        tracing::info!(objects = left, "resync leaves the onderwerpobjecten whose outbox another writer still holds to its next run (the next pass finds them anyway)");
    }
    total
}

/// The claims as the store shows them now (a claim released, swept or renewed since).
async fn refresh(app: &Zaaklink, waiting: &mut [Waiting]) {
    let uuids: Vec<String> = waiting.iter().map(|w| w.uuid.clone()).collect();
    let Ok(records) = app.store.get_many(&uuids).await else {
        return; // keep the ends noted
    };
    for w in waiting.iter_mut() {
        w.until = records
            .iter()
            .find(|r| r.onderwerpobject == w.uuid)
            .filter(|r| !r.pending.is_empty())
            .and_then(|r| r.claimed_until.as_deref())
            .and_then(parse);
    }
}
