//! A resync run that keeps its deadline (DESIGN §7): it checks the time before every batch of
//! objects within a page, not only before a page, checkpoints the part done, and keeps a
//! margin of twice its slowest step measured — so a page slower than any fixed margin is
//! stopped within, and the next run continues after its last batch. And a `zaaklink resync`
//! that is stopped (INT, TERM) gives its claim up, one that is killed (-9) leaves a claim that
//! the next run takes over, so neither blocks the restart.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{pipeline, put_kc, put_on, AUTH, TOKEN};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::resync::{Checkpoint, Resync, ResyncSettings, Stop};
use zaaklink::sink::MemorySink;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::CheckpointStore;

/// `n` objects, each on its own klantcontact, linking a zaak; no notification (the resync
/// finds each as a new link: one klantcontact read and one write each).
fn silent_objects(ok: &FakeOpenKlant, n: usize) {
    for i in 0..n {
        put_kc(ok, i, &[i]);
        put_on(ok, i, Some(i % 3), i);
    }
}

async fn checkpoint(store: &dyn CheckpointStore) -> Checkpoint {
    serde_json::from_str(&store.load_checkpoint().await.unwrap().unwrap().json).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_slower_than_the_margin_is_stopped_within_and_continued_after_its_last_batch() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    silent_objects(&ok, 24);
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (app, _) = pipeline(&ok, store.clone(), sink.clone());
    // One page of 24, batches of 8 (8 rounds of concurrency 1).
    let resync = Resync::new(
        &app,
        store.clone(),
        ResyncSettings {
            page_size: 24,
            concurrency: 1,
            lease: Duration::from_secs(60),
            retries: 2,
            retry_base: Duration::from_millis(1),
            ..Default::default()
        },
    );
    // Every Open Klant answer takes 1 s: a batch (its klantcontacten read at once, then its
    // writes) takes a second, the page with its after-write looks (the page read again, the
    // klantcontacten read again) more than the 7 s left: the looks owed count against the
    // deadline too.
    ok.delay(Some(Duration::from_secs(1)));
    let deadline = Instant::now() + Duration::from_secs(7);
    let r = resync.run(Some(deadline), true).await.unwrap();
    let ended = Instant::now();
    assert_eq!(r.stop, Stop::Deadline, "{r:?}");
    // Stopped within the page (a check before pages only would have worked all 24, ending
    // long after the deadline), before a batch it had no time for.
    assert!(
        r.run.objects > 0 && r.run.objects < 24 && r.run.objects % 8 == 0,
        "{r:?}"
    );
    assert_eq!(r.run.pages, 0, "the page is not finished: {r:?}");
    assert!(
        ended < deadline,
        "the run ended {:?} after its deadline",
        ended - deadline
    );
    // The part done is checkpointed: the page, and the objects of it already reconciled.
    let cp = checkpoint(store.as_ref()).await;
    assert_eq!(cp.page, 1);
    assert_eq!(cp.partial.len() as u64, r.run.objects, "{cp:?}");
    assert_eq!(cp.owner, None, "the run gave its claim up");
    let first = sink.take();
    assert_eq!(first.len() as u64, r.run.objects);

    // The next run continues after the last batch: nothing worked twice, nothing missed.
    ok.delay(None);
    let r2 = resync.run(None, false).await.unwrap();
    assert_eq!(r2.stop, Stop::PassDone, "{r2:?}");
    assert_eq!(r2.run.objects, 24 - r.run.objects, "{r2:?}");
    let mut objects: Vec<String> = first
        .iter()
        .chain(sink.take().iter())
        .map(|e| serde_json::from_str::<Value>(&e.json).unwrap()["data"]["linkTo"].to_string())
        .collect();
    assert_eq!(objects.len(), 24, "one gekoppeld per object");
    objects.sort();
    objects.dedup();
    assert_eq!(objects.len(), 24, "no object twice");
    assert!(checkpoint(store.as_ref()).await.partial.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn phase_stored_is_stopped_between_batches_too() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    silent_objects(&ok, 24);
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (app, _) = pipeline(&ok, store.clone(), sink.clone());
    let resync = Resync::new(
        &app,
        store.clone(),
        ResyncSettings {
            page_size: 24,
            concurrency: 1,
            lease: Duration::from_secs(60),
            retries: 2,
            retry_base: Duration::from_millis(1),
            ..Default::default()
        },
    );
    assert_eq!(resync.full_pass().await.unwrap().stop, Stop::PassDone);
    assert_eq!(sink.take().len(), 24);
    // All 24 deleted silently: the next pass lists nothing and looks each stored link up
    // (phase `stored`), slowly.
    for i in 0..24 {
        ok.remove(&super::objects(&ok).oo_url(i));
    }
    ok.delay(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(6);
    let r = resync.run(Some(deadline), true).await.unwrap();
    assert!(Instant::now() < deadline, "the run ended after its deadline");
    assert_eq!(r.stop, Stop::Deadline, "{r:?}");
    assert!(
        r.run.objects > 0 && r.run.objects < 24 && r.run.objects % 8 == 0,
        "stopped within the store page: {r:?}"
    );
    let cp = checkpoint(store.as_ref()).await;
    assert_eq!(cp.phase, zaaklink::resync::Phase::Stored);
    assert_eq!(cp.partial.len() as u64, r.run.objects, "{cp:?}");
    ok.delay(None);
    let r2 = resync.run(None, false).await.unwrap();
    assert_eq!(r2.stop, Stop::PassDone, "{r2:?}");
    assert_eq!(
        r2.run.objects,
        24 - r.run.objects,
        "nothing looked up twice: {r2:?}"
    );
    let mut gone: Vec<String> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.json).unwrap()["data"]["linkTo"].to_string())
        .collect();
    assert_eq!(gone.len(), 24, "one ontkoppeld per object");
    gone.sort();
    gone.dedup();
    assert_eq!(gone.len(), 24, "no object twice");
}

/// `zaaklink resync` on `state`, batches of 8 (pages of 10, concurrency 1).
fn cli(ok: &FakeOpenKlant, state: &std::path::Path, sink: &str) -> std::process::Command {
    let mut c = crate::common::cli::zaaklink_cli("resync", state, &ok.api_root(), AUTH, TOKEN);
    c.args(["--sink", sink])
        .env("RESYNC_PAGE_SIZE", "10")
        .env("RESYNC_CONCURRENCY", "1");
    c
}

/// Wait (≤ 2 min) until the child exits; its exit status and stderr.
fn wait(mut child: Child) -> (std::process::ExitStatus, String) {
    let until = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "zaaklink resync did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn owner(state: &std::path::Path) -> Option<String> {
    let store = EmbeddedStore::open(state).unwrap();
    checkpoint(&store).await.owner
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_or_killed_zaaklink_resync_never_blocks_its_restart() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    silent_objects(&ok, 40);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let (col, seen) = crate::common::cli::collector().await;
    ok.delay(Some(Duration::from_millis(50)));
    for signal in ["TERM", "INT", "KILL"] {
        // Each run makes progress (a few Open Klant reads) before it is stopped: a restart
        // that found the pass busy would make none and exit at once.
        let before = ok.requests().len();
        let child = cli(&ok, &state, &col)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(120);
        while ok.requests().len() < before + 6 {
            assert!(Instant::now() < until, "the run after {signal} made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let (status, stderr) = wait(child);
        assert!(!status.success(), "{signal}: {stderr}");
        assert!(!stderr.contains("(Busy)"), "{signal}: {stderr}");
        if signal == "KILL" {
            // No handler runs: the claim stays in the file, held by a dead run.
            assert!(owner(&state).await.is_some(), "a killed run leaves its claim");
        } else {
            assert!(
                stderr.contains(&format!("resync interrupted by SIG{signal}"))
                    && stderr.contains("run `zaaklink resync` again"),
                "{signal}: {stderr}"
            );
            assert_eq!(owner(&state).await, None, "{signal}: the claim was given up");
        }
    }
    // Restarted at once (the dead run's 2-minute claim has not expired): taken over, the pass
    // completes, every object linked once.
    ok.delay(None);
    let out = cli(&ok, &state, &col).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resync done (PassDone)"), "{stderr}");
    assert!(stderr.contains("took over the resync pass"), "{stderr}");
    let events = std::mem::take(&mut *seen.lock().unwrap());
    let mut by_object: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        by_object
            .entry(e["data"]["linkTo"].as_str().unwrap().to_string())
            .or_default()
            .insert(e["id"].as_str().unwrap().to_string());
    }
    assert_eq!(by_object.len(), 40, "every object linked");
    assert!(
        by_object.values().all(|ids| ids.len() == 1),
        "one event (id) per object: {by_object:?}"
    );
    assert_eq!(owner(&state).await, None);
}
