//! One resync run: continue (or start) a pass until it completes, its time is up, or another
//! run holds it (DESIGN §7). The run as a story of named steps, each in its own file:
//!
//! - `claim`: take the pass (the checkpoint with this run's lease), save it, give it up;
//! - `clock`: the time left before the deadline and how long steps take;
//! - `listing`: phase `list`'s page read, with the re-reads when the list shrank;
//! - `ahead`: the next list page read while the current one is worked;
//! - `planning`: what each object of a batch needs (the pure [`super::plan`] per object,
//!   the labels to read);
//! - `look`: the labels read once per run, and the after-write look once per page (objects)
//!   and once per klantcontact (labels);
//! - `page`: the page's work — records read at once, batches of objects reconciled through
//!   the pipeline's conditional write and outbox, bounded concurrency;
//! - `pool`: bounded concurrency, outcomes summed;
//! - `checkpoints`: the part done saved (partial, seen chunks, the page finished);
//! - `stored`: phase `stored` (the stored links the list did not show) and the pass's end.

use std::sync::Arc;
use std::time::Instant;

use super::checkpoint::{Checkpoint, Counts, Phase};
use super::held;
use super::patient::Patient;
use super::shared::Shared;
use crate::config::ResyncSettings;
use crate::store::CheckpointStore;
use crate::{Error, Zaaklink};

mod ahead;
mod checkpoints;
mod claim;
mod clock;
mod listing;
mod look;
mod page;
mod planning;
mod pool;
mod stored;

use claim::{Held, Taken};
use clock::Clock;
pub(in crate::resync) use pool::bounded;

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The pass completed.
    PassDone,
    /// Its time was up; the checkpoint holds where the next run continues.
    Deadline,
    /// Another run holds the pass.
    Busy,
    /// The last pass completed less than the interval ago.
    Idle { next: String },
    /// Another run took the pass over meanwhile (this run's lease had expired).
    LeaseLost,
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub stop: Stop,
    /// The pass worked on (None when busy).
    pub pass: Option<String>,
    pub phase: Option<Phase>,
    /// This run alone.
    pub run: Counts,
    /// The pass so far (all its runs).
    pub pass_counts: Counts,
}

/// Where a run is, for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: Phase,
    /// The next list page.
    pub page: u32,
    /// The list's size as Open Klant last counted it.
    pub listed: Option<u64>,
    pub run: Counts,
}

type OnProgress = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The resync over a pipeline and a checkpoint store.
#[derive(Clone)]
pub struct Resync {
    app: Zaaklink,
    checkpoints: Arc<dyn CheckpointStore>,
    settings: ResyncSettings,
    progress: Option<OnProgress>,
    /// Shared by its clones and runs: a stop request, objects passed over (`held`).
    shared: Arc<Shared>,
}

impl Resync {
    /// Open Klant reads of the resync are retried with backoff ([`Patient`]).
    pub fn new(app: &Zaaklink, checkpoints: Arc<dyn CheckpointStore>, settings: ResyncSettings) -> Self {
        let mut app = app.clone();
        app.klant = Arc::new(Patient {
            inner: app.klant.clone(),
            retries: settings.retries,
            base: settings.retry_base,
        });
        Resync {
            app,
            checkpoints,
            settings,
            progress: None,
            shared: Arc::default(),
        }
    }

    /// Call `f` after every page.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// One run: continue the unfinished pass, or start one when the last completed at least
    /// `interval` ago (`force`: whatever the interval), until the pass completes or
    /// `deadline` (None = no limit) is reached — then the checkpoint is saved and the lease
    /// given up. A failure saves nothing beyond the last finished page.
    pub async fn run(&self, deadline: Option<Instant>, force: bool) -> Result<Report, Error> {
        let mut held = match self.take(force).await? {
            Taken::Held(h) => *h,
            Taken::Not(report) => return Ok(report),
        };
        let result = self.work(&mut held, deadline).await;
        if matches!(result, Ok(Stop::PassDone)) {
            // Objects passed over because another writer held their outbox (`held`).
            let o = held::revisit(&self.app, &self.shared.held, deadline, || self.shared.stopping()).await;
            for c in [&mut held.run, &mut held.cp.counts] {
                c.written += o.written as u64;
                c.emitted += o.emitted as u64;
            }
        }
        self.finish_run(held, result).await
    }

    /// Runs until the pass that is open (or a new one) has completed; for the CLI and tests.
    pub async fn full_pass(&self) -> Result<Report, Error> {
        let mut total = Counts::default();
        let mut force = true;
        loop {
            let r = self.run(None, force).await?;
            force = false;
            add(&mut total, &r.run);
            match r.stop {
                Stop::PassDone => return Ok(Report { run: total, ..r }),
                Stop::Busy | Stop::LeaseLost | Stop::Idle { .. } => return Ok(Report { run: total, ..r }),
                // asked to stop (INT/TERM): the run saved where it was
                Stop::Deadline if self.shared.stopping() => return Ok(Report { run: total, ..r }),
                Stop::Deadline => continue,
            }
        }
    }

    /// The pass's work in this run: the list page by page, then the stored links the list
    /// did not show, then the pass's end. Each step says when the run must stop. The labels
    /// written are looked at again before the run leaves the list (DESIGN §7).
    async fn work(&self, h: &mut Held, deadline: Option<Instant>) -> Result<Stop, Error> {
        let mut clock = Clock::new(deadline, self.shared.clone());
        while h.cp.phase == Phase::List {
            if let Some(stop) = self.list_page(h, &mut clock).await? {
                self.label_look(h, &mut clock).await?;
                return Ok(stop);
            }
        }
        self.label_look(h, &mut clock).await?;
        if h.cp.phase == Phase::Stored {
            if let Some(stop) = self.stored_phase(h, &mut clock).await? {
                return Ok(stop);
            }
            self.end_pass(h).await;
        }
        Ok(Stop::PassDone)
    }

    /// One list page: read it (with the re-reads a shrunk list needs; the next one is read
    /// meanwhile), work its objects in batches, look at what it wrote, save it as done. Past the end of the list, the tail
    /// read back and phase `stored` begins.
    async fn list_page(&self, h: &mut Held, clock: &mut Clock) -> Result<Option<Stop>, Error> {
        if h.reads.label_look_due(clock.timed()) {
            self.label_look(h, clock).await?;
        }
        clock.owe(self.look_rounds(&h.reads));
        if !clock.room() {
            return Ok(Some(Stop::Deadline));
        }
        let Some(page) = self.read_page(h).await? else {
            self.read_back_tail(h).await?;
            return self.list_ended(h).await;
        };
        clock.read_lasted(page.took);
        let todo = self.todo(&page, &h.cp.partial);
        let stopped = self.work_page(h, clock, &todo, &page.sent).await?;
        let look = self.look_at_objects(&mut h.reads, Some(h.cp.page)).await?;
        h.count(0, &look);
        if stopped.is_some() {
            return Ok(stopped);
        }
        self.page_done(h, clock, page).await
    }

    /// The label look (a step the clock measures), its writes counted.
    async fn label_look(&self, h: &mut Held, clock: &mut Clock) -> Result<(), Error> {
        let started = Instant::now();
        let look = self.look_at_labels(&mut h.reads).await?;
        clock.took(started);
        h.count(0, &look);
        Ok(())
    }

    fn report(&self, stop: Stop, cp: Option<&Checkpoint>, run: Counts) -> Report {
        Report {
            stop,
            pass: cp.map(|c| c.pass.clone()),
            phase: cp.map(|c| c.phase),
            run,
            pass_counts: cp.map(|c| c.counts.clone()).unwrap_or_default(),
        }
    }

    fn tell(&self, h: &Held) {
        if let Some(f) = &self.progress {
            f(&Progress {
                phase: h.cp.phase,
                page: h.cp.page,
                listed: h.cp.count,
                run: h.run.clone(),
            });
        }
    }
}

/// What the head poll ([`super::head`]) uses of the resync: the same pipeline (with the
/// patient Open Klant), checkpoint store, settings and page work.
impl Resync {
    pub(super) fn app(&self) -> &Zaaklink {
        &self.app
    }

    pub(super) fn checkpoints(&self) -> &Arc<dyn CheckpointStore> {
        &self.checkpoints
    }

    pub(super) fn settings(&self) -> &ResyncSettings {
        &self.settings
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn add(total: &mut Counts, c: &Counts) {
    total.objects += c.objects;
    total.written += c.written;
    total.emitted += c.emitted;
    total.pages += c.pages;
    total.rereads += c.rereads;
}
