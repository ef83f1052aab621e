//! The head poll (DESIGN §7a), on the resync function: when it polls, and each poll with the
//! pass it asks for.

use serde_json::Value;

use super::scheduled::resync_job;
use super::{Job, LambdaError};
use crate::resync::{HeadPoll, Resync};
use crate::telemetry;

/// When the head job polls (DESIGN §7a). The schedule's Input `{"zaaklink": "head",
/// "pollEvery": 15}` (the stack's `HeadPollEvery`) polls every 15 s for the minute until the
/// schedule's next invocation (`pollFor`, seconds, default 60): at 0, 15, 30 and 45 s. Without
/// `pollEvery` (or with one of `pollFor` or more), once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadPolls {
    pub every: Option<std::time::Duration>,
    pub window: std::time::Duration,
}

/// The minute one scheduled invocation covers (`HeadPollSchedule`, `rate(1 minute)`).
pub const HEAD_POLL_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl HeadPolls {
    /// Read from the event (any other event: one poll).
    pub fn of(event: &Value) -> Self {
        let secs = |k: &str| {
            event
                .get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(std::time::Duration::from_secs_f64)
        };
        HeadPolls {
            // never more than one poll a second, whatever an invocation asks
            every: secs("pollEvery").map(|d| d.max(std::time::Duration::from_secs(1))),
            window: secs("pollFor").unwrap_or(HEAD_POLL_WINDOW),
        }
    }

    /// The moments of the polls, from the invocation's start: 0, every, 2·every, … before
    /// the window ends (pure).
    pub fn offsets(&self) -> Vec<std::time::Duration> {
        let mut at = vec![std::time::Duration::ZERO];
        if let Some(every) = self.every.filter(|e| !e.is_zero()) {
            while let Some(next) = at.last().map(|t| *t + every).filter(|t| *t < self.window) {
                at.push(next);
            }
        }
        at
    }
}

/// The head job: a poll at each of [`HeadPolls::offsets`]. A poll that asks for a pass
/// starts it at once, in this invocation: inline when the invocation polls once, otherwise
/// beside the polls that follow, which keep their moments while it runs (a poll that sees
/// objects leave the list meanwhile looks them up itself: `resync::head`'s list look). A poll
/// whose moment passed while the one before it ran runs at once, unless the next one's moment
/// has passed too (then it is skipped); none starts after `stop_at`. The invocation ends when
/// its polls and the pass have. A failing poll ends the invocation with its error: the next
/// invocation polls again.
pub(super) async fn head_job(
    resync: &Resync,
    polls: HeadPolls,
    stop_at: Option<std::time::Instant>,
) -> Result<Value, LambdaError> {
    let start = std::time::Instant::now();
    let offsets = polls.offsets();
    if offsets.len() == 1 {
        let (mut answer, due) = head_round(resync).await?;
        if due {
            answer["resync"] = resync_job(resync, stop_at, true).await?;
        }
        return Ok(answer);
    }
    let mut rounds = Vec::new();
    let mut pass: Option<(usize, tokio::task::JoinHandle<Result<Value, LambdaError>>)> = None;
    for (k, offset) in offsets.iter().enumerate() {
        let at = start + *offset;
        let now = std::time::Instant::now();
        let next_passed = offsets.get(k + 1).is_some_and(|n| start + *n <= now);
        if k > 0 && (next_passed || stop_at.is_some_and(|s| at.max(now) >= s)) {
            continue;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        let (answer, due) = match head_round(resync).await {
            Ok(round) => round,
            Err(e) => {
                // The pass under way ends (or stops at `stop_at`) before the invocation does.
                let _ = settle(&mut rounds, pass).await;
                return Err(e);
            }
        };
        rounds.push(answer);
        if due && pass.as_ref().is_none_or(|(_, p)| p.is_finished()) {
            settle(&mut rounds, pass.take()).await?;
            let resync = resync.clone();
            let run = tokio::spawn(async move { resync_job(&resync, stop_at, true).await });
            pass = Some((rounds.len() - 1, run));
        }
    }
    settle(&mut rounds, pass).await?;
    Ok(serde_json::json!({"job": "head", "polls": rounds}))
}

/// The pass a poll started (if any): awaited, its answer put with that poll's.
async fn settle(
    rounds: &mut [Value],
    pass: Option<(usize, tokio::task::JoinHandle<Result<Value, LambdaError>>)>,
) -> Result<(), LambdaError> {
    if let Some((k, run)) = pass {
        // A panic in the pass is the invocation's, as it would be inline.
        let answer = run
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        rounds[k]["resync"] = answer?;
    }
    Ok(())
}

/// One head poll: its answer, and whether it asks for a pass.
async fn head_round(resync: &Resync) -> Result<(Value, bool), LambdaError> {
    let head = HeadPoll::new(resync);
    let r = match head.poll().await {
        Ok(r) => r,
        Err(error) => {
            tracing::error!(error = %error, "head poll failed; the next poll sees the same objects as new");
            return Err(LambdaError::Job {
                job: Job::Head,
                error,
            });
        }
    };
    telemetry::events_put(r.emitted as u64);
    tracing::info!(listed = r.listed, count = r.count, new = r.new, written = r.written,
        emitted = r.emitted, why = ?r.why, pass_due = r.pass_due, "head poll done");
    let due = r.pass_due;
    Ok((serde_json::json!({"job": "head", "poll": r}), due))
}
