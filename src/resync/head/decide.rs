//! The head poll's decisions (pure, DESIGN §7a): what a poll saw against what the last one saw
//! ([`decide`], with a burst's passes), and the pass request it leaves ([`pass_due`],
//! [`wanted_after`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::HeadState;
use crate::resync::checkpoint::{self, Checkpoint};

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
    /// A burst goes on (a tenth of the page or more new again, after an overflow): the
    /// notifications and CloudEvents of other changes made meanwhile queue behind the
    /// burst's own in Open Klant and Open Notificaties, so a pass finds those changes sooner
    /// than their announcements would.
    Burst,
    /// The first poll that sees a burst settled (less than a tenth of the page new): one pass
    /// after it catches what was changed as the burst ended.
    BurstSettled,
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
    let mut next = HeadState {
        seen: head.uuids.clone(),
        count: head.count,
        pass_wanted: None,
        pending: Vec::new(),
        burst: false,
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
    let (pass, burst) = burst(prev.burst, pass, reconcile.len(), head.uuids.len());
    next.burst = burst;
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

/// A burst's passes (pure): an overflow opens a burst; while one is open, every poll asks for
/// a pass — [`Why::Burst`] while a tenth of the page or more is new, then
/// [`Why::BurstSettled`] once, which closes it. A pass asked for another reason keeps its
/// reason. Returns the pass asked for and whether the burst stays open.
fn burst(open: bool, pass: Option<Why>, new: usize, listed: usize) -> (Option<Why>, bool) {
    if pass == Some(Why::Overflow) {
        return (pass, true);
    }
    if !open {
        return (pass, false);
    }
    let goes_on = new > 0 && new * 10 >= listed;
    let why = if goes_on { Why::Burst } else { Why::BurstSettled };
    (pass.or(Some(why)), goes_on)
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

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
