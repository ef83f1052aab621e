//! One resync run: continue (or start) a pass until it completes, its time is up, or another
//! run holds it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::checkpoint::{self, Begin, Checkpoint, Counts, Phase};
use super::held;
use super::patient::Patient;
use super::period;
use super::plan::{self, Step};
use super::shared::Shared;
use crate::config::ResyncSettings;
use crate::link::{self, Klantcontact, Onderwerpobject};
use crate::openklant::{OpenKlantError, MAX_PAGE_SIZE};
use crate::pipeline::{Outcome, Seed, Truth};
use crate::reconcile::{self, Plan};
use crate::store::{CheckpointStore, LinkRecord, StoreError};
use crate::{Error, Zaaklink};

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

/// Phase 2 reads the store in pages this many times a list page: almost every stored link
/// was listed, so a store page costs a read and little else.
const STORE_PAGE_FACTOR: usize = 4;

/// A page is worked in batches of this many rounds of `concurrency` objects; before each
/// batch the deadline is checked (DESIGN §7).
const BATCH_ROUNDS: usize = 8;

/// Within a page, the part done is checkpointed when the run stops there, and otherwise at
/// most this often (it renews the lease too): a checkpoint after every batch cost a pass over
/// 100,000 objects about 6,400 extra writes and doubled its time (BENCHMARKS.md).
const PARTIAL_EVERY: Duration = Duration::from_secs(30);

/// A run starts a step (a page read, a batch) only when this many times the slowest step it
/// measured so far still fits before its deadline: the margin follows the measured time.
const MARGIN_STEPS: u32 = 2;

/// The time a run has left, and how long its steps take.
struct Clock {
    deadline: Option<Instant>,
    slowest: Duration,
    /// A stop was asked ([`Resync::stop`]): no room for another step.
    shared: Arc<Shared>,
}

impl Clock {
    /// Whether the next step fits: the deadline is at least [`MARGIN_STEPS`] times the
    /// slowest step measured away (no deadline: always), and no stop was asked.
    fn room(&self) -> bool {
        !self.shared.stopping()
            && self
                .deadline
                .is_none_or(|d| Instant::now() + self.slowest * MARGIN_STEPS < d)
    }

    /// Measure a step that started at `since`.
    fn took(&mut self, since: Instant) {
        self.slowest = self.slowest.max(since.elapsed());
    }
}

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

/// A run's state: the checkpoint, its stored version, who this run is.
struct Held {
    cp: Checkpoint,
    version: u64,
    owner: String,
    run: Counts,
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
        let owner = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let saved = self.checkpoints.load_checkpoint().await?;
        let (found, version) = match &saved {
            Some(s) => (
                Some(
                    serde_json::from_str::<Checkpoint>(&s.json)
                        .map_err(|e| StoreError::Corrupt(format!("resync checkpoint: {e}")))?,
                ),
                s.version,
            ),
            None => (None, 0),
        };
        let mut previous = None;
        let interval = period::pass_interval(&self.app, &self.settings, &self.shared.period, now).await;
        let cp = match checkpoint::begin(found.as_ref(), &owner, now, interval, force) {
            Begin::Busy => return Ok(self.report(Stop::Busy, None, Counts::default())),
            Begin::Idle { next } => {
                return Ok(self.report(
                    Stop::Idle {
                        next: checkpoint::ts(next),
                    },
                    found.as_ref(),
                    Counts::default(),
                ))
            }
            Begin::Continue => found.expect("continue has a checkpoint"),
            Begin::Start { previous: p } => {
                previous = p;
                Checkpoint::fresh(uuid::Uuid::new_v4().to_string(), now)
            }
        };
        let mut held = Held {
            cp,
            version,
            owner,
            run: Counts::default(),
        };
        held.cp.counts.runs += 1;
        if !self.save(&mut held).await? {
            return Ok(self.report(Stop::Busy, None, Counts::default()));
        }
        if let Some(p) = previous {
            if let Err(e) = self.checkpoints.drop_seen(&p.pass, p.chunks).await {
                tracing::warn!(error = %e, pass = %p.pass, "seen chunks of the previous pass not dropped");
            }
        }
        let result = self.work(&mut held, deadline).await;
        if matches!(result, Ok(Stop::PassDone)) {
            // Objects passed over because another writer held their outbox (`held`).
            let o = held::revisit(&self.app, &self.shared.held, deadline, || self.shared.stopping()).await;
            for c in [&mut held.run, &mut held.cp.counts] {
                c.written += o.written as u64;
                c.emitted += o.emitted as u64;
            }
        }
        match result {
            Ok(stop) => {
                if stop != Stop::LeaseLost {
                    held.cp.release();
                    self.save_unleased(&mut held).await?;
                }
                Ok(self.report(stop, Some(&held.cp), held.run.clone()))
            }
            Err(e) => {
                // Give the lease up so the next run continues at once; the checkpoint is as
                // the last finished page left it.
                held.cp.release();
                if let Err(s) = self.save_unleased(&mut held).await {
                    tracing::debug!(error = %s, "lease not released; it expires");
                }
                Err(e)
            }
        }
    }

    /// Give up the claim on the pass, whoever holds it; true when there was one. Only for a
    /// caller that knows no live run holds it: `zaaklink` opens the embedded state file in
    /// one process only, so a claim it finds there was left by a run that died (killed, or
    /// the machine went down), and one it holds itself is given up on INT/TERM. Never for a
    /// store that runs share (DynamoDB): there a dead run's claim simply expires.
    pub async fn release_claim(&self) -> Result<bool, Error> {
        for _ in 0..8 {
            let Some(saved) = self.checkpoints.load_checkpoint().await? else {
                return Ok(false);
            };
            let mut cp: Checkpoint = serde_json::from_str(&saved.json)
                .map_err(|e| StoreError::Corrupt(format!("resync checkpoint: {e}")))?;
            if cp.owner.is_none() && cp.lease_until.is_none() {
                return Ok(false);
            }
            cp.release();
            let json = serde_json::to_string(&cp).expect("a checkpoint serialises");
            match self.checkpoints.save_checkpoint(&json, saved.version).await {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable(
            "the resync checkpoint kept changing while its claim was given up".into(),
        )
        .into())
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

    fn report(&self, stop: Stop, cp: Option<&Checkpoint>, run: Counts) -> Report {
        Report {
            stop,
            pass: cp.map(|c| c.pass.clone()),
            phase: cp.map(|c| c.phase),
            run,
            pass_counts: cp.map(|c| c.counts.clone()).unwrap_or_default(),
        }
    }

    /// Save the checkpoint with a renewed lease; false when another run took it over.
    async fn save(&self, h: &mut Held) -> Result<bool, Error> {
        h.cp.lease(&h.owner, Utc::now(), self.settings.lease);
        self.save_unleased(h).await
    }

    async fn save_unleased(&self, h: &mut Held) -> Result<bool, Error> {
        let json = serde_json::to_string(&h.cp).expect("a checkpoint serialises");
        match self.checkpoints.save_checkpoint(&json, h.version).await {
            Ok(()) => {
                h.version += 1;
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
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

    /// Objects per batch: [`BATCH_ROUNDS`] rounds of `concurrency`.
    fn batch_size(&self) -> usize {
        BATCH_ROUNDS * self.settings.concurrency.max(1)
    }

    async fn work(&self, h: &mut Held, deadline: Option<Instant>) -> Result<Stop, Error> {
        let size = self.settings.page_size.clamp(1, MAX_PAGE_SIZE);
        let mut clock = Clock {
            deadline,
            slowest: Duration::ZERO,
            shared: self.shared.clone(),
        };
        let mut saved = Instant::now();
        while h.cp.phase == Phase::List {
            if !clock.room() {
                return Ok(Stop::Deadline);
            }
            let read = Instant::now();
            let page = h.cp.page;
            let listed = self.app.klant.zaak_onderwerpobjecten(page, size).await?;
            let Some(listed) = listed.filter(|p| !p.results.is_empty()) else {
                // Past the end (404) or an empty list. If the list shrank since the last page,
                // its last objects moved onto pages already read: read back to the last
                // page that still has objects and take those not seen on the last page.
                if page > 1 {
                    let tail: HashSet<&String> = h.cp.tail.iter().collect();
                    let mut extra = Vec::new();
                    let mut q = page - 1;
                    loop {
                        let got = self.app.klant.zaak_onderwerpobjecten(q, size).await?;
                        h.run.pages += 1;
                        h.run.rereads += 1;
                        h.cp.counts.pages += 1;
                        h.cp.counts.rereads += 1;
                        match got.filter(|p| !p.results.is_empty()) {
                            Some(p) => {
                                extra.extend(
                                    p.results
                                        .into_iter()
                                        .filter(|o| self.uuid_of(o).is_some_and(|u| !tail.contains(&u))),
                                );
                                break;
                            }
                            None if q > 1 => q -= 1,
                            None => break,
                        }
                    }
                    if !extra.is_empty() {
                        let mut records = self.records_of(&extra).await?;
                        let outcome = self
                            .work_objects(&extra, &mut records, &mut HashMap::new())
                            .await?;
                        let seen: Vec<String> = extra.iter().filter_map(|o| self.uuid_of(o)).collect();
                        self.checkpoints.put_seen(&h.cp.pass, h.cp.chunks, &seen).await?;
                        h.cp.chunks += 1;
                        for c in [&mut h.run, &mut h.cp.counts] {
                            c.objects += extra.len() as u64;
                            c.written += outcome.written as u64;
                            c.emitted += outcome.emitted as u64;
                        }
                    }
                }
                h.cp.phase = Phase::Stored;
                h.cp.partial.clear();
                if !self.save(h).await? {
                    return Ok(Stop::LeaseLost);
                }
                continue;
            };
            let mut objects = listed.results;
            let mut page_uuids: Vec<String> = objects.iter().filter_map(|o| self.uuid_of(o)).collect();
            let mut count_now = listed.count;
            let mut next_link = listed.next;
            // The list shrank since the last page: objects may have moved forward past the
            // boundary; read the pages they can be on again, ending with this page, and repeat
            // while the list keeps shrinking during those reads (DESIGN §7).
            let mut before = h.cp.count;
            let mut boundary_page = page;
            let mut taken: HashSet<String> = h.cp.tail.iter().cloned().collect();
            taken.extend(page_uuids.iter().cloned());
            for _ in 0..8 {
                let Some(from) = checkpoint::reread_from(boundary_page, size, before, count_now) else {
                    break;
                };
                let start_count = count_now;
                for q in from..=page {
                    let Some(p) = self.app.klant.zaak_onderwerpobjecten(q, size).await? else {
                        continue;
                    };
                    h.run.pages += 1;
                    h.run.rereads += 1;
                    h.cp.counts.pages += 1;
                    h.cp.counts.rereads += 1;
                    count_now = p.count;
                    if q == page {
                        page_uuids = p.results.iter().filter_map(|o| self.uuid_of(o)).collect();
                        next_link = p.next.clone();
                    }
                    for o in p.results {
                        if self.uuid_of(&o).is_some_and(|u| taken.insert(u)) {
                            objects.push(o);
                        }
                    }
                }
                before = Some(start_count);
                boundary_page = page + 1;
            }
            clock.took(read);
            // Batch by batch, the objects a run stopped within this page did not reach
            // (`partial` holds the ones it did); each batch checkpointed.
            let done: HashSet<String> = h.cp.partial.iter().cloned().collect();
            let todo: Vec<Onderwerpobject> = objects
                .iter()
                .filter(|o| self.uuid_of(o).is_none_or(|u| !done.contains(&u)))
                .cloned()
                .collect();
            let mut records = self.records_of(&todo).await?;
            let mut labels = HashMap::new();
            let batches: Vec<&[Onderwerpobject]> = todo.chunks(self.batch_size()).collect();
            for (i, batch) in batches.iter().enumerate() {
                let stop = !clock.room();
                if i > 0 && (stop || saved.elapsed() >= PARTIAL_EVERY) {
                    // The part done: in the seen chunk of this page first, then in the checkpoint.
                    self.checkpoints
                        .put_seen(&h.cp.pass, h.cp.chunks, &h.cp.partial)
                        .await?;
                    if !self.save(h).await? {
                        return Ok(Stop::LeaseLost);
                    }
                    saved = Instant::now();
                    self.tell(h);
                }
                if stop {
                    return Ok(Stop::Deadline);
                }
                let started = Instant::now();
                let outcome = self.work_objects(batch, &mut records, &mut labels).await?;
                clock.took(started);
                for c in [&mut h.run, &mut h.cp.counts] {
                    c.objects += batch.len() as u64;
                    c.written += outcome.written as u64;
                    c.emitted += outcome.emitted as u64;
                }
                h.cp.partial.extend(batch.iter().filter_map(|o| self.uuid_of(o)));
            }
            let mut seen: Vec<String> = objects.iter().filter_map(|o| self.uuid_of(o)).collect();
            seen.append(&mut h.cp.partial);
            seen.sort();
            seen.dedup();
            self.checkpoints.put_seen(&h.cp.pass, h.cp.chunks, &seen).await?;
            h.run.pages += 1;
            let c = &mut h.cp;
            c.chunks += 1;
            c.counts.pages += 1;
            c.tail = page_uuids;
            c.count = Some(count_now);
            c.page += 1;
            if next_link.as_deref().is_none_or(str::is_empty) {
                c.phase = Phase::Stored;
            }
            if !self.save(h).await? {
                return Ok(Stop::LeaseLost);
            }
            saved = Instant::now();
            self.tell(h);
        }
        if h.cp.phase == Phase::Stored {
            let seen: HashSet<String> = self
                .checkpoints
                .seen(&h.cp.pass, h.cp.chunks)
                .await?
                .into_iter()
                .collect();
            while h.cp.phase == Phase::Stored {
                if !clock.room() {
                    return Ok(Stop::Deadline);
                }
                let read = Instant::now();
                let (records, next) = self
                    .app
                    .store
                    .linked_page(h.cp.cursor.as_deref(), STORE_PAGE_FACTOR * size as usize)
                    .await?;
                clock.took(read);
                let done: HashSet<String> = h.cp.partial.iter().cloned().collect();
                let unlisted: Vec<LinkRecord> = records
                    .into_iter()
                    .filter(|r| !seen.contains(&r.onderwerpobject) && !done.contains(&r.onderwerpobject))
                    .collect();
                let batches: Vec<&[LinkRecord]> = unlisted.chunks(self.batch_size()).collect();
                for (i, batch) in batches.iter().enumerate() {
                    let stop = !clock.room();
                    if i > 0 && (stop || saved.elapsed() >= PARTIAL_EVERY) {
                        if !self.save(h).await? {
                            return Ok(Stop::LeaseLost);
                        }
                        saved = Instant::now();
                        self.tell(h);
                    }
                    if stop {
                        return Ok(Stop::Deadline);
                    }
                    let started = Instant::now();
                    let outcome = self.work_unlisted(batch.to_vec()).await?;
                    clock.took(started);
                    for c in [&mut h.run, &mut h.cp.counts] {
                        c.objects += batch.len() as u64;
                        c.written += outcome.written as u64;
                        c.emitted += outcome.emitted as u64;
                    }
                    h.cp.partial
                        .extend(batch.iter().map(|r| r.onderwerpobject.clone()));
                }
                let c = &mut h.cp;
                c.partial.clear();
                match next {
                    Some(n) => c.cursor = Some(n),
                    None => {
                        c.phase = Phase::Done;
                        c.finished = Some(checkpoint::ts(Utc::now()));
                    }
                }
                if !self.save(h).await? {
                    return Ok(Stop::LeaseLost);
                }
                saved = Instant::now();
                self.tell(h);
            }
            if let Err(e) = self.checkpoints.drop_seen(&h.cp.pass, h.cp.chunks).await {
                tracing::warn!(error = %e, "seen chunks of the finished pass not dropped; the next pass drops them");
            }
            // An interrupted write can leave an outbox on a record no page holds any more (a
            // link just dropped): the pass ends with the sweep, so it leaves none behind.
            match self.app.sweep().await {
                Ok(o) => h.run.emitted += o.emitted as u64,
                Err(e) => {
                    tracing::warn!(error = %e, "sweep after the pass failed; the scheduled sweep retries")
                }
            }
        }
        Ok(Stop::PassDone)
    }

    pub(super) fn uuid_of(&self, o: &Onderwerpobject) -> Option<String> {
        match self
            .app
            .settings
            .api_root
            .resource_uuid(&o.url, "onderwerpobjecten")
        {
            Ok((_, u)) => Some(u),
            Err(e) => {
                tracing::warn!(error = %e, "resync skips an onderwerpobject outside OPEN_KLANT_API_ROOT");
                None
            }
        }
    }

    /// Reconcile objects outside a pass's page (the head poll): their records in one batch
    /// read, then [`Self::work_objects`] as for one batch of a page.
    pub(super) async fn work_unpaged(&self, objects: &[Onderwerpobject]) -> Result<Outcome, Error> {
        let mut records = self.records_of(objects).await?;
        self.work_objects(objects, &mut records, &mut HashMap::new())
            .await
    }

    /// The stored records of a list page's objects, in one batch read (before any label of
    /// the page is read: a label is never older than the record it is compared with).
    async fn records_of(&self, objects: &[Onderwerpobject]) -> Result<HashMap<String, LinkRecord>, Error> {
        let mut keys: Vec<String> = objects.iter().filter_map(|o| self.uuid_of(o)).collect();
        keys.sort();
        keys.dedup();
        Ok(self
            .app
            .store
            .get_many(&keys)
            .await?
            .into_iter()
            .map(|r| (r.onderwerpobject.clone(), r))
            .collect())
    }

    /// Reconcile a batch of a list page's objects: their records from the page's batch read
    /// (`records`, taken out as they are used), labels only for links that are new or moved
    /// (read after the records, once per klantcontact and page: `labels` keeps those read for
    /// earlier batches of the page), writes only for what changed — through [`Zaaklink`]'s
    /// conditional write and outbox.
    pub(super) async fn work_objects(
        &self,
        objects: &[Onderwerpobject],
        records: &mut HashMap<String, LinkRecord>,
        labels: &mut HashMap<String, Option<Klantcontact>>,
    ) -> Result<Outcome, Error> {
        let mut uuids: Vec<(String, &Onderwerpobject)> = Vec::new();
        let mut once = HashSet::new();
        for o in objects {
            if let Some(u) = self.uuid_of(o) {
                if once.insert(u.clone()) {
                    uuids.push((u, o));
                }
            }
        }
        let steps: Vec<(String, &Onderwerpobject, Step)> = uuids
            .into_iter()
            .map(|(u, o)| {
                let s = plan::step(o, records.get(&u));
                (u, o, s)
            })
            .collect();
        let wanted: HashSet<String> = steps
            .iter()
            .filter_map(|(_, _, s)| match s {
                Step::NeedsLabel { klantcontact } if !labels.contains_key(klantcontact) => {
                    Some(klantcontact.clone())
                }
                _ => None,
            })
            .collect();
        let read: HashMap<String, Option<Klantcontact>> = bounded(
            self.settings.concurrency,
            wanted.into_iter().map(|url| {
                let klant = self.app.klant.clone();
                async move {
                    let kc = klant.klantcontact(&url).await;
                    (url, kc)
                }
            }),
        )
        .await
        .into_iter()
        .map(|(url, kc)| kc.map(|kc| (url, kc)))
        .collect::<Result<_, OpenKlantError>>()?;
        labels.extend(read);
        let max = self.app.settings.label_max_chars;
        let mut jobs = Vec::new();
        for (uuid, o, step) in steps {
            let record = records.remove(&uuid).unwrap_or_else(|| LinkRecord::absent(&uuid));
            let seed = match step {
                Step::Unchanged => continue,
                Step::Normal => None,
                Step::Drop => Some(Seed { record, new: None }),
                Step::NeedsLabel { klantcontact } => {
                    let new = labels
                        .get(&klantcontact)
                        .and_then(Option::as_ref)
                        .and_then(|kc| link::resolve(o, kc, max));
                    if reconcile::reconcile(record.link.as_ref(), new.as_ref()) == Plan::Unchanged {
                        continue;
                    }
                    Some(Seed { record, new })
                }
            };
            let (app, shared) = (self.app.clone(), self.shared.clone());
            let url = o.url.clone();
            jobs.push(async move {
                let r = app.sync(&uuid, Truth::Fetch(&url), seed).await;
                held::pass_over(&shared.held, &uuid, &url, r)
            });
        }
        sum(bounded(self.settings.objects_at_once(), jobs).await)
    }

    /// Phase 2: stored links the list did not show, each looked up (404 = gone).
    async fn work_unlisted(&self, records: Vec<LinkRecord>) -> Result<Outcome, Error> {
        let jobs = records.into_iter().filter_map(|r| {
            let url = r.link.as_ref()?.link_to.clone();
            let (app, shared) = (self.app.clone(), self.shared.clone());
            Some(async move {
                let result = app.sync(&r.onderwerpobject, Truth::Fetch(&url), None).await;
                held::pass_over(&shared.held, &r.onderwerpobject, &url, result)
            })
        });
        sum(bounded(self.settings.objects_at_once(), jobs).await)
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

/// The outcomes summed; the first error if any failed (the page is then not finished).
fn sum(results: Vec<Result<Outcome, Error>>) -> Result<Outcome, Error> {
    let mut total = Outcome::default();
    let mut first = None;
    for r in results {
        match r {
            Ok(o) => {
                total.written += o.written;
                total.emitted += o.emitted;
            }
            Err(e) => {
                tracing::warn!(error = %e, "resync: onderwerpobject not reconciled");
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(total), Err)
}

/// Run the futures, at most `limit` at once.
pub(super) async fn bounded<T, F>(limit: usize, futs: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    let mut it = futs.into_iter();
    loop {
        while set.len() < limit.max(1) {
            match it.next() {
                Some(f) => {
                    set.spawn(f);
                }
                None => break,
            }
        }
        match set.join_next().await {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => return out,
        }
    }
}
