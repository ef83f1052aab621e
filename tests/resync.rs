//! Resync: the changes Open Klant never notified are caught.
//!
//! Objects created in the fake Open Klant without any notification (as Open Klant's
//! `maak-klantcontact` endpoint does) are found through the paginated list (the fake pages by
//! 2); stored links whose object disappeared or stopped linking a zaak get an ontkoppeld;
//! links that moved get ontkoppeld + gekoppeld; correct ones emit nothing; a second resync
//! emits nothing at all. In process (`Zaaklink::resync`) and as the CLI (`zaaklink resync` on
//! an embedded state file, events POSTed to a collector).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use common::fixtures::{self, core_args, post, Scene, AUTH, TOKEN};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::reconcile::EventKind;
use zaaklink::sink::{EventSink, MemorySink};
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::LinkStore;
use zaaklink::webhook::WebhookAuth;
use zaaklink::Zaaklink;

fn id(kind: &str, i: usize) -> String {
    fixtures::id("resync", kind, i)
}

fn zaak(z: usize) -> String {
    id("zaak", z)
}

/// The objects of this suite in the fake `ok` (ids as [`id`] gives them).
fn objects(ok: &FakeOpenKlant) -> Scene {
    Scene {
        suite: "resync",
        root: ok.api_root(),
    }
}

/// What `maak-klantcontact` leaves behind: a klantcontact and its onderwerpobject, linking
/// zaak `z` (Some) or a besluit (None). No notification.
fn put(ok: &FakeOpenKlant, i: usize, z: Option<usize>) {
    objects(ok).put(ok, i, z);
}

async fn notify(app: &Zaaklink, auth: &WebhookAuth, body: &str) {
    let a = post(app, auth, body).await;
    assert_eq!(a.status, 204, "{a:?}");
}

fn pipeline(
    ok: &FakeOpenKlant,
    store: Arc<dyn LinkStore>,
    sink: Arc<dyn EventSink>,
) -> (Zaaklink, WebhookAuth) {
    fixtures::pipeline(core_args(&ok.api_root(), "5000"), store, sink)
}

/// The scene, as (object, zaak per Open Klant now) after setup; returns what resync must emit,
/// sorted: (onderwerpobject uuid, event kind, zaak).
///
/// - 0, 1: linked and notified, still correct → nothing;
/// - 2: linked and notified, then deleted silently → ontkoppeld(A);
/// - 3: linked to A and notified, then moved to B silently → ontkoppeld(A), gekoppeld(B);
/// - 4: linked and notified, then changed to a besluit silently → ontkoppeld;
/// - 5..=9: created silently, linking a zaak → gekoppeld each (three pages of the list);
/// - 10: created silently as a besluit → nothing (not even listed).
async fn scene(ok: &FakeOpenKlant, app: &Zaaklink, auth: &WebhookAuth) -> Vec<(String, EventKind, String)> {
    for i in 0..5 {
        put(ok, i, Some(0));
        notify(app, auth, &objects(ok).notification(i, "create")).await;
    }
    ok.remove(&objects(ok).oo_url(2));
    put(ok, 3, Some(1));
    put(ok, 4, None);
    for i in 5..10 {
        put(ok, i, Some(i % 3));
    }
    put(ok, 10, None);
    let mut want = vec![
        (id("oo", 2), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 3), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 3), EventKind::Gekoppeld, zaak(1)),
        (id("oo", 4), EventKind::Ontkoppeld, zaak(0)),
    ];
    for i in 5..10 {
        want.push((id("oo", i), EventKind::Gekoppeld, zaak(i % 3)));
    }
    want.sort();
    want
}

fn summary(events: &[Value]) -> Vec<(String, EventKind, String)> {
    let mut v: Vec<_> = events
        .iter()
        .map(|e| {
            let link_to = e["data"]["linkTo"].as_str().unwrap();
            (
                link_to.rsplit('/').next().unwrap().to_string(),
                EventKind::from_event_type(e["type"].as_str().unwrap()).unwrap(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn assert_final_state(store: &dyn LinkStore) {
    let want: BTreeMap<usize, Option<usize>> = [
        (0, Some(0)),
        (1, Some(0)),
        (2, None),
        (3, Some(1)),
        (4, None),
        (5, Some(2)),
        (6, Some(0)),
        (7, Some(1)),
        (8, Some(2)),
        (9, Some(0)),
    ]
    .into();
    for (i, z) in want {
        let r = store.get(&id("oo", i)).await.unwrap();
        assert_eq!(
            r.as_ref().and_then(|r| r.link.as_ref()).map(|l| l.zaak.clone()),
            z.map(zaak),
            "object {i}: {r:?}"
        );
        assert!(r.is_none_or(|r| r.pending.is_empty()));
    }
    assert!(
        store.get(&id("oo", 10)).await.unwrap().is_none(),
        "a besluit is never stored"
    );
    assert!(store.with_pending().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn resync_catches_silent_creates_deletes_and_moves_and_repeats_nothing() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (app, auth) = pipeline(&ok, store.clone(), sink.clone());
    let want = scene(&ok, &app, &auth).await;
    assert_eq!(sink.take().len(), 5, "the five notified links");

    let requests_before = ok.requests().len();
    let o = app.resync().await.unwrap();
    let events: Vec<Value> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    assert_eq!(summary(&events), want);
    assert_eq!(o.emitted, want.len());
    assert_eq!(o.written, 8, "2, 3, 4 and 5..=9 changed: {o:?}");
    // ontkoppeld repeats the stored link: linkTo and label of the original gekoppeld.
    let gone = events
        .iter()
        .find(|e| e["data"]["linkTo"].as_str().unwrap().ends_with(&id("oo", 2)))
        .unwrap();
    assert_eq!(gone["data"]["label"], "Onderwerp 2 - (2)");
    // The list was read page by page (the fake pages by 2: 8 zaak objects → 4 pages).
    let pages: Vec<String> = ok.requests()[requests_before..]
        .iter()
        .filter(|r| r.contains("onderwerpobjecten?"))
        .cloned()
        .collect();
    assert_eq!(pages.len(), 4, "{pages:#?}");
    for (n, p) in pages.iter().enumerate().skip(1) {
        assert!(p.contains(&format!("page={}", n + 1)), "{p}");
    }
    assert!(pages
        .iter()
        .all(|p| p.contains("onderwerpobjectidentificatorCodeObjecttype=zaak")));
    assert_final_state(store.as_ref()).await;

    // Nothing changed since: a second resync emits nothing and writes nothing.
    let o = app.resync().await.unwrap();
    assert_eq!((o.written, o.emitted), (0, 0), "{o:?}");
    assert!(sink.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn resync_with_open_klant_down_changes_nothing_and_fails() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (app, auth) = pipeline(&ok, store.clone(), sink.clone());
    let _ = scene(&ok, &app, &auth).await;
    sink.take();
    ok.fail_with(Some(503));
    let e = app.resync().await.unwrap_err();
    assert_eq!(e.status(), 502, "{e}");
    assert!(sink.take().is_empty());
    ok.fail_with(None);
    app.resync().await.unwrap();
    assert_final_state(store.as_ref()).await;
}

fn cli_resync(ok: &FakeOpenKlant, state: &Path, sink: &str) -> std::process::Output {
    common::cli::zaaklink_cli("resync", state, &ok.api_root(), AUTH, TOKEN)
        .args(["--sink", sink])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn zaaklink_resync_cli_on_an_embedded_state_file() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let want = {
        let store = Arc::new(EmbeddedStore::open(&state).unwrap());
        let (app, auth) = pipeline(&ok, store, Arc::new(MemorySink::default()));
        scene(&ok, &app, &auth).await
        // the store (and its file lock) is dropped here
    };
    let (col, seen) = common::cli::collector().await;
    let out = cli_resync(&ok, &state, &col);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("8 changed, {} events emitted", want.len())),
        "{stderr}"
    );
    let events = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(summary(&events), want);

    // A second run changes nothing.
    let out = cli_resync(&ok, &state, &col);
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 changed, 0 events emitted"));
    assert!(seen.lock().unwrap().is_empty());
    let store = EmbeddedStore::open(&state).unwrap();
    assert_final_state(&store).await;
}
