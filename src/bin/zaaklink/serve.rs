//! `zaaklink serve`: the webhook over HTTP, with the head poll, the resync and the audit on
//! their schedules in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{spawn_scheduled_audit, ServeAuditArgs};
use crate::dead_claims::take_over_dead_claim;
use crate::local::LocalArgs;
use crate::schedule::every;
use crate::webhook_endpoint::{webhook_endpoint, Served};

pub(crate) async fn serve(
    local: LocalArgs,
    listen: SocketAddr,
    resync_every: String,
    head_poll_every: String,
    scheduled_audit: ServeAuditArgs,
) -> Result<(), String> {
    let (app, cfg, resync) = local.build_with_resync()?;
    take_over_dead_claim(&resync).await?;
    let resync_every = every("--resync-every / ZAAKLINK_RESYNC_EVERY", &resync_every)?;
    let head_every = every("--head-poll-every / ZAAKLINK_HEAD_POLL_EVERY", &head_poll_every)?;
    // The head poll wakes the resync task when a pass is due (DESIGN §7a).
    let wake = Arc::new(tokio::sync::Notify::new());
    if let Some(every) = head_every {
        spawn_head_poll(zaaklink::resync::HeadPoll::new(&resync), every, wake.clone());
    }
    if resync_every.is_some() || head_every.is_some() {
        tokio::spawn(async move {
            // Without --resync-every the task runs only the passes the head poll asks for.
            let period = resync_every.unwrap_or(Duration::from_secs(365 * 86_400));
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let force = tokio::select! {
                    _ = ticks.tick() => false,
                    () = wake.notified() => true,
                };
                match resync.run(None, force).await {
                    Ok(r) => tracing::info!(stop = ?r.stop, pass = ?r.pass, objects = r.run.objects,
                        written = r.run.written, emitted = r.run.emitted, "resync run done"),
                    Err(e) => {
                        tracing::warn!(error = %e, "resync run failed; the next one continues from the checkpoint")
                    }
                }
            }
        });
    }
    spawn_scheduled_audit(&local, &scheduled_audit, &app)?;
    let served = Arc::new(Served {
        app,
        auth: cfg.webhook_auth,
    });
    let router = axum::Router::new()
        .route("/", axum::routing::any(webhook_endpoint))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on --listen {listen}: {e}"))?;
    tracing::info!(listen = %listener.local_addr().map_err(|e| e.to_string())?, state = %local.state.display(), sink = %zaaklink::secret::redact(&local.sink), "zaaklink serve is ready: POST notifications and CloudEvents to /");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// Reconciles of a head poll's new objects running at once (each at most a head page): a
/// poll waits for one to finish only when this many are still delivering.
const HEAD_HAND_OFFS: usize = 4;

/// The head poll on its own timer (DESIGN §7a). Each poll looks (lists the head page, looks
/// up what left it, wakes the resync when a pass is due) and hands its new objects' reconcile
/// off to run beside the next polls: the polls keep their period while a burst is delivered
/// and while a pass runs.
fn spawn_head_poll(head: zaaklink::resync::HeadPoll, every: Duration, wake: Arc<tokio::sync::Notify>) {
    let hand_offs = Arc::new(tokio::sync::Semaphore::new(HEAD_HAND_OFFS));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (r, ahead) = match head.poll_ahead().await {
                Ok(polled) => polled,
                Err(e) => {
                    tracing::warn!(error = %e, "head poll failed; the next poll sees the same objects as new");
                    continue;
                }
            };
            tracing::info!(listed = r.listed, count = r.count, new = r.new, written = r.written,
                emitted = r.emitted, why = ?r.why, pass_due = r.pass_due, "head poll done");
            if r.pass_due {
                wake.notify_one();
            }
            if ahead.is_empty() {
                continue;
            }
            let permit = hand_offs.clone().acquire_owned().await.expect("never closed");
            tokio::spawn(async move {
                let _permit = permit;
                let new = ahead.len();
                match ahead.run().await {
                    Ok(o) => tracing::info!(
                        new,
                        written = o.written,
                        emitted = o.emitted,
                        "head poll's new objects reconciled"
                    ),
                    Err(e) => tracing::warn!(error = %e, new,
                        "head poll's new objects not all reconciled; the next poll looks them up"),
                }
            });
        }
    });
}
