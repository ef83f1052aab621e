//! One run in memory and the time it has (bookkeeping shared by the stages, the saving and
//! the resuming of an audit): where it stands, what the lists held, the candidates, the
//! report so far, the budget of the invocation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chunks;
use super::look::Candidate;
use super::read::AuditError;
use super::report::Report;
use super::saved::{self, SavedRun};
use super::sides::{OpenKlantSide, OpenZaakSide};
use crate::store::{AuditStateStore, StoreError};

/// Within a stage, the run is saved at least this often (and whenever it mends, and when it
/// stops).
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(30);

/// A step starts only while this many times the slowest step so far still fits before the
/// deadline (as the resync's); the first step of an invocation always runs, so every
/// invocation gets on.
const MARGIN_STEPS: u32 = 2;

/// The time an invocation has, and how long its steps take.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    deadline: Option<Instant>,
    slowest: Duration,
    steps: u32,
}

impl Budget {
    pub fn new(deadline: Option<Instant>) -> Self {
        Budget {
            deadline,
            slowest: Duration::ZERO,
            steps: 0,
        }
    }

    /// Whether the next step fits (the first always does).
    pub fn room(&self) -> bool {
        self.steps == 0
            || self
                .deadline
                .is_none_or(|d| Instant::now() + self.slowest * MARGIN_STEPS < d)
    }

    pub fn took(&mut self, since: Instant) {
        self.slowest = self.slowest.max(since.elapsed());
        self.steps += 1;
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn join(&mut self, other: Budget) {
        self.slowest = self.slowest.max(other.slowest);
        self.steps += other.steps;
    }
}

/// One run in memory: where it stands (`doc`, saved when there is a store), what the lists
/// held, the candidates, the report so far.
pub(super) struct Work {
    pub doc: SavedRun,
    pub version: u64,
    pub owner: String,
    pub store: Option<Arc<dyn AuditStateStore>>,
    pub budget: Budget,
    pub ok: OpenKlantSide,
    pub oz: OpenZaakSide,
    pub candidates: Vec<Candidate>,
    pub report: Report,
    pub saved_at: Instant,
    /// The run as last saved by this invocation.
    pub saved: Option<SavedRun>,
}

impl Work {
    pub fn new(doc: SavedRun, store: Option<Arc<dyn AuditStateStore>>, budget: Budget) -> Self {
        Work {
            doc,
            version: 0,
            owner: uuid::Uuid::new_v4().to_string(),
            store,
            budget,
            ok: OpenKlantSide::default(),
            oz: OpenZaakSide::default(),
            candidates: Vec::new(),
            report: Report::empty(),
            saved_at: Instant::now(),
            saved: None,
        }
    }
}

impl Work {
    /// The time left before the deadline (None: no deadline).
    pub fn budget_left(&self) -> Option<Duration> {
        self.budget
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// Save `lines` as chunks `from..` of `pass`; the chunk count after them.
pub(super) async fn put_lines(
    store: &dyn AuditStateStore,
    pass: &str,
    from: u32,
    lines: Vec<String>,
) -> Result<u32, StoreError> {
    let mut n = from;
    let groups = saved::chunked(lines)
        .map_err(|e| StoreError::Unavailable(format!("the audit's run cannot be saved: {e}")))?;
    for group in groups {
        chunks::put(store, pass, n, &group).await?;
        n += 1;
    }
    Ok(n)
}

/// The report of a side that could not be read (logged).
pub(super) fn failed(e: &AuditError) -> Report {
    tracing::error!(side = e.side(), error = %e, "audit failed: a side could not be read");
    Report::failed(e.side(), e.to_string())
}
