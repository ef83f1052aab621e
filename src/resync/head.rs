//! The head poll (DESIGN §7a): the first page of Open Klant's zaak onderwerpobjecten (newest
//! first), read every 15 s, so that an onderwerpobject created silently reaches Open Zaak
//! within about 15 s, and a list that lost objects starts a pass at once.
//!
//! - [`decide`]: what a poll saw against what the last one saw (pure); [`pass_due`] and
//!   [`wanted_after`]: the pass request (pure);
//! - [`HeadPoll::poll`]: the I/O as a story of steps (`steps`): the look — one list request,
//!   the pass request settled, what left the page looked up — then what it left for later
//!   (during a burst, or when objects left the list while a pass is under way, the list look:
//!   the stored links gone from the list or listed with another zaak, `gone`), then the new
//!   objects through the resync's page work (the pipeline's conditional write, outbox, label
//!   and order rules), the state in the checkpoint store;
//! - [`HeadPoll::poll_ahead`] (`zaaklink serve`): the same look, with the new objects'
//!   reconcile and what the look left for later handed off (`ahead`) so the next poll keeps
//!   its period during a burst.
//!
//! A *set* of the uuids on the last head page, not a high-water mark: an insert that commits
//! late gets a lower position than objects already seen and is still new to the set, as long
//! as it lands on the page. Creates land at the top, so the count reveals every delete (and
//! every relink away from a zaak) at once; only an object arriving below the page (a relink
//! onto a zaak, a commit later than a page of creates) in the same minute as a delete cancels
//! it out, and a relink from one zaak to another leaves the count alone: the periodic pass
//! catches those.
//!
//! A burst (an overflow, then polls with a tenth of the page or more new) asks for a pass at
//! every poll and once more when it has settled ([`Why::Burst`], [`Why::BurstSettled`]): the
//! announcements of other changes made meanwhile queue behind the burst's own.
//!
//! An object that was on the last head page and is not on this one either fell below it
//! (pushed down by new ones) or left the list: deleted (on its own, or with its klantcontact,
//! which no component announces on today's versions) or relinked away from its zaak. Each is
//! looked up at once, as a hint would be: a 404 gives its `zaak-ontkoppeld` within the poll,
//! an object still there changes nothing. Recent objects, the common case, so do not wait for
//! the pass that the count's drop starts.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::run::Resync;
use crate::link::Onderwerpobject;
use crate::openklant::MAX_PAGE_SIZE;
use crate::Error;

mod ahead;
mod decide;
mod gone;
mod steps;

pub use ahead::Ahead;
pub use decide::{decide, pass_due, wanted_after, Decision, Head, Why};

/// Objects on the head page: Open Klant's default page. More creates than this between two
/// polls are an overflow, and a pass catches them.
pub const HEAD_PAGE_SIZE: u32 = 100;

/// What the head poll remembers between polls (JSON in the checkpoint store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadState {
    /// The uuids on the head page at the last poll, newest first.
    pub seen: Vec<String>,
    /// The list's `count` at the last poll.
    pub count: u64,
    /// When the last poll that saw the count change began (RFC 3339): a pass must start at or
    /// after it ([`wanted_after`]); cleared once one has.
    #[serde(default)]
    pub pass_wanted: Option<String>,
    /// Objects new to the head page whose reconcile was handed off ([`HeadPoll::poll_ahead`])
    /// and not known to have finished: the next poll leaves those still running in this
    /// process alone and looks the others up (a reconcile that failed, or a process that
    /// stopped meanwhile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// A burst is arriving: the last poll saw an overflow, or a tenth of its page new during
    /// one. Each poll asks for a pass until one sees it settled ([`Why::Burst`],
    /// [`Why::BurstSettled`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub burst: bool,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeadReport {
    /// Objects on the head page, and the list's count.
    pub listed: usize,
    pub count: u64,
    /// Objects new to the head page, reconciled.
    pub new: usize,
    /// Objects gone from the head page, looked up.
    pub vanished: usize,
    pub written: usize,
    pub emitted: usize,
    /// Why this poll asked for a pass (None: it did not).
    pub why: Option<Why>,
    /// A pass is due: start it now (the Lambda in the same invocation, `serve` wakes its
    /// resync task). Also true while an earlier poll's request has not been met.
    pub pass_due: bool,
}

/// The head poll over the resync's pipeline and checkpoint store.
#[derive(Clone)]
pub struct HeadPoll {
    resync: Resync,
    page_size: u32,
    /// One poll's look at a time in this process (the state's load, change and save).
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The reconciles handed off by [`Self::poll_ahead`]: running, or finished since the
    /// last look.
    handed: Arc<std::sync::Mutex<ahead::Handed>>,
}

impl HeadPoll {
    pub fn new(resync: &Resync) -> Self {
        HeadPoll {
            resync: resync.clone(),
            page_size: HEAD_PAGE_SIZE,
            turn: Arc::default(),
            handed: Arc::default(),
        }
    }

    /// Another head page size (tests); Open Klant serves at most 500.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// One poll, start to end: the look ([`Self::look`]: the head page read, the pass request
    /// settled, what left looked up), the objects new to the page reconciled, the page and
    /// the count remembered. A failure saves nothing, so the next poll sees the same objects
    /// as new. The Lambda's head job and the CLI.
    pub async fn poll(&self) -> Result<HeadReport, Error> {
        let _turn = self.turn.lock().await;
        let looked = self.look().await?;
        let mut report = looked.report();
        let mut outcome = self.later(&looked.later).await?;
        outcome.add(self.reconcile(&looked.new).await?);
        report.written += outcome.written;
        report.emitted += outcome.emitted;
        self.save_state(&looked.next).await?;
        Ok(report)
    }

    /// A poll that does not wait for the objects new to the page (`zaaklink serve`): the look,
    /// then the state saved with them as `pending`, and their reconcile handed back
    /// ([`Ahead::run`]) to run beside the next polls, with what the look left for later (the
    /// list look, what left the page while a hand-off holds it). So a burst that Open Zaak
    /// takes long to take in never holds the next look back (DESIGN §7a).
    pub async fn poll_ahead(&self) -> Result<(HeadReport, Ahead), Error> {
        let _turn = self.turn.lock().await;
        let mut looked = self.look().await?;
        let uuids: Vec<String> = looked.new.iter().filter_map(|o| self.resync.uuid_of(o)).collect();
        looked.next.pending.extend(uuids.iter().cloned());
        self.save_state(&looked.next).await?;
        self.handed_over(&uuids);
        let report = looked.report();
        let ahead = Ahead {
            poll: self.clone(),
            new: looked.new,
            uuids,
            later: looked.later,
            done: false,
        };
        Ok((report, ahead))
    }

    /// The resync this poll works with (to run the pass it asks for).
    pub fn resync(&self) -> &Resync {
        &self.resync
    }
}

/// What a look found and leaves ([`HeadPoll::look`]).
struct Looked {
    head: Head,
    why: Option<Why>,
    vanished: usize,
    pass_due: bool,
    /// What the look-ups wrote and emitted.
    outcome: crate::Outcome,
    /// The objects new to the page, to reconcile.
    new: Vec<Onderwerpobject>,
    /// What the look left for later.
    later: Later,
    /// The state to save (`pending`: the hand-offs still running).
    next: HeadState,
}

impl Looked {
    fn report(&self) -> HeadReport {
        HeadReport {
            listed: self.head.uuids.len(),
            count: self.head.count,
            new: self.new.len(),
            vanished: self.vanished,
            written: self.outcome.written,
            emitted: self.outcome.emitted,
            why: self.why.clone(),
            pass_due: self.pass_due,
        }
    }
}

/// What a look leaves for after it ([`HeadPoll::poll`]: at once; [`HeadPoll::poll_ahead`]:
/// beside the next polls, with the new objects' hand-off), so that nothing holds the next
/// look back.
#[derive(Debug, Default, Clone)]
pub(super) struct Later {
    /// Objects that left the page while a hand-off of this process still reconciles them:
    /// each looked up once its hand-off lets go (they stay `pending` until it has).
    recheck: Vec<String>,
    /// The list look is due ([`gone::look_due`]).
    list_look: bool,
}

impl Later {
    fn is_empty(&self) -> bool {
        self.recheck.is_empty() && !self.list_look
    }
}

/// A poll's pass request, settled ([`HeadPoll::look`]).
#[derive(Default)]
struct PassRequest {
    /// The request left for the next poll (None: none, or met).
    wanted: Option<String>,
    /// A pass is due now.
    due: bool,
    /// The resync's checkpoint as read (only when a request stands).
    checkpoint: Option<Checkpoint>,
}

/// The objects of the head page with these uuids, in the page's order.
fn new_objects(listed: &[(String, Onderwerpobject)], uuids: &[String]) -> Vec<Onderwerpobject> {
    let wanted: HashSet<&str> = uuids.iter().map(String::as_str).collect();
    listed
        .iter()
        .filter(|(u, _)| wanted.contains(u.as_str()))
        .map(|(_, o)| o.clone())
        .collect()
}
