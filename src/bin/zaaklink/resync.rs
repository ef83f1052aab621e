//! `zaaklink resync`: a full pass with a progress bar on a terminal, stopped cleanly by INT/TERM.

use std::io::IsTerminal;
use std::time::Duration;

use zaaklink::resync::{progress, Resync};

use crate::dead_claims::take_over_dead_claim;
use crate::local::LocalArgs;

/// Continue the unfinished pass or run a new one; the summary on stderr.
pub(crate) async fn resync(local: LocalArgs) -> Result<(), String> {
    let (_, _, resync) = local.build_with_resync()?;
    // This process opened the state file, which opens in one process only: a claim on
    // the pass found in it was left by a run that died (killed with -9, a crash).
    take_over_dead_claim(&resync).await?;
    let started = std::time::Instant::now();
    // A progress bar on a terminal; elsewhere (a log, a pipe) only the summary.
    let (resync, bar) = if std::io::stderr().is_terminal() {
        let (bar, update) = progress::terminal_bar(started);
        (resync.on_progress(update), Some(bar))
    } else {
        (resync, None)
    };
    // INT/TERM: take no new objects, finish the batch in flight, save the checkpoint
    // and give the claim up, so that the next `zaaklink resync` continues at once.
    let mut pass = Box::pin(resync.full_pass());
    let result = tokio::select! {
        r = &mut pass => r,
        signal = stop_signal() => {
            resync.stop();
            tracing::info!(signal, "resync stopping: no new objects; the ones in flight finish and the pass is checkpointed");
            let ended = tokio::select! {
                r = &mut pass => Some(r),
                () = tokio::time::sleep(STOP_GRACE) => None,
                _ = stop_signal() => None,
            };
            drop(pass);
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return Err(interrupted(&resync, signal, ended, started).await);
        }
    };
    drop(pass);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let r = result.map_err(|e| e.to_string())?;
    eprintln!("{}", progress::summary(&r, started.elapsed()));
    progress::outcome(&r)
}

/// How long `zaaklink resync` waits, after INT/TERM, for the objects in flight (at most one
/// batch: 8 × RESYNC_CONCURRENCY) before it gives them up; a second signal gives them up at once.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What `zaaklink resync` says when INT/TERM stopped it: the run ended cleanly (checkpointed,
/// claim given up), or what was in flight was given up after [`STOP_GRACE`] and its claims
/// released here.
async fn interrupted(
    resync: &Resync,
    signal: &str,
    ended: Option<Result<zaaklink::resync::Report, zaaklink::Error>>,
    started: std::time::Instant,
) -> String {
    let secs = started.elapsed().as_secs_f64();
    match ended {
        Some(Ok(r)) => format!(
            "resync interrupted by {signal} after {secs:.1} s: the objects in flight were finished and the pass is checkpointed ({} checked, {} changed, {} events emitted in this run); run `zaaklink resync` again to continue it",
            r.run.objects, r.run.written, r.run.emitted
        ),
        Some(Err(e)) => format!(
            "resync interrupted by {signal} after {secs:.1} s; the run failed while stopping ({e}); the pass is checkpointed up to its last batch: run `zaaklink resync` again to continue it"
        ),
        None => {
            let claim = resync.release_claim().await;
            let outbox = resync.release_outbox_claims().await;
            let released = match (&claim, &outbox) {
                (Ok(_), Ok(n)) => format!("their {n} outbox claims and the claim on the pass released"),
                _ => "their claims not released; the next `zaaklink resync` on this state file takes them over".into(),
            };
            format!(
                "resync interrupted by {signal} after {secs:.1} s: the objects in flight were given up ({released}); the pass is checkpointed up to its last batch: run `zaaklink resync` again to continue it"
            )
        }
    }
}

/// The first INT (Ctrl-C) or TERM, by name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
