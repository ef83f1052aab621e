//! A `zaaklink resync` killed in any way restarts at once (issue 25 item 3), with the real
//! binary and a sink as slow as Open Zaak, so the signal lands while events are being put:
//! - TERM: the run takes no new objects, finishes the ones in flight (their outboxes put and
//!   cleared), checkpoints, gives its claim up and exits; the restart continues with no error
//!   and exit 0, and every event went out exactly once;
//! - KILL in the middle of a put: the dead run's outbox claim is released at the restart (the
//!   state file opens in one process only), the restart exits 0, and every object got its one
//!   event (its id possibly twice: the put the kill cut off is put again).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use zaaklink::store::embedded::EmbeddedStore;

/// An HTTP sink that takes `delay_ms` per event, and counts the puts in flight.
pub(super) struct SlowCollector {
    pub(super) url: String,
    pub(super) events: Arc<Mutex<Vec<Value>>>,
    pub(super) in_flight: Arc<AtomicUsize>,
    pub(super) delay_ms: Arc<AtomicU64>,
}

pub(super) async fn slow_collector(delay_ms: u64) -> SlowCollector {
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let delay = Arc::new(AtomicU64::new(delay_ms));
    let (e, f, d) = (events.clone(), in_flight.clone(), delay.clone());
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let (e, f, d) = (e.clone(), f.clone(), d.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                e.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                tokio::time::sleep(Duration::from_millis(d.load(Ordering::SeqCst))).await;
                f.fetch_sub(1, Ordering::SeqCst);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    SlowCollector {
        url,
        events,
        in_flight,
        delay_ms: delay,
    }
}

const OBJECTS: usize = 48;

/// `zaaklink resync` on `state`: pages of 10, two objects at once (batches of 16).
fn cli(ok: &FakeOpenKlant, state: &Path, sink: &str) -> std::process::Command {
    let mut c = crate::common::cli::zaaklink_cli("resync", state, &ok.api_root(), AUTH, TOKEN);
    c.args(["--sink", sink])
        .env("RESYNC_PAGE_SIZE", "10")
        .env("RESYNC_CONCURRENCY", "2");
    c
}

/// Start `zaaklink resync`, wait until `ready` holds (generous deadline), send `signal`,
/// wait for the exit: its status and stderr.
async fn stop_when(
    ok: &FakeOpenKlant,
    state: &Path,
    col: &SlowCollector,
    signal: &str,
    ready: impl Fn(&SlowCollector) -> bool,
) -> (std::process::ExitStatus, String) {
    let mut child = cli(ok, state, &col.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(180);
    while !ready(col) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {signal}"
        );
        assert!(Instant::now() < until, "the run never got under way");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The restart, at once: it must end the pass with exit 0 and no conflict.
fn restart(ok: &FakeOpenKlant, state: &Path, col: &SlowCollector) -> String {
    let out = cli(ok, state, &col.url).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the restart failed: {stderr}");
    assert!(stderr.contains("resync done (PassDone)"), "{stderr}");
    assert!(!stderr.contains("kept changing"), "{stderr}");
    stderr
}

/// Event ids per object (linkTo) as the sink received them, and how many events in all.
fn by_object(col: &SlowCollector) -> (BTreeMap<String, BTreeSet<String>>, usize) {
    let events = col.events.lock().unwrap();
    let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events.iter() {
        by.entry(e["data"]["linkTo"].as_str().unwrap().to_string())
            .or_default()
            .insert(e["id"].as_str().unwrap().to_string());
    }
    (by, events.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn term_mid_pass_then_an_immediate_restart_puts_every_event_exactly_once() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    for i in 0..OBJECTS {
        put(&ok, i, Some(i % 3));
    }
    let col = slow_collector(150).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    for signal in ["TERM", "INT"] {
        let before = col.events.lock().unwrap().len();
        let (status, stderr) = stop_when(&ok, &state, &col, signal, |c| {
            c.in_flight.load(Ordering::SeqCst) > 0 && c.events.lock().unwrap().len() > before + 2
        })
        .await;
        assert!(!status.success(), "{signal}: {stderr}");
        assert!(
            stderr.contains(&format!("resync interrupted by SIG{signal}"))
                && stderr.contains("objects in flight were finished")
                && stderr.contains("run `zaaklink resync` again"),
            "{signal}: {stderr}"
        );
        assert_eq!(
            col.in_flight.load(Ordering::SeqCst),
            0,
            "{signal}: a put was cut off"
        );
        // Nothing half-done: no outbox left, no claim on the pass.
        let store = EmbeddedStore::open(&state).unwrap();
        assert!(store.with_pending().await.unwrap().is_empty(), "{signal}");
        let cp: zaaklink::resync::Checkpoint = serde_json::from_str(
            &zaaklink::store::CheckpointStore::load_checkpoint(&store)
                .await
                .unwrap()
                .unwrap()
                .json,
        )
        .unwrap();
        assert_eq!(cp.owner, None, "{signal}");
    }
    col.delay_ms.store(1, Ordering::SeqCst);
    let stderr = restart(&ok, &state, &col);
    assert!(!stderr.contains("passes over"), "{stderr}");
    let (by, total) = by_object(&col);
    assert_eq!(by.len(), OBJECTS, "every object linked");
    assert!(
        by.values().all(|ids| ids.len() == 1),
        "one event per object: {by:?}"
    );
    assert_eq!(total, OBJECTS, "every event exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_during_a_put_then_an_immediate_restart_ends_the_pass() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    for i in 0..OBJECTS {
        put(&ok, i, Some(i % 3));
    }
    let col = slow_collector(5_000).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let (status, _) = stop_when(&ok, &state, &col, "KILL", |c| {
        c.in_flight.load(Ordering::SeqCst) > 0
    })
    .await;
    assert!(!status.success());
    {
        // The dead run left outboxes it was putting, claimed (its lease not run out).
        let store = EmbeddedStore::open(&state).unwrap();
        let held = store.with_pending().await.unwrap();
        assert!(
            held.iter().any(|r| r.claimed_until.is_some()),
            "a claimed outbox: {held:?}"
        );
    }
    col.delay_ms.store(1, Ordering::SeqCst);
    let stderr = restart(&ok, &state, &col);
    assert!(
        stderr.contains("released the outbox claims a run left"),
        "says what it did about the dead run's claims: {stderr}"
    );
    let (by, _) = by_object(&col);
    assert_eq!(by.len(), OBJECTS, "every object linked");
    assert!(
        by.values().all(|ids| ids.len() == 1),
        "one event (id) per object: {by:?}"
    );
    let store = EmbeddedStore::open(&state).unwrap();
    assert!(store.with_pending().await.unwrap().is_empty());
}
