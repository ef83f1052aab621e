//! One process, one object, many workers (issue 25 item 3, issue 24 item 4): the webhook (two
//! CloudEvents for one change arriving together), the head poll and the pass working on the
//! same onderwerpobject at once take turns (`pipeline::serial`) instead of racing each other
//! into the conflict limit: every request succeeds, the end state is right, every event goes
//! out once. And an outbox another process holds (a run that died putting its events) is no
//! failure of the pass: it passes over the object and comes back to it in the same run.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::resync::HeadPoll;
use zaaklink::sink::SinkError;
use zaaklink::webhook::{self, Request};

use super::*;

/// A sink that takes `delay` per put, like Open Zaak reading `linkTo` back (and the read
/// checks): long enough for every other worker to use up its conflict retries meanwhile
/// when they do not take turns.
struct SlowSink {
    inner: MemorySink,
    delay: Duration,
}

#[async_trait]
impl EventSink for SlowSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        tokio::time::sleep(self.delay).await;
        self.inner.publish(events).await
    }
}

/// A sink that never answers: a writer put on it stays in the middle of its put.
struct HangingSink;

#[async_trait]
impl EventSink for HangingSink {
    async fn publish(&self, _: &[OutboxEvent]) -> Result<(), SinkError> {
        std::future::pending().await
    }
}

/// Open Klant's own CloudEvent about object `i` (a hint: zaaklink reads the object).
pub(super) fn hint(ok: &FakeOpenKlant, i: usize, kind: &str) -> String {
    serde_json::json!({
        "specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "type": format!("nl.overheid.zaken.zaak-{kind}"),
        "source": "urn:nld:oin:01823288444:openklant", "subject": "x",
        "datacontenttype": "application/json",
        "data": {"zaak": "urn:uuid:x", "label": "x", "linkTo": objects(ok).oo_url(i),
                 "linkObjectType": "Onderwerpobject"}
    })
    .to_string()
}

/// Round `round` of a race: object `round` is new, linking zaak 0 (the head poll sees it as
/// new, the pass lists it), and object `round - 1` moves to zaak `round` (the pass sees it);
/// the events that must follow go into `want`. Two hints name each: Open Klant's CloudEvents
/// for one change arriving together.
fn race_round(ok: &FakeOpenKlant, round: usize, want: &mut Vec<(String, EventKind, String)>) -> [String; 4] {
    put(ok, round, Some(0));
    want.push((id("oo", round), EventKind::Gekoppeld, zaak(0)));
    if round > 0 {
        put(ok, round - 1, Some(round));
        want.push((id("oo", round - 1), EventKind::Ontkoppeld, zaak(0)));
        want.push((id("oo", round - 1), EventKind::Gekoppeld, zaak(round)));
    }
    let moved = round.saturating_sub(1);
    [
        hint(ok, round, "gekoppeld"),
        hint(ok, round, "gekoppeld"),
        hint(ok, moved, "ontkoppeld"),
        hint(ok, moved, "gekoppeld"),
    ]
}

pub(super) async fn post_ce(app: &Zaaklink, auth: &WebhookAuth, body: &str) -> (u16, String) {
    let a = webhook::handle(
        app,
        auth,
        Request {
            method: "POST",
            authorization: Some(AUTH.as_bytes()),
            content_type: Some(b"application/cloudevents+json"),
            body: body.as_bytes(),
        },
    )
    .await;
    (a.status, format!("{a:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_head_poll_and_pass_on_one_object_at_once_all_succeed_once() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.delay(Some(Duration::from_millis(10)));
    let sink = Arc::new(SlowSink {
        inner: MemorySink::default(),
        delay: Duration::from_millis(1500),
    });
    let store = Arc::new(MemoryStore::default());
    let (app, auth) = pipeline(&ok, store.clone(), sink.clone());
    let resync = Resync::new(
        &app,
        store.clone(),
        ResyncSettings {
            lease: Duration::from_secs(120),
            ..settings(50)
        },
    );
    let head = HeadPoll::new(&resync);
    let mut want = Vec::new();
    for round in 0..3 {
        let [h1, h2, h3, h4] = race_round(&ok, round, &mut want);
        let (a, b, c, d, polled, passed) = tokio::join!(
            post_ce(&app, &auth, &h1),
            post_ce(&app, &auth, &h2),
            post_ce(&app, &auth, &h3),
            post_ce(&app, &auth, &h4),
            head.poll(),
            resync.run(None, true),
        );
        for (status, answer) in [a, b, c, d] {
            assert_eq!(status, 204, "round {round}: {answer}");
        }
        polled.unwrap_or_else(|e| panic!("round {round}: head poll failed: {e}"));
        let passed = passed.unwrap_or_else(|e| panic!("round {round}: pass failed: {e}"));
        assert_eq!(passed.stop, Stop::PassDone, "round {round}");
    }
    let events: Vec<Value> = sink
        .inner
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    want.sort();
    assert_eq!(summary(&events), want, "every transition once");
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "no event twice");
    for (i, z) in [(0, 1), (1, 2), (2, 0)] {
        let r = store.get(&id("oo", i)).await.unwrap().unwrap();
        assert_eq!(r.link.map(|l| l.zaak), Some(zaak(z)), "object {i}");
        assert!(r.pending.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbox_another_writer_holds_is_passed_over_and_come_back_to() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (app, _) = pipeline(&ok, store.clone(), sink.clone());
    for i in 0..6 {
        put(&ok, i, Some(0));
    }
    let resync = Resync::new(&app, store.clone(), settings(2));
    assert_eq!(resync.full_pass().await.unwrap().stop, Stop::PassDone);
    assert_eq!(sink.take().len(), 6);

    // Another writer (another process) moves object 3 to zaak 1 and dies putting the events:
    // its claim on the outbox stays live for its lease.
    put(&ok, 3, Some(1));
    let (mut dead, auth) = pipeline(&ok, store.clone(), Arc::new(HangingSink));
    dead.settings.outbox_lease = Duration::from_secs(10);
    let writing = tokio::spawn({
        let (dead, auth, body) = (dead.clone(), auth.clone(), objects(&ok).notification(3, "update"));
        async move { post(&dead, &auth, &body).await }
    });
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while store.get(&id("oo", 3)).await.unwrap().unwrap().pending.is_empty() {
        assert!(std::time::Instant::now() < until, "the other writer never wrote");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writing.abort();
    // Meanwhile object 5 moved too, and object 3 moves on once more.
    put(&ok, 5, Some(2));
    put(&ok, 3, Some(2));
    let held = store.get(&id("oo", 3)).await.unwrap().unwrap();
    assert!(held.claimed_until.is_some() && !held.pending.is_empty());

    // The webhook answers 503 for it, with the true cause, while the claim is live.
    let a = post(&app, &auth, &objects(&ok).notification(3, "update")).await;
    let detail = format!("{a:?}");
    assert_eq!(a.status, 503, "{detail}");
    assert!(detail.contains("another writer still holds"), "{detail}");
    assert!(!detail.contains("kept changing"), "{detail}");

    // The pass: no failure; object 3 is passed over, then reconciled in the same run.
    let r = resync.run(None, true).await.unwrap();
    assert_eq!(r.stop, Stop::PassDone, "{r:?}");
    let events: Vec<Value> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect();
    let mut want = vec![
        // the dead writer's transition, put for it (by the sweep at the pass's end, or once
        // its claim ran out), then the object's move on from there
        (id("oo", 3), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 3), EventKind::Gekoppeld, zaak(1)),
        (id("oo", 3), EventKind::Ontkoppeld, zaak(1)),
        (id("oo", 3), EventKind::Gekoppeld, zaak(2)),
        (id("oo", 5), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 5), EventKind::Gekoppeld, zaak(2)),
    ];
    want.sort();
    assert_eq!(summary(&events), want);
    let seqs: Vec<&str> = events
        .iter()
        .filter(|e| e["data"]["linkTo"].as_str().unwrap().ends_with(&id("oo", 3)))
        .map(|e| e["sequence"].as_str().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_by_key(|s| s.parse::<u64>().unwrap());
    assert_eq!(seqs, sorted, "object 3's events in order");
    let r3 = store.get(&id("oo", 3)).await.unwrap().unwrap();
    assert_eq!(r3.link.map(|l| l.zaak), Some(zaak(2)));
    assert!(r3.pending.is_empty() && r3.claimed_until.is_none());
}

/// `zaaklink serve` on a fresh state file with these extra arguments and environment, its
/// log (RUST_LOG=info, JSON lines) in `log`.
pub(super) fn serve(
    ok: &FakeOpenKlant,
    dir: &Path,
    sink: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, std::path::PathBuf) {
    let port = crate::common::cli::free_port();
    let log = dir.join("serve.log");
    let mut cmd = crate::common::cli::zaaklink_cli("serve", &dir.join("z.db"), &ok.api_root(), AUTH, TOKEN);
    cmd.args(["--sink", sink, "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    crate::common::cli::wait_listening(port, "zaaklink serve", Some(&log));
    (child, format!("http://127.0.0.1:{port}/"), log)
}

pub(super) async fn post_ce_to(url: &str, body: String) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/cloudevents+json")
        .header("authorization", AUTH)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn zaaklink_serve_takes_webhook_head_poll_and_pass_on_one_object_in_turn() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.delay(Some(Duration::from_millis(10)));
    let col = super::restart::slow_collector(1500).await;
    let dir = tempfile::tempdir().unwrap();
    // A pass and a head poll every second, whatever the CloudEvents say.
    let (mut child, url, log) = serve(
        &ok,
        dir.path(),
        &col.url,
        &["--resync-every", "1s", "--head-poll-every", "1s"],
        &[("RESYNC_INTERVAL", "1s"), ("RESYNC_BACKSTOP_INTERVAL", "off")],
    );
    let mut want = Vec::new();
    for round in 0..3 {
        let [h1, h2, h3, h4] = race_round(&ok, round, &mut want);
        let answers = tokio::join!(
            post_ce_to(&url, h1),
            post_ce_to(&url, h2),
            post_ce_to(&url, h3),
            post_ce_to(&url, h4),
        );
        assert_eq!(answers, (204, 204, 204, 204), "round {round}");
        let until = std::time::Instant::now() + crate::common::ready_within();
        while col.events.lock().unwrap().len() < want.len() {
            assert!(std::time::Instant::now() < until, "round {round}: events missing");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A few more passes and polls over the end state: nothing more.
    let runs = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap()
            .matches("resync run done")
            .count()
    };
    let seen = runs(&log);
    let until = std::time::Instant::now() + crate::common::ready_within();
    while runs(&log) < seen + 2 {
        assert!(std::time::Instant::now() < until, "serve ran no more passes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    for bad in [
        "\"level\":\"ERROR\"",
        "kept changing",
        "held by another writer",
        "head poll failed",
        "resync run failed",
        "not reconciled",
    ] {
        assert!(!text.contains(bad), "{bad} in serve's log:\n{text}");
    }
    let events = col.events.lock().unwrap().clone();
    want.sort();
    assert_eq!(summary(&events), want, "every transition once");
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
}
