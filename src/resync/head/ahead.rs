//! The hand-off of a poll's new objects (`zaaklink serve`, DESIGN §7a): their reconcile runs
//! beside the next polls, which keep their period however long Open Zaak takes to take a
//! burst in.
//!
//! The state saved by the poll that hands them off lists them as `pending`. The next poll:
//! - leaves those still running in this process alone (they stay `pending`);
//! - drops those whose reconcile finished;
//! - looks the others up, as a hint would be: a reconcile that failed, or one this process
//!   did not finish (it stopped). So a hand-off loses nothing; every path goes through the
//!   pipeline's per-object turn and conditional write, so nothing is emitted twice.

use std::collections::HashSet;

use super::HeadPoll;
use crate::link::Onderwerpobject;
use crate::{Error, Outcome};

/// The hand-offs of one process: the uuids being reconciled, and those finished since the
/// last look.
#[derive(Debug, Default)]
pub(super) struct Handed {
    running: HashSet<String>,
    finished: HashSet<String>,
}

/// `pending` (the last state's) split (pure): (still running here: kept pending, to look up
/// now). Those finished are dropped.
pub(super) fn split(pending: &[String], handed: &Handed) -> (Vec<String>, Vec<String>) {
    let mut running = Vec::new();
    let mut look_up = Vec::new();
    for uuid in pending {
        if handed.running.contains(uuid) {
            running.push(uuid.clone());
        } else if !handed.finished.contains(uuid) {
            look_up.push(uuid.clone());
        }
    }
    (running, look_up)
}

/// A poll's new objects, handed off ([`HeadPoll::poll_ahead`]). One dropped before its run
/// ended (never run, or cancelled) leaves its objects to the next poll's look-ups.
pub struct Ahead {
    pub(super) poll: HeadPoll,
    pub(super) new: Vec<Onderwerpobject>,
    pub(super) uuids: Vec<String>,
    /// What the poll's look left for later: run beside the reconcile.
    pub(super) later: super::Later,
    /// Its reconcile succeeded.
    pub(super) done: bool,
}

impl Ahead {
    /// Objects in this hand-off.
    pub fn len(&self) -> usize {
        self.new.len()
    }

    /// Nothing to do: no new objects, nothing left for later.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.later.is_empty()
    }

    /// Reconcile them, and beside it do what the look left for later; then they are finished
    /// (or, on a failure, left for the next poll to look up).
    pub async fn run(mut self) -> Result<Outcome, Error> {
        let (reconciled, later) = tokio::join!(self.poll.reconcile(&self.new), self.poll.later(&self.later));
        self.done = reconciled.is_ok();
        let mut outcome = reconciled?;
        outcome.add(later?);
        Ok(outcome)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        let mut handed = self.poll.handed.lock().unwrap_or_else(|p| p.into_inner());
        for uuid in &self.uuids {
            handed.running.remove(uuid);
            if self.done {
                handed.finished.insert(uuid.clone());
            }
        }
    }
}

impl HeadPoll {
    /// The last state's `pending`, split ([`split`]); the finished ones are forgotten (the
    /// state this look saves no longer lists them).
    pub(super) fn unfinished(&self, pending: &[String]) -> (Vec<String>, Vec<String>) {
        let mut handed = self.handed.lock().expect("the hand-offs lock");
        let split = split(pending, &handed);
        handed.finished.clear();
        split
    }

    /// These objects are being reconciled by a hand-off.
    pub(super) fn handed_over(&self, uuids: &[String]) {
        let mut handed = self.handed.lock().expect("the hand-offs lock");
        handed.running.extend(uuids.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn pending_split_table() {
        // (name, pending, running, finished, want kept, want looked up)
        let cases = [
            ("nothing pending", "", "a", "b", "", ""),
            ("still running", "a b", "a b", "", "a b", ""),
            ("finished", "a b", "", "a b", "", ""),
            ("failed (neither)", "a b", "", "", "", "a b"),
            ("a process that stopped (none known)", "a", "", "", "", "a"),
            ("mixed", "a b c", "a", "b", "a", "c"),
        ];
        for (name, pending, running, finished, kept, look_up) in cases {
            let handed = Handed {
                running: ids(running).into_iter().collect(),
                finished: ids(finished).into_iter().collect(),
            };
            assert_eq!(split(&ids(pending), &handed), (ids(kept), ids(look_up)), "{name}");
        }
    }
}
