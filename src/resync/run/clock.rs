//! The clock of a run: the time left before its deadline, how long its steps take, and when
//! the part done of a page is due to be saved (DESIGN §7, "Budget").

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::resync::shared::Shared;

/// A run starts a step (a page read, a batch) only when this many times the slowest step it
/// measured so far still fits before its deadline: the margin follows the measured time.
const MARGIN_STEPS: u32 = 2;

/// Within a page, the part done is checkpointed when the run stops there, and otherwise at
/// most this often (it renews the lease too): a checkpoint after every batch cost a pass over
/// 100,000 objects about 6,400 extra writes and doubled its time (BENCHMARKS.md).
const PARTIAL_EVERY: Duration = Duration::from_secs(30);

/// The time a run has left, and how long its steps take.
pub(super) struct Clock {
    deadline: Option<Instant>,
    slowest: Duration,
    /// The slowest Open Klant list read: what one round of the looks still owed costs.
    read: Duration,
    /// The time the after-write looks still owed will take (they run even when the run
    /// stops).
    owed: Duration,
    /// The last checkpoint save.
    saved: Instant,
    /// A stop was asked ([`super::Resync::stop`]): no room for another step.
    shared: Arc<Shared>,
}

impl Clock {
    pub fn new(deadline: Option<Instant>, shared: Arc<Shared>) -> Self {
        Clock {
            deadline,
            slowest: Duration::ZERO,
            read: Duration::ZERO,
            owed: Duration::ZERO,
            saved: Instant::now(),
            shared,
        }
    }

    /// Whether the next step fits: the deadline is at least [`MARGIN_STEPS`] times the
    /// slowest step measured, plus the looks owed, away (no deadline: always), and no stop
    /// was asked.
    pub fn room(&self) -> bool {
        !self.shared.stopping()
            && self
                .deadline
                .is_none_or(|d| Instant::now() + self.slowest * MARGIN_STEPS + self.owed < d)
    }

    /// The looks still owed take `rounds` rounds of Open Klant reads.
    pub fn owe(&mut self, rounds: u32) {
        self.owed = self.read * rounds;
    }

    /// Measure a list read that lasted `d` (a step too; read ahead or not).
    pub fn read_lasted(&mut self, d: Duration) {
        self.read = self.read.max(d);
        self.slowest = self.slowest.max(d);
    }

    /// Whether the run has a deadline.
    pub fn timed(&self) -> bool {
        self.deadline.is_some()
    }

    /// Measure a step that started at `since`.
    pub fn took(&mut self, since: Instant) {
        self.slowest = self.slowest.max(since.elapsed());
    }

    /// Whether the part done within a page is due to be saved ([`PARTIAL_EVERY`]).
    pub fn partial_due(&self) -> bool {
        self.saved.elapsed() >= PARTIAL_EVERY
    }

    /// The checkpoint was just saved.
    pub fn saved(&mut self) {
        self.saved = Instant::now();
    }
}
