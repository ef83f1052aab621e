//! The head poll (DESIGN §7a): the first page of Open Klant's zaak onderwerpobjecten (newest
//! first), read every 15 s, so that an onderwerpobject created silently reaches Open Zaak
//! within about 15 s, and a list that lost objects starts a pass at once.
//!
//! - [`decide`]: what a poll saw against what the last one saw (pure);
//! - [`HeadPoll::poll`]: the I/O — one list request, the new objects through the resync's page
//!   work (the pipeline's conditional write, outbox, label and order rules), the state in the
//!   checkpoint store, and whether a pass is due ([`pass_due`]).
//!
//! A *set* of the uuids on the last head page, not a high-water mark: an insert that commits
//! late gets a lower position than objects already seen and is still new to the set, as long
//! as it lands on the page. Creates land at the top, so the count reveals every delete (and
//! every relink away from a zaak) at once; only an object arriving below the page (a relink
//! onto a zaak, a commit later than a page of creates) in the same minute as a delete cancels
//! it out, and a relink from one zaak to another leaves the count alone: the periodic pass
//! catches those.
//!
//! An object that was on the last head page and is not on this one either fell below it
//! (pushed down by new ones) or left the list: deleted (on its own, or with its klantcontact,
//! which no component announces on today's versions) or relinked away from its zaak. Each is
//! looked up at once, as a hint would be: a 404 gives its `zaak-ontkoppeld` within the poll,
//! an object still there changes nothing. Recent objects, the common case, so do not wait for
//! the pass that the count's drop starts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint};
use super::run::{bounded, Resync};
use crate::link::Onderwerpobject;
use crate::openklant::MAX_PAGE_SIZE;
use crate::pipeline::Truth;
use crate::store::StoreError;
use crate::Error;

mod gone;

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
}

/// One poll's view of the head of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The uuids on the first page, newest first.
    pub uuids: Vec<String>,
    /// The list's `count`.
    pub count: u64,
    /// Whether pages follow (`next` is set).
    pub more: bool,
}

/// Why a pass must start at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Fewer objects than the last count plus the new ones: objects were deleted or stopped
    /// naming a zaak (a relink away from the zaak).
    Shrunk { expected: u64, count: u64 },
    /// More objects than the last count plus the new ones: some arrived below the head page
    /// (a late commit or a relink onto a zaak of an older object).
    Grew { expected: u64, count: u64 },
    /// Every object on a full page is new: more may have been created than one page shows.
    Overflow,
}

/// What a poll does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The uuids to reconcile (new to the head page), newest first.
    pub reconcile: Vec<String>,
    /// The uuids on the last head page that are not on this one: looked up at once (gone,
    /// relinked away, or only pushed below the page). None on an overflow: its pass looks.
    pub vanished: Vec<String>,
    /// A pass must start at once.
    pub pass: Option<Why>,
    /// The state to remember (without `pass_wanted`: see [`HeadPoll::poll`]).
    pub next: HeadState,
}

/// Decide what a poll does from the last state (None: the first poll) and the head now
/// (pure). The first poll reconciles its whole page (a batch read of the stored records,
/// writes only for what differs) and asks for no pass: the periodic pass starts anyway.
pub fn decide(prev: Option<&HeadState>, head: &Head) -> Decision {
    let next = HeadState {
        seen: head.uuids.clone(),
        count: head.count,
        pass_wanted: None,
    };
    let Some(prev) = prev else {
        return Decision {
            reconcile: dedup(&head.uuids),
            vanished: Vec::new(),
            pass: None,
            next,
        };
    };
    let seen: HashSet<&str> = prev.seen.iter().map(String::as_str).collect();
    let reconcile: Vec<String> = dedup(&head.uuids)
        .into_iter()
        .filter(|u| !seen.contains(u.as_str()))
        .collect();
    let expected = prev.count + reconcile.len() as u64;
    let pass = if head.more && !head.uuids.is_empty() && reconcile.len() == dedup(&head.uuids).len() {
        Some(Why::Overflow)
    } else if head.count < expected {
        Some(Why::Shrunk {
            expected,
            count: head.count,
        })
    } else if head.count > expected {
        Some(Why::Grew {
            expected,
            count: head.count,
        })
    } else {
        None
    };
    let on_page: HashSet<&str> = head.uuids.iter().map(String::as_str).collect();
    let vanished = if pass == Some(Why::Overflow) {
        Vec::new()
    } else {
        dedup(&prev.seen)
            .into_iter()
            .filter(|u| !on_page.contains(u.as_str()))
            .collect()
    };
    Decision {
        reconcile,
        vanished,
        pass,
        next,
    }
}

/// Whether the pass a poll asked for (`wanted`, RFC 3339) is still due, given the checkpoint
/// of the resync (pure): no longer once a pass started at or after it (that pass lists the
/// list as it was when the need was seen, and its phase 2 finds what left it).
pub fn pass_due(wanted: Option<&str>, cp: Option<&Checkpoint>) -> bool {
    let Some(wanted) = wanted.and_then(parse) else {
        return false;
    };
    cp.and_then(|c| parse(&c.started))
        .is_none_or(|started| started < wanted)
}

/// The pass request a poll leaves (pure; RFC 3339): a poll that saw a change (`asked`) asks
/// anew, from `asked_at` (the moment before its list request) — the earlier request may be met
/// already, or by a pass that is running or started before this change and so may not see
/// it; the count it was seen by is the next poll's baseline, so only this request still
/// stands for it. A poll that saw none keeps the earlier request ([`pass_due`] judges it).
pub fn wanted_after(earlier: Option<String>, asked: bool, asked_at: DateTime<Utc>) -> Option<String> {
    if asked {
        Some(checkpoint::ts(asked_at))
    } else {
        earlier
    }
}

fn dedup(uuids: &[String]) -> Vec<String> {
    let mut once = HashSet::new();
    uuids
        .iter()
        .filter(|u| once.insert(u.as_str()))
        .cloned()
        .collect()
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
}

impl HeadPoll {
    pub fn new(resync: &Resync) -> Self {
        HeadPoll {
            resync: resync.clone(),
            page_size: HEAD_PAGE_SIZE,
        }
    }

    /// Another head page size (tests); Open Klant serves at most 500.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// One poll: read the head page; settle the pass request; look up what left the page
    /// (and, when objects left the list while an earlier pass is under way, which stored
    /// links left it: [`gone`]); reconcile the objects new to it; remember the page and the
    /// count. A failure saves nothing, so the next poll sees the same objects as new.
    pub async fn poll(&self) -> Result<HeadReport, Error> {
        // Before the list request: a change this poll sees happened before this moment, so a
        // pass that starts at or after it lists the list as changed.
        let asked_at = Utc::now();
        let prev = self.load_state().await?;
        let (head, listed) = self.read_head().await?;
        let decision = decide(prev.as_ref(), &head);
        let wanted = wanted_after(
            prev.and_then(|p| p.pass_wanted),
            decision.pass.is_some(),
            asked_at,
        );
        let pass = self.pass_request(wanted).await?;
        // What left comes first: a few objects, and no component announces their going.
        let mut outcome = self.look_up(&decision.vanished).await?;
        if gone::look_due(decision.pass.as_ref(), pass.due, pass.checkpoint.as_ref()) {
            outcome.add(gone::look(&self.resync).await?);
        }
        let new = new_objects(&listed, &decision.reconcile);
        if !new.is_empty() {
            outcome.add(self.resync.work_unpaged(&new).await?);
        }
        let mut next = decision.next;
        next.pass_wanted = pass.wanted;
        self.resync
            .checkpoints()
            .save_head(&serde_json::to_string(&next).expect("the head state serialises"))
            .await?;
        Ok(HeadReport {
            listed: head.uuids.len(),
            count: head.count,
            new: new.len(),
            vanished: decision.vanished.len(),
            written: outcome.written,
            emitted: outcome.emitted,
            why: decision.pass,
            pass_due: pass.due,
        })
    }

    /// The last poll's state; None for the first poll (or an unreadable state: warned).
    async fn load_state(&self) -> Result<Option<HeadState>, Error> {
        let Some(json) = self.resync.checkpoints().load_head().await? else {
            return Ok(None);
        };
        Ok(match serde_json::from_str::<HeadState>(&json) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "head poll state unreadable; this poll starts afresh");
                None
            }
        })
    }

    /// The head page (one list request): its uuids, count and whether pages follow, and its
    /// objects by uuid.
    async fn read_head(&self) -> Result<(Head, Vec<(String, Onderwerpobject)>), Error> {
        let page = self
            .resync
            .app()
            .klant
            .zaak_onderwerpobjecten(1, self.page_size)
            .await?;
        let (objects, count, more) = match page {
            Some(p) => (
                p.results,
                p.count,
                p.next.as_deref().is_some_and(|n| !n.is_empty()),
            ),
            None => (Vec::new(), 0, false),
        };
        let listed: Vec<(String, Onderwerpobject)> = objects
            .into_iter()
            .filter_map(|o| Some((self.resync.uuid_of(&o)?, o)))
            .collect();
        let head = Head {
            uuids: listed.iter().map(|(u, _)| u.clone()).collect(),
            count,
            more,
        };
        Ok((head, listed))
    }

    /// The pass request this poll leaves (`wanted`, [`wanted_after`]) judged against the
    /// resync's checkpoint ([`pass_due`]): dropped once met.
    async fn pass_request(&self, wanted: Option<String>) -> Result<PassRequest, Error> {
        if wanted.is_none() {
            return Ok(PassRequest::default());
        }
        let checkpoint = match self.resync.checkpoints().load_checkpoint().await? {
            Some(saved) => Some(
                serde_json::from_str::<Checkpoint>(&saved.json)
                    .map_err(|e| StoreError::Corrupt(format!("resync checkpoint: {e}")))?,
            ),
            None => None,
        };
        let due = pass_due(wanted.as_deref(), checkpoint.as_ref());
        Ok(PassRequest {
            wanted: wanted.filter(|_| due),
            due,
            checkpoint,
        })
    }

    /// The objects gone from the head page, each looked up as a hint would be, side by side
    /// (a cascade's objects may all have left at once).
    async fn look_up(&self, vanished: &[String]) -> Result<crate::Outcome, Error> {
        let app = self.resync.app();
        let lookups: Vec<_> = vanished
            .iter()
            .map(|uuid| {
                let (app, uuid) = (app.clone(), uuid.clone());
                let url = app.settings.api_root.join(&format!("onderwerpobjecten/{uuid}"));
                async move { app.sync(&uuid, Truth::Fetch(url.as_str()), None).await }
            })
            .collect();
        let mut outcome = crate::Outcome::default();
        for looked in bounded(self.resync.settings().objects_at_once(), lookups).await {
            outcome.add(looked?);
        }
        Ok(outcome)
    }

    /// The resync this poll works with (to run the pass it asks for).
    pub fn resync(&self) -> &Resync {
        &self.resync
    }
}

/// A poll's pass request, settled ([`HeadPoll::poll`]).
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

#[cfg(test)]
mod tests;
