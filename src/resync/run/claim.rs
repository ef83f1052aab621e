//! The claim on a pass: the checkpoint with this run as `owner` and a lease, taken with a
//! compare-and-set, renewed by every save, given up when the run ends (DESIGN §7, "A run").

use chrono::Utc;

use super::ahead::Ahead;
use super::look::Reads;
use super::{Report, Resync, Stop};
use crate::pipeline::Outcome;
use crate::resync::checkpoint::{self, Begin, Checkpoint, Counts};
use crate::resync::period;
use crate::store::StoreError;
use crate::Error;

/// A run's state: the checkpoint, its stored version, who this run is.
pub(super) struct Held {
    pub cp: Checkpoint,
    pub version: u64,
    pub owner: String,
    pub run: Counts,
    /// The labels read and the writes waiting for their look (this run only).
    pub reads: Reads,
    /// The next list page, being read while this one is worked.
    pub ahead: Option<Ahead>,
}

impl Held {
    /// `objects` looked at with this outcome: counted in the run and in the pass.
    pub fn count(&mut self, objects: usize, outcome: &Outcome) {
        for c in [&mut self.run, &mut self.cp.counts] {
            c.objects += objects as u64;
            c.written += outcome.written as u64;
            c.emitted += outcome.emitted as u64;
        }
    }
}

/// What taking the pass gave: the pass held by this run, or the report of why not.
pub(super) enum Taken {
    Held(Box<Held>),
    Not(Report),
}

impl Resync {
    /// Take the pass: continue the unfinished one or start a new one (`checkpoint::begin`
    /// decides), saved with this run's lease; the previous pass's seen chunks dropped.
    pub(super) async fn take(&self, force: bool) -> Result<Taken, Error> {
        let owner = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let (found, version) = self.load().await?;
        let mut previous = None;
        let interval = period::pass_interval(&self.app, &self.settings, &self.shared.period, now).await;
        let cp = match checkpoint::begin(found.as_ref(), &owner, now, interval, force) {
            Begin::Busy => return Ok(Taken::Not(self.report(Stop::Busy, None, Counts::default()))),
            Begin::Idle { next } => {
                let stop = Stop::Idle {
                    next: checkpoint::ts(next),
                };
                return Ok(Taken::Not(self.report(stop, found.as_ref(), Counts::default())));
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
            reads: Reads::default(),
            ahead: None,
        };
        held.cp.counts.runs += 1;
        if !self.save(&mut held).await? {
            return Ok(Taken::Not(self.report(Stop::Busy, None, Counts::default())));
        }
        if let Some(p) = previous {
            if let Err(e) = self.checkpoints.drop_seen(&p.pass, p.chunks).await {
                tracing::warn!(error = %e, pass = %p.pass, "seen chunks of the previous pass not dropped");
            }
        }
        Ok(Taken::Held(Box::new(held)))
    }

    /// The run's end: the lease given up (unless another run took the pass over), the
    /// checkpoint saved; on a failure too, so the next run continues at once.
    pub(super) async fn finish_run(
        &self,
        mut held: Held,
        result: Result<Stop, Error>,
    ) -> Result<Report, Error> {
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
            let mut cp = parse(&saved.json)?;
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

    /// The stored checkpoint and its version (0: none yet).
    async fn load(&self) -> Result<(Option<Checkpoint>, u64), Error> {
        Ok(match self.checkpoints.load_checkpoint().await? {
            Some(s) => (Some(parse(&s.json)?), s.version),
            None => (None, 0),
        })
    }

    /// Save the checkpoint with a renewed lease; false when another run took it over.
    pub(super) async fn save(&self, h: &mut Held) -> Result<bool, Error> {
        h.cp.lease(&h.owner, Utc::now(), self.settings.lease);
        self.save_unleased(h).await
    }

    pub(super) async fn save_unleased(&self, h: &mut Held) -> Result<bool, Error> {
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
}

fn parse(json: &str) -> Result<Checkpoint, Error> {
    serde_json::from_str::<Checkpoint>(json)
        .map_err(|e| StoreError::Corrupt(format!("resync checkpoint: {e}")).into())
}
