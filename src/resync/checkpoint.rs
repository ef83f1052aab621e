//! The checkpoint of a resync pass and the pure rules for it: whether a run starts a pass,
//! continues one, waits for another run, or has nothing to do (DESIGN §7).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a pass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Phase 1: Open Klant's list of zaak onderwerpobjecten, page by page.
    List,
    /// Phase 2: the stored links the list did not show, one store page at a time.
    Stored,
    /// The pass is complete.
    Done,
}

/// What a pass did so far (summed over its runs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Onderwerpobjecten looked at (listed ones and stored ones the list did not show).
    pub objects: u64,
    /// Records written (a link made, moved, dropped or refreshed).
    pub written: u64,
    /// Events emitted.
    pub emitted: u64,
    /// List pages read, re-reads after a shift included.
    pub pages: u64,
    /// Pages re-read because the list shrank underneath the pass.
    pub rereads: u64,
    /// Runs (invocations) that worked on the pass.
    pub runs: u64,
}

/// The stored checkpoint (JSON in the [`crate::store::CheckpointStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Pass id (uuid): names the pass's seen chunks.
    pub pass: String,
    pub phase: Phase,
    /// Phase 1: the next list page to read (1-based).
    pub page: u32,
    /// Phase 1: the list's `count` when the last page was read (None before the first).
    pub count: Option<u64>,
    /// Phase 1: the uuids of the last page read (a re-read skips them).
    pub tail: Vec<String>,
    /// Seen chunks written so far (one per page read).
    pub chunks: u32,
    /// The page in progress (a list page, or the store page at `cursor`): the uuids of its
    /// objects already reconciled, batch by batch, so that a run stopped within the page
    /// continues after them. Phase 1 also keeps them in seen chunk `chunks`. Empty between
    /// pages (absent in checkpoints of older versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<String>,
    /// Phase 2: the store cursor to continue after (None = from the start).
    pub cursor: Option<String>,
    pub counts: Counts,
    /// RFC 3339.
    pub started: String,
    pub finished: Option<String>,
    /// The run working on the pass, and until when it may (RFC 3339).
    pub owner: Option<String>,
    pub lease_until: Option<String>,
}

impl Checkpoint {
    pub fn fresh(pass: String, now: DateTime<Utc>) -> Self {
        Checkpoint {
            pass,
            phase: Phase::List,
            page: 1,
            count: None,
            tail: Vec::new(),
            chunks: 0,
            partial: Vec::new(),
            cursor: None,
            counts: Counts::default(),
            started: ts(now),
            finished: None,
            owner: None,
            lease_until: None,
        }
    }

    /// Whether another run (not `owner`) holds the pass at `now`.
    pub fn leased_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        held_by_other(self.owner.as_deref(), self.lease_until.as_deref(), owner, now)
    }

    /// Take (or renew) the lease for `owner` until `now + lease`.
    pub fn lease(&mut self, owner: &str, now: DateTime<Utc>, lease: std::time::Duration) {
        self.owner = Some(owner.to_string());
        self.lease_until = Some(ts(now + chrono::Duration::from_std(lease).unwrap_or_default()));
    }

    /// Give the lease up (a run that stops cleanly).
    pub fn release(&mut self) {
        self.owner = None;
        self.lease_until = None;
    }
}

/// What a run does with the checkpoint it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Start a new pass; `previous` is the pass it replaces (its seen chunks are dropped).
    Start { previous: Option<Box<Checkpoint>> },
    /// Continue the unfinished pass.
    Continue,
    /// Another run holds the pass: leave it alone.
    Busy,
    /// The last pass completed less than `interval` ago: nothing to do until `next`.
    Idle { next: DateTime<Utc> },
}

/// Decide what a run does (pure). `interval` is the least time between the starts of two
/// passes; `force` starts a pass even when the interval has not passed (the CLI).
pub fn begin(
    found: Option<&Checkpoint>,
    owner: &str,
    now: DateTime<Utc>,
    interval: std::time::Duration,
    force: bool,
) -> Begin {
    let Some(cp) = found else {
        return Begin::Start { previous: None };
    };
    if cp.leased_by_other(owner, now) {
        return Begin::Busy;
    }
    if cp.phase != Phase::Done {
        return Begin::Continue;
    }
    let next = parse(&cp.started).unwrap_or(now) + chrono::Duration::from_std(interval).unwrap_or_default();
    if force || next <= now {
        Begin::Start {
            previous: Some(Box::new(cp.clone())),
        }
    } else {
        Begin::Idle { next }
    }
}

/// The first list page to read again before page `page` when the list's count dropped from
/// `before` to `now` (objects deleted ahead of the pass pull later ones forward across the
/// page boundary). None when nothing can have been pulled past the pass.
///
/// Between reading page N (= `page - 1`) and page N+1, with c objects created (they go to the
/// front: newest first) and d deleted in front of the boundary, the object that followed
/// page N moves by c - d positions. Only a move forward (c - d < 0) can hide objects, at most
/// d - c ≤ before - now of them, and they end up in the last before - now positions before
/// the boundary: the pages holding positions [N·size - (before - now), N·size).
pub fn reread_from(page: u32, size: u32, before: Option<u64>, now: u64) -> Option<u32> {
    let before = before?;
    if page <= 1 || now >= before {
        return None;
    }
    let shrunk = before - now;
    let boundary = u64::from(page - 1) * u64::from(size);
    let first = boundary.saturating_sub(shrunk) / u64::from(size) + 1;
    Some(first.min(u64::from(page - 1)) as u32)
}

/// Whether a lease saved as `holder` until `until` (RFC 3339) is another's than `me`'s and
/// still runs at `now` (pure; the resync's checkpoint and the audit's saved run).
pub fn held_by_other(holder: Option<&str>, until: Option<&str>, me: &str, now: DateTime<Utc>) -> bool {
    holder.is_some_and(|o| o != me) && until.and_then(parse).is_some_and(|until| until > now)
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn begin_table() {
        let hour = Duration::from_secs(3600);
        let mut running = Checkpoint::fresh("p1".into(), at(0));
        running.lease("other", at(0), Duration::from_secs(60));
        let mut expired = running.clone();
        expired.lease("other", at(0), Duration::from_secs(10));
        let mut done = Checkpoint::fresh("p1".into(), at(0));
        done.phase = Phase::Done;
        let mut mine = running.clone();
        mine.lease("me", at(0), Duration::from_secs(60));
        let cases: Vec<(&str, Option<&Checkpoint>, i64, bool, &str)> = vec![
            ("nothing yet", None, 0, false, "start"),
            ("held by another", Some(&running), 30, false, "busy"),
            ("lease expired", Some(&expired), 30, false, "continue"),
            ("held by me", Some(&mine), 30, false, "continue"),
            ("done, interval not passed", Some(&done), 1800, false, "idle"),
            (
                "done, interval not passed, forced",
                Some(&done),
                1800,
                true,
                "start",
            ),
            ("done, interval passed", Some(&done), 3600, false, "start"),
        ];
        for (name, cp, now, force, want) in cases {
            let got = match begin(cp, "me", at(now), hour, force) {
                Begin::Start { .. } => "start",
                Begin::Continue => "continue",
                Begin::Busy => "busy",
                Begin::Idle { .. } => "idle",
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn reread_table() {
        // (page about to be read, size, count before, count now, want)
        let cases = [
            (1, 500, None, 10, None),
            (2, 500, None, 10, None),
            (2, 500, Some(1000), 1000, None),
            (2, 500, Some(1000), 1005, None),
            (2, 500, Some(1000), 999, Some(1)),
            (3, 500, Some(1000), 999, Some(2)),
            (3, 500, Some(1000), 500, Some(2)),
            (3, 500, Some(1000), 499, Some(1)),
            (3, 500, Some(5000), 10, Some(1)),
            (4, 2, Some(10), 7, Some(2)),
        ];
        for (page, size, before, now, want) in cases {
            assert_eq!(
                reread_from(page, size, before, now),
                want,
                "{page} {size} {before:?} {now}"
            );
        }
    }

    #[test]
    fn checkpoint_round_trips_as_json() {
        let mut cp = Checkpoint::fresh("p".into(), at(0));
        cp.tail = vec!["a".into()];
        cp.cursor = Some("k".into());
        let json = serde_json::to_string(&cp).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
    }
}
