//! Resync: the changes Open Klant never notified are caught.
//!
//! Objects created in the fake Open Klant without any notification (as Open Klant's
//! `maak-klantcontact` endpoint does) are found through the paginated list (pages of 2 here);
//! stored links whose object disappeared or stopped linking a zaak get an ontkoppeld;
//! links that moved get ontkoppeld + gekoppeld; correct ones emit nothing; a second resync
//! emits nothing at all. In process ([`Resync`]) and as the CLI (`zaaklink resync` on
//! an embedded state file, events POSTed to a collector).
//!
//! Then the checkpoint: a pass interrupted anywhere (an error or a hang at the k-th call to
//! the store or Open Klant) and continued ends exactly like an uninterrupted one; two runs
//! at once never work the same pass; a list that shifts underneath a pass never hides an
//! object for more than one pass; klantcontact deletes are read from Open Klant.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use common::fixtures::{self, core_args, post, Scene, AUTH, TOKEN};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::reconcile::EventKind;
use zaaklink::resync::{Resync, ResyncSettings, Stop};
use zaaklink::sink::{EventSink, MemorySink};
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::LinkStore;
use zaaklink::webhook::WebhookAuth;
use zaaklink::Zaaklink;

#[path = "resync/ahead.rs"]
mod ahead;
#[path = "resync/chaos.rs"]
mod chaos;
#[path = "resync/deadline.rs"]
mod deadline;
#[path = "resync/destroyed.rs"]
mod destroyed;
#[path = "resync/first_pass.rs"]
mod first_pass;
#[path = "resync/head.rs"]
mod head;
#[path = "resync/head_pass.rs"]
mod head_pass;
#[path = "resync/labels.rs"]
mod labels;
#[path = "resync/period.rs"]
mod period;
#[path = "resync/restart.rs"]
mod restart;
#[path = "resync/serial.rs"]
mod serial;

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

/// Test settings: small pages, short lease, fast backoff.
fn settings(page_size: u32) -> ResyncSettings {
    ResyncSettings {
        page_size,
        concurrency: 3,
        lease: std::time::Duration::from_millis(100),
        retries: 2,
        retry_base: std::time::Duration::from_millis(1),
        ..Default::default()
    }
}

fn resync(app: &Zaaklink, store: Arc<MemoryStore>) -> Resync {
    Resync::new(app, store, settings(2))
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
    let r = resync(&app, store.clone()).full_pass().await.unwrap();
    assert_eq!(r.stop, Stop::PassDone);
    let o = r.run;
    let events: Vec<Value> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    assert_eq!(summary(&events), want);
    assert_eq!(o.emitted, want.len() as u64);
    assert_eq!(o.written, 8, "2, 3, 4 and 5..=9 changed: {o:?}");
    // ontkoppeld repeats the stored link: linkTo and label of the original gekoppeld.
    let gone = events
        .iter()
        .find(|e| e["data"]["linkTo"].as_str().unwrap().ends_with(&id("oo", 2)))
        .unwrap();
    assert_eq!(gone["data"]["label"], "Onderwerp 2 - (2)");
    // The list was read page by page (pages of 2: 8 zaak objects → 4 pages), with only the
    // documented filters — a page that wrote read once more right after, its after-write
    // look; unchanged objects cost no GET of their own, and the only klantcontacten read are
    // those of new or moved links (5..=9 and 3).
    let requests = &ok.requests()[requests_before..];
    let mut pages: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("onderwerpobjecten?"))
        .collect();
    let reads = pages.len();
    pages.dedup();
    assert_eq!(pages.len(), 4, "{pages:#?}");
    assert!(reads <= 8, "each page at most twice: {reads}");
    for (n, p) in pages.iter().enumerate() {
        assert!(p.contains(&format!("page={}", n + 1)), "{p}");
        assert!(p.contains("pageSize=2"), "{p}");
        assert!(
            p.contains("onderwerpobjectidentificatorCodeObjecttype=zaak"),
            "{p}"
        );
        assert!(
            p.contains("onderwerpobjectidentificatorCodeSoortObjectId=uuid"),
            "{p}"
        );
    }
    for i in [0, 1] {
        assert!(
            !requests
                .iter()
                .any(|r| r.contains(&id("oo", i)) || r.contains(&id("kc", i))),
            "object {i} is unchanged: no GET for it {requests:#?}"
        );
    }
    assert_final_state(store.as_ref()).await;

    // Nothing changed since: a second pass emits nothing, writes nothing and reads only pages.
    let before = ok.requests().len();
    let o = resync(&app, store.clone()).full_pass().await.unwrap().run;
    assert_eq!((o.written, o.emitted), (0, 0), "{o:?}");
    assert!(sink.take().is_empty());
    assert!(
        ok.requests()[before..]
            .iter()
            .all(|r| r.contains("onderwerpobjecten?")),
        "{:#?}",
        &ok.requests()[before..]
    );
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
    let before = ok.requests().len();
    let e = resync(&app, store.clone()).full_pass().await.unwrap_err();
    assert_eq!(e.status(), 502, "{e}");
    assert_eq!(
        ok.requests().len() - before,
        3,
        "the first page, retried twice (backoff)"
    );
    assert!(sink.take().is_empty());
    ok.fail_with(None);
    // The failed run gave its lease up: the next one continues at once.
    let r = resync(&app, store.clone()).run(None, false).await.unwrap();
    assert_eq!(r.stop, Stop::PassDone);
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
    // Not on a terminal: the one summary line, no progress bar.
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("resync done (PassDone): "))
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains("list page"),
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

// ---------------------------------------------------------------------------------------------
// The checkpoint: interrupted passes, overlapping runs, shifting pages
// ---------------------------------------------------------------------------------------------

use chaos::{Chaos, ChaosKlant, ChaosStore, Mode};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use zaaklink::cloudevent::OutboxEvent;

/// Object `i` links zaak `z` (None: a besluit) on klantcontact `kc`; klantcontact `kc` goes
/// over exactly `objects`. No notification.
fn put_on(ok: &FakeOpenKlant, i: usize, z: Option<usize>, kc: usize) {
    let s = objects(ok);
    let (objecttype, object_id) = match z {
        Some(z) => ("zaak", zaak(z)),
        None => ("besluit", id("besluit", i)),
    };
    ok.put(
        &json!({
            "uuid": id("oo", i), "url": s.oo_url(i),
            "klantcontact": {"uuid": id("kc", kc), "url": s.kc_url(kc)}, "wasKlantcontact": null,
            "onderwerpobjectidentificator": {"objectId": object_id, "codeObjecttype": objecttype,
                "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
        })
        .to_string(),
    );
}

fn put_kc(ok: &FakeOpenKlant, kc: usize, objects_of: &[usize]) {
    let s = objects(ok);
    ok.put(
        &json!({
            "uuid": id("kc", kc), "url": s.kc_url(kc), "nummer": format!("{kc}"),
            "onderwerp": format!("Onderwerp {kc}"),
            "gingOverOnderwerpobjecten": objects_of.iter()
                .map(|i| json!({"uuid": id("oo", *i), "url": s.oo_url(*i)})).collect::<Vec<_>>()
        })
        .to_string(),
    );
}

/// A world whose pipeline and resync go through `chaos`.
struct World {
    ok: FakeOpenKlant,
    store: Arc<MemoryStore>,
    sink: Arc<MemorySink>,
    chaos: Arc<Chaos>,
    resync: Resync,
}

async fn world(page_size: u32) -> World {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let chaos = Chaos::new();
    let faulty = Arc::new(ChaosStore {
        inner: store.clone(),
        chaos: chaos.clone(),
    });
    let (mut app, _) = pipeline(&ok, faulty.clone(), sink.clone());
    app.klant = Arc::new(ChaosKlant {
        inner: app.klant.clone(),
        chaos: chaos.clone(),
    });
    // A writer killed between its write and its put holds the outbox this long.
    app.settings.outbox_lease = Duration::from_millis(100);
    let resync = Resync::new(&app, faulty, settings(page_size));
    World {
        ok,
        store,
        sink,
        chaos,
        resync,
    }
}

/// Per object: (kind, zaak) of each distinct event (by id), sorted.
fn distinct(events: &[OutboxEvent]) -> Vec<(String, EventKind, String)> {
    let mut seen = BTreeSet::new();
    let unique: Vec<Value> = events
        .iter()
        .filter(|e| seen.insert(e.id.clone()))
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    summary(&unique)
}

/// 20 objects on their own klantcontact, linked and resynced; then silently: 0 and 7
/// deleted, 3 relinked, 5 moved to klantcontact 100 (same zaak), 9 turned into a besluit,
/// 21 (a besluit) turned into a zaak, 30..34 created. Returns the events the next pass must
/// emit and the links it must leave.
async fn silent_changes(
    w: &World,
) -> (
    Vec<(String, EventKind, String)>,
    Vec<(usize, Option<(usize, usize)>)>,
) {
    for i in 0..24 {
        put_on(&w.ok, i, (i < 20).then_some(i % 3), i);
        put_kc(&w.ok, i, &[i]);
    }
    let r = w.resync.full_pass().await.unwrap();
    assert_eq!(r.stop, Stop::PassDone);
    assert_eq!(w.sink.take().len(), 20);
    w.ok.remove(&objects(&w.ok).oo_url(0));
    w.ok.remove(&objects(&w.ok).oo_url(7));
    put_on(&w.ok, 3, Some(1), 3);
    put_kc(&w.ok, 100, &[5]);
    put_on(&w.ok, 5, Some(5 % 3), 100);
    put_on(&w.ok, 9, None, 9);
    put_on(&w.ok, 21, Some(2), 21);
    for i in 30..34 {
        put_kc(&w.ok, i, &[i]);
        put_on(&w.ok, i, Some(i % 3), i);
    }
    let mut want = vec![
        (id("oo", 0), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 7), EventKind::Ontkoppeld, zaak(1)),
        (id("oo", 3), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 3), EventKind::Gekoppeld, zaak(1)),
        (id("oo", 9), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 21), EventKind::Gekoppeld, zaak(2)),
    ];
    for i in 30..34 {
        want.push((id("oo", i), EventKind::Gekoppeld, zaak(i % 3)));
    }
    want.sort();
    // (object, Some((zaak, klantcontact)))
    let mut links: Vec<(usize, Option<(usize, usize)>)> = Vec::new();
    for i in (0..24).chain(30..34) {
        let l = match i {
            0 | 7 | 9 => None,
            3 => Some((1, 3)),
            5 => Some((5 % 3, 100)),
            21 => Some((2, 21)),
            i if !(20..30).contains(&i) => Some((i % 3, i)),
            _ => None,
        };
        links.push((i, l));
    }
    (want, links)
}

async fn assert_links(w: &World, links: &[(usize, Option<(usize, usize)>)]) {
    let s = objects(&w.ok);
    for (i, want) in links {
        let r = w.store.get(&id("oo", *i)).await.unwrap();
        let got = r.as_ref().and_then(|r| r.link.as_ref());
        assert_eq!(
            got.map(|l| (l.zaak.clone(), l.klantcontact.clone())),
            want.map(|(z, kc)| (zaak(z), s.kc_url(kc))),
            "object {i}: {r:?}"
        );
        assert!(r.is_none_or(|r| r.pending.is_empty()), "object {i}: outbox left");
    }
}

/// Run until the pass completes, killing a run whose call hangs; returns the runs it took.
/// Runs are forced (the pass before was minutes ago): an unfinished pass is continued, a
/// finished one (when a run failed after saving it complete) replaced by one with nothing to do.
async fn until_done(w: &World) -> usize {
    let mut stops = Vec::new();
    for runs in 1..=30 {
        let run = w.resync.run(None, true);
        let killed = async {
            while !w.chaos.fired() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // the call that fires hangs, errs or returns; give an erring run time to end
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let outcome = tokio::select! {
            r = run => Some(r),
            _ = killed, if *w.chaos.mode.lock().unwrap() == Mode::Hang => None,
        };
        w.chaos.disarm();
        stops.push(format!(
            "{:?}",
            outcome.as_ref().map(|r| r.as_ref().map(|r| r.stop.clone()))
        ));
        match outcome {
            Some(Ok(r)) if r.stop == Stop::PassDone => return runs,
            Some(Ok(r)) if r.stop == Stop::Busy => tokio::time::sleep(Duration::from_millis(50)).await,
            Some(_) => {}
            // killed: its lease runs out
            None => tokio::time::sleep(Duration::from_millis(110)).await,
        }
    }
    panic!("the pass did not complete in 30 runs: {stops:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_interrupted_anywhere_ends_like_an_uninterrupted_one() {
    // The uninterrupted pass, and how many calls (store and Open Klant) it makes.
    let w = world(4).await;
    let (want, links) = silent_changes(&w).await;
    let before = w.chaos.calls_so_far();
    let r = w.resync.full_pass().await.unwrap();
    let calls = w.chaos.calls_so_far() - before;
    assert_eq!(r.stop, Stop::PassDone);
    assert_eq!(distinct(&w.sink.take()), want);
    assert_links(&w, &links).await;
    assert!(calls > 20, "{calls}");

    // The same pass, interrupted at every call k in turn (errors before and after acting, a
    // hang that kills the run), then continued by later runs.
    let modes = [Mode::Before, Mode::After, Mode::Hang];
    let started = std::time::Instant::now();
    for k in 1..=calls {
        let mode = modes[(k % 3) as usize];
        eprintln!(
            "interrupting at call {k}/{calls} ({mode:?}), {:?} in",
            started.elapsed()
        );
        let w = world(4).await;
        let (want, links) = silent_changes(&w).await;
        w.chaos.arm(k, mode);
        until_done(&w).await;
        assert_eq!(
            distinct(&w.sink.take()),
            want,
            "interrupted at call {k} ({mode:?})"
        );
        assert_links(&w, &links).await;
        // and the next pass finds nothing to do
        let r = w.resync.full_pass().await.unwrap();
        assert_eq!(
            (r.run.written, r.run.emitted),
            (0, 0),
            "after call {k} ({mode:?}): {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stops_at_its_deadline_and_overlapping_runs_never_work_the_same_pass() {
    let w = world(4).await;
    let (want, links) = silent_changes(&w).await;
    // Out of time before the first page: the pass is started and saved, nothing worked.
    let r = w.resync.run(Some(std::time::Instant::now()), true).await.unwrap();
    assert_eq!(r.stop, Stop::Deadline);
    assert_eq!(r.run.pages, 0);
    assert!(w.sink.take().is_empty());
    // Two runs at once continue it: one works the pass, the other finds it held.
    let (a, b) = tokio::join!(w.resync.run(None, false), w.resync.run(None, false));
    let mut stops = [a.unwrap().stop, b.unwrap().stop].map(|s| format!("{s:?}"));
    stops.sort();
    assert_eq!(stops, ["Busy", "PassDone"]);
    let events = w.sink.take();
    assert_eq!(events.len(), want.len(), "every change emitted once, none twice");
    assert_eq!(distinct(&events), want);
    assert_links(&w, &links).await;
    // The pass is complete and the interval (1 h) has not passed: the next run is idle.
    let r = w.resync.run(None, false).await.unwrap();
    assert!(matches!(r.stop, Stop::Idle { .. }), "{r:?}");
}

/// Open Klant whose list shifts under the pass: after each page is first read, 3 objects on
/// it (already seen) are deleted — pulling later objects forward across the page boundary —
/// and 2 new ones are created (at the front: newest first).
struct Shifting {
    inner: Arc<dyn zaaklink::openklant::OpenKlant>,
    ok: Arc<FakeOpenKlant>,
    state: std::sync::Mutex<ShiftState>,
}

#[derive(Default)]
struct ShiftState {
    on: bool,
    pages_done: BTreeSet<u32>,
    deleted: BTreeSet<usize>,
    created: BTreeSet<usize>,
    next: usize,
}

#[async_trait::async_trait]
impl zaaklink::openklant::OpenKlant for Shifting {
    async fn onderwerpobject(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::link::Onderwerpobject>, zaaklink::openklant::OpenKlantError> {
        self.inner.onderwerpobject(url).await
    }
    async fn klantcontact(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::link::Klantcontact>, zaaklink::openklant::OpenKlantError> {
        self.inner.klantcontact(url).await
    }
    async fn klantcontact_expanded(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::openklant::ExpandedKlantcontact>, zaaklink::openklant::OpenKlantError> {
        self.inner.klantcontact_expanded(url).await
    }
    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        size: u32,
    ) -> Result<
        Option<zaaklink::openklant::Page<zaaklink::link::Onderwerpobject>>,
        zaaklink::openklant::OpenKlantError,
    > {
        let got = self.inner.zaak_onderwerpobjecten(page, size).await?;
        let mut s = self.state.lock().unwrap();
        if s.on && s.pages_done.insert(page) {
            if let Some(p) = &got {
                for o in p.results.iter().take(3) {
                    let i = (0..1000).find(|i| id("oo", *i) == o.uuid).unwrap();
                    self.ok.remove(&o.url);
                    s.deleted.insert(i);
                }
            }
            for _ in 0..2 {
                let i = s.next;
                s.next += 1;
                put_kc(&self.ok, i, &[i]);
                put_on(&self.ok, i, Some(i % 3), i);
                s.created.insert(i);
            }
        }
        Ok(got)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shifting_list_never_hides_an_object_for_more_than_one_pass() {
    let ok = Arc::new(FakeOpenKlant::start(TOKEN).await.unwrap());
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (mut app, _) = pipeline(&ok, store.clone(), sink.clone());
    // The first pass over an Open Klant where every object was created silently.
    let n = 40;
    for i in 0..n {
        put_kc(&ok, i, &[i]);
        put_on(&ok, i, Some(i % 3), i);
    }
    let shifting = Arc::new(Shifting {
        inner: app.klant.clone(),
        ok: ok.clone(),
        state: std::sync::Mutex::new(ShiftState {
            on: true,
            next: 500,
            ..Default::default()
        }),
    });
    app.klant = shifting.clone();
    let resync = Resync::new(&app, store.clone(), settings(4));
    let r = resync.full_pass().await.unwrap();
    assert_eq!(r.stop, Stop::PassDone);
    assert!(
        r.pass_counts.rereads > 0,
        "the shrinking list was read again: {r:?}"
    );
    let linked = |i: usize| {
        let store = store.clone();
        async move {
            store
                .get(&id("oo", i))
                .await
                .unwrap()
                .and_then(|r| r.link)
                .map(|l| l.zaak)
        }
    };
    let (deleted, created) = {
        let s = shifting.state.lock().unwrap();
        (s.deleted.clone(), s.created.clone())
    };
    assert!(deleted.len() >= 6, "{deleted:?}");
    // Every object that was there throughout the pass is linked after it.
    for i in (0..n).filter(|i| !deleted.contains(i)) {
        assert_eq!(
            linked(i).await,
            Some(zaak(i % 3)),
            "object {i} missed by the pass"
        );
    }
    // The next pass (no more shifting) catches what changed during the first.
    shifting.state.lock().unwrap().on = false;
    resync.full_pass().await.unwrap();
    for i in &deleted {
        assert_eq!(linked(*i).await, None, "deleted object {i}");
    }
    for i in &created {
        assert_eq!(linked(*i).await, Some(zaak(i % 3)), "created object {i}");
    }
    let events = sink.take();
    let mut ids = BTreeSet::new();
    assert!(events.iter().all(|e| ids.insert(e.id.clone())), "no event twice");
}

fn kc_notification(ok: &FakeOpenKlant, kc: usize, actie: &str) -> String {
    let url = objects(ok).kc_url(kc);
    json!({
        "kanaal": "klantcontacten", "hoofdObject": url, "resource": "klantcontact",
        "resourceUrl": url, "actie": actie, "aanmaakdatum": "2026-10-10T09:00:00Z", "kenmerken": {}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn klantcontact_notifications_read_open_klant_not_the_store() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (app, auth) = pipeline(&ok, store.clone(), sink.clone());
    // kc 1 goes over 1 and 2; kc 4 over 4. All linked.
    put_kc(&ok, 1, &[1, 2]);
    put_on(&ok, 1, Some(0), 1);
    put_on(&ok, 2, Some(1), 1);
    put_kc(&ok, 4, &[4]);
    put_on(&ok, 4, Some(2), 4);
    resync(&app, store.clone()).full_pass().await.unwrap();
    assert_eq!(sink.take().len(), 3);

    // Object 2 moves silently to kc 3 (same zaak); then kc 1 is deleted (and with it object
    // 1, Open Klant's cascade). Only object 1 is unlinked; object 2 keeps its link, now on kc 3.
    put_kc(&ok, 3, &[2]);
    put_on(&ok, 2, Some(1), 3);
    put_kc(&ok, 1, &[1]);
    ok.remove(&objects(&ok).kc_url(1));
    ok.remove(&objects(&ok).oo_url(1));
    notify(&app, &auth, &kc_notification(&ok, 1, "destroy")).await;
    let events: Vec<Value> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    assert_eq!(summary(&events), [(id("oo", 1), EventKind::Ontkoppeld, zaak(0))]);
    let two = store.get(&id("oo", 2)).await.unwrap().unwrap().link.unwrap();
    assert_eq!((two.zaak, two.klantcontact), (zaak(1), objects(&ok).kc_url(3)));

    // A klantcontact update: its objects come with it (one request, expand), an object
    // created silently on it is linked, the unchanged one costs no GET of its own.
    put_kc(&ok, 4, &[4, 5]);
    put_on(&ok, 5, Some(0), 4);
    let before = ok.requests().len();
    notify(&app, &auth, &kc_notification(&ok, 4, "update")).await;
    let requests = ok.requests()[before..].to_vec();
    assert!(
        requests[0].ends_with(&format!(
            "klantcontacten/{}?expand=gingOverOnderwerpobjecten",
            id("kc", 4)
        )),
        "{requests:#?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.ends_with(&format!("onderwerpobjecten/{}", id("oo", 4)))),
        "{requests:#?}"
    );
    let events: Vec<Value> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    assert_eq!(summary(&events), [(id("oo", 5), EventKind::Gekoppeld, zaak(0))]);
    assert_eq!(events[0]["data"]["label"], "Onderwerp 4 - (4)");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_lists_like_open_klant() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    for i in 0..7 {
        put_kc(&ok, i, &[i]);
        put_on(&ok, i, if i == 6 { None } else { Some(0) }, i);
    }
    let client = reqwest::Client::new();
    let get = |q: String| {
        let client = client.clone();
        let url = format!("{}onderwerpobjecten?{q}", ok.api_root());
        async move {
            let r = client
                .get(url)
                .header("authorization", format!("Token {TOKEN}"))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = get("onderwerpobjectidentificatorCodeObjecttype=zaak&pageSize=4".into()).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(6)));
    let first: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [id("oo", 5), id("oo", 4), id("oo", 3), id("oo", 2)],
        "newest first"
    );
    assert_eq!(
        get("onderwerpobjectidentificatorCodeObjecttype=zaak&pageSize=4&page=2".into())
            .await
            .0,
        200
    );
    assert_eq!(
        get("onderwerpobjectidentificatorCodeObjecttype=zaak&pageSize=4&page=3".into())
            .await
            .0,
        404
    );
    assert_eq!(
        get("onderwerpobjectidentificatorCodeObjecttype=zaak&ordering=x".into())
            .await
            .0,
        400
    );
    assert_eq!(get("expand=klantcontact".into()).await.0, 400);
    let (_, big) = get("pageSize=5000".into()).await;
    assert_eq!(big["results"].as_array().unwrap().len(), 7, "capped, not refused");
    let (_, by_kc) = get(format!("klantcontact__uuid={}", id("kc", 3))).await;
    assert_eq!(by_kc["count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn zaaklink_serve_runs_the_resync_on_its_own() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    put_kc(&ok, 1, &[1]);
    put_on(&ok, 1, Some(0), 1);
    let dir = tempfile::tempdir().unwrap();
    let (col, seen) = common::cli::collector().await;
    let port = common::cli::free_port();
    let mut child = common::cli::zaaklink_cli("serve", &dir.path().join("z.db"), &ok.api_root(), AUTH, TOKEN)
        .args([
            "--sink",
            &col,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--resync-every",
            "1s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + common::ready_within();
    while seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let events = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        summary(&events),
        [(id("oo", 1), EventKind::Gekoppeld, zaak(0))],
        "the silent link reached the sink without a notification"
    );
}
