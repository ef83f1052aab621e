//! An audit over several invocations (I/O, DESIGN §9 "A run over several invocations"): the
//! scheduled audit on AWS takes the saved run (or starts one) with a lease, works its stages
//! until the invocation's budget ends, saves where it stands and ends "continued"; the next
//! invocation (the audit's continuation tick, every minute) goes on from there.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::look::Candidate;
use super::read::AuditError;
use super::report::Report;
use super::saved::{self, Begin, SavedRun, Stage, MAX_INVOCATIONS};
use super::sides::{OpenKlantSide, OpenZaakSide};
use super::work::{failed, Budget, Work};
use super::{chunks, Audit};
use crate::resync::checkpoint::{parse, ts};
use crate::store::{AuditStateStore, StoreError};

/// What one invocation of the saved audit did.
#[derive(Debug, Clone)]
pub enum Ran {
    /// The run is complete: its report (over all its invocations).
    Finished(Box<Report>),
    /// The budget ended first: the run is saved and the next invocation continues it.
    Continued {
        run: String,
        stage: Stage,
        invocations: u32,
    },
    /// Another invocation works the run (or took it over meanwhile).
    Busy,
    /// Nothing to continue (a continuation tick with no unfinished run).
    Idle,
    /// The run did not finish within [`MAX_INVOCATIONS`] invocations and was given up.
    Abandoned { run: String, invocations: u32 },
}

impl Audit {
    /// One invocation of the saved audit (`start`: the audit's schedule, which may start a
    /// run; otherwise a continuation tick). Work stops in time for `deadline`. A side that
    /// cannot be read ends the invocation with a failed report (exit status 2); the run stays
    /// saved as it was, and the next invocation tries again.
    pub async fn run_saved(
        &self,
        store: Arc<dyn AuditStateStore>,
        deadline: Option<Instant>,
        start: bool,
    ) -> Ran {
        let mut w = match self.take(store, deadline, start).await {
            Ok(Ok(w)) => w,
            Ok(Err(ran)) => return ran,
            Err(e) => return Ran::Finished(Box::new(failed(&e))),
        };
        let result = match self.load(&mut w).await {
            Ok(()) => self.drive(&mut w).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(true) => self.complete(&mut w).await,
            Ok(false) => self.stop(&mut w).await,
            Err(AuditError::State(StoreError::Conflict)) => Ran::Busy,
            Err(e) => {
                // The run stays as last saved (a consistent point: what came after it is
                // done again, and mends written ahead are left alone); only the lease goes.
                if let Some(last) = w.saved.clone() {
                    w.doc = last;
                    w.doc.release();
                    let _ = self.save_doc(&mut w, false).await;
                }
                Ran::Finished(Box::new(failed(&e)))
            }
        }
    }

    /// Take the saved run (or start one) with this invocation's lease.
    async fn take(
        &self,
        store: Arc<dyn AuditStateStore>,
        deadline: Option<Instant>,
        start: bool,
    ) -> Result<Result<Work, Ran>, AuditError> {
        let found = store.load_audit().await?;
        let (doc, version) = match &found {
            Some(s) => (Some(parse_doc(&s.json)?), s.version),
            None => (None, 0),
        };
        let mut w = Work::new(
            SavedRun::fresh(String::new(), Utc::now()),
            Some(store.clone()),
            Budget::new(deadline),
        );
        w.version = version;
        match saved::begin(doc.as_ref(), &w.owner, Utc::now(), start) {
            Begin::Busy => return Ok(Err(Ran::Busy)),
            Begin::Idle => return Ok(Err(Ran::Idle)),
            Begin::Continue => w.doc = doc.expect("continue has a run"),
            Begin::Start { previous } => {
                if let Some(p) = previous {
                    tracing::warn!(run = %p.run, started = %p.started, "audit: the saved run is too old; it is discarded and a new one starts");
                    drop_chunks(store.as_ref(), &p).await;
                }
                w.doc = SavedRun::fresh(uuid::Uuid::new_v4().to_string(), Utc::now());
            }
        }
        w.doc.invocations += 1;
        match self.save_doc(&mut w, true).await {
            Ok(()) => Ok(Ok(w)),
            Err(AuditError::State(StoreError::Conflict)) => Ok(Err(Ran::Busy)),
            Err(e) => Err(e),
        }
    }

    /// What the saved run holds for its stage, back in memory.
    async fn load(&self, w: &mut Work) -> Result<(), AuditError> {
        let store = w.store.clone().expect("a saved run has a store");
        let root = &self.app.settings.api_root;
        let corrupt =
            |e: String| AuditError::State(StoreError::Corrupt(format!("the audit's saved run: {e}")));
        match w.doc.stage {
            Stage::List => {
                let (mut ok, mut oz) = (OpenKlantSide::default(), OpenZaakSide::default());
                for line in chunks::load(&store, &w.doc.pass("ok"), w.doc.open_klant.chunks)
                    .await?
                    .concat()
                {
                    let (uuid, e) = saved::parse_ok_line(&line).map_err(corrupt)?;
                    ok.links.insert(uuid, e);
                }
                for line in chunks::load(&store, &w.doc.pass("oz"), w.doc.open_zaak.chunks)
                    .await?
                    .concat()
                {
                    oz.add(root, saved::parse_oz_line(&line).map_err(corrupt)?);
                }
                (w.ok, w.oz) = (ok, oz);
            }
            Stage::Look => {
                let lines = chunks::load(&store, &w.doc.pass("candidates"), w.doc.candidates).await?;
                w.candidates = lines
                    .concat()
                    .iter()
                    .map(|l| serde_json::from_str::<Candidate>(l).map_err(|e| corrupt(e.to_string())))
                    .collect::<Result<_, _>>()?;
                let pass = w.doc.pass(&format!("report-{}", w.doc.report_gen));
                let text = chunks::load(&store, &pass, w.doc.report).await?.concat().concat();
                w.report = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
            }
            Stage::Done | Stage::Abandoned => {}
        }
        Ok(())
    }

    /// The budget ended: save where the run stands and end "continued" — or, after
    /// [`MAX_INVOCATIONS`], give the run up.
    async fn stop(&self, w: &mut Work) -> Ran {
        let store = w.store.clone().expect("a saved run has a store");
        if w.doc.invocations >= MAX_INVOCATIONS {
            w.doc.stage = Stage::Abandoned;
            w.doc.finished = Some(ts(Utc::now()));
            w.doc.release();
            if let Err(e) = self.save_doc(w, false).await {
                tracing::warn!(error = %e, "audit: the abandoned run was not saved");
            }
            drop_chunks(store.as_ref(), &w.doc).await;
            return Ran::Abandoned {
                run: w.doc.run.clone(),
                invocations: w.doc.invocations,
            };
        }
        let saved = if w.doc.stage == Stage::Look {
            self.save(w, true).await
        } else {
            Ok(())
        };
        w.doc.release();
        match saved.and(self.save_doc(w, false).await) {
            Ok(()) => Ran::Continued {
                run: w.doc.run.clone(),
                stage: w.doc.stage,
                invocations: w.doc.invocations,
            },
            Err(AuditError::State(StoreError::Conflict)) => Ran::Busy,
            Err(e) => Ran::Finished(Box::new(failed(&e))),
        }
    }

    /// The report is complete: the run saved as done, its chunks dropped.
    async fn complete(&self, w: &mut Work) -> Ran {
        let store = w.store.clone().expect("a saved run has a store");
        let mut report = self.finished(w);
        report.invocations = w.doc.invocations;
        report.seconds = parse(&w.doc.started).map_or(0.0, |t| (Utc::now() - t).as_seconds_f64());
        w.doc.stage = Stage::Done;
        w.doc.finished = Some(ts(Utc::now()));
        w.doc.release();
        if let Err(e) = self.save_doc(w, false).await {
            tracing::warn!(error = %e, "audit: the finished run was not saved as done");
        }
        drop_chunks(store.as_ref(), &w.doc).await;
        Ran::Finished(Box::new(report))
    }
}

/// Whether a saved run waits to be continued (a continuation tick asks before it reads any
/// credentials: with none it ends at once, after one read of the store).
pub async fn unfinished_run(store: &dyn AuditStateStore) -> Result<bool, StoreError> {
    Ok(match store.load_audit().await? {
        Some(s) => parse_doc(&s.json).is_ok_and(|d| matches!(d.stage, Stage::List | Stage::Look)),
        None => false,
    })
}

/// Every chunk a run may have left.
async fn drop_chunks(store: &dyn AuditStateStore, run: &SavedRun) {
    chunks::drop(store, &run.pass("ok"), run.open_klant.chunks).await;
    chunks::drop(store, &run.pass("oz"), run.open_zaak.chunks).await;
    chunks::drop(store, &run.pass("candidates"), run.candidates).await;
    chunks::drop(
        store,
        &run.pass(&format!("report-{}", run.report_gen)),
        run.report,
    )
    .await;
}

fn parse_doc(json: &str) -> Result<SavedRun, AuditError> {
    serde_json::from_str(json)
        .map_err(|e| AuditError::State(StoreError::Corrupt(format!("the audit's saved run: {e}"))))
}
