//! Faults, each injected on purpose, each ending with nothing lost.
//!
//! Every scenario runs the real pipeline (webhook → real Open Klant HTTP adapter against the
//! HTTP fake → `DynamoStore` on moto → `EventBridgeSink` on moto → SQS), with a store and a
//! sink wrapped to fail on command, delivers like Open Notificaties (re-send until 204), and
//! ends with the same checks as tests/load.rs: the stored link is Open Klant's state, nothing
//! is left in `pending`, every event committed to an outbox reached the bus (lost = 0) and
//! nothing else did, a repeated id carries the same event, and each object's history is
//! valid. Each scenario appends its figures as a JSON line to `$ZAAKLINK_RELIABILITY_OUT`.
//!
//! The real crash — `zaaklink serve` killed with SIGKILL between the state write and the
//! event put — runs the binary as a process (like tests/serve.rs) with the embedded store.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponse, MockResponseInterceptor, RuleMode};
use serde_json::{json, Value};
use tokio::sync::Notify;

use common::cli::SOURCE;
use common::faulty::{self, CommittedLog, Fault, Faults, FaultySink};
use common::fixtures::{core_args, pipeline, post, Scene, AUTH, TOKEN};
use common::history::{check_history, record_commit, report};
use common::Moto;
use zaaklink::cloudevent::event_id;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::link::{Klantcontact, Onderwerpobject, ZaakLink};
use zaaklink::openklant::{HttpOpenKlant, OpenKlant, OpenKlantError, Page};
use zaaklink::reconcile::EventKind;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::MemorySink;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::LinkStore;
use zaaklink::webhook::{Answer, WebhookAuth};
use zaaklink::Zaaklink;

const TABLE: &str = "zaaklink-faults";
const BUS: &str = "zaaklink-faults-bus";

// ---------------------------------------------------------------------------------------------
// Faults on command: "fail the next n ..." (tests/common/faulty.rs does the failing)
// ---------------------------------------------------------------------------------------------

/// Counters: "fail the next n ..." (decremented as they fire); `hang`: the next publish never
/// returns (the process "dies" there), `hung` is notified.
#[derive(Default)]
struct Countdown {
    get_unavailable: AtomicUsize,
    put_conflict: AtomicUsize,
    put_unavailable_before: AtomicUsize,
    put_unavailable_after: AtomicUsize,
    sink_before: AtomicUsize,
    sink_after: AtomicUsize,
    hang: AtomicBool,
    hung: Notify,
    fired: AtomicUsize,
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

impl Faults for Countdown {
    fn fire(&self, fault: Fault) -> bool {
        let fired = match fault {
            Fault::GetUnavailable => take(&self.get_unavailable),
            Fault::PutConflict => take(&self.put_conflict),
            Fault::PutUnavailableBefore => take(&self.put_unavailable_before),
            Fault::PutUnavailableAfter => take(&self.put_unavailable_after),
            Fault::SinkBefore => take(&self.sink_before),
            Fault::SinkAfter => take(&self.sink_after),
            Fault::SinkHang => {
                let hang = self.hang.swap(false, Ordering::SeqCst);
                if hang {
                    self.hung.notify_one();
                }
                hang
            }
        };
        if fired {
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
        fired
    }
}

// ---------------------------------------------------------------------------------------------
// The world: moto, the fake Open Klant, the pipeline
// ---------------------------------------------------------------------------------------------

struct World {
    moto: Moto,
    queue: String,
    ok: FakeOpenKlant,
    /// The objects, under OPEN_KLANT_API_ROOT (the fake's, or a proxy's in front of it).
    scene: Scene,
    app: Zaaklink,
    auth: WebhookAuth,
    /// The faults the store and the sink of `app` inject on command.
    inject: Arc<Countdown>,
    committed: CommittedLog,
    /// Open Klant's state per object: Some(zaak) or None (no zaak / gone).
    truth: BTreeMap<usize, Option<usize>>,
    notifications: usize,
    deliveries: usize,
    /// Faults injected by the scenario itself (Open Klant failures, crashes).
    faults: usize,
    non_2xx: Vec<u16>,
    started: Instant,
}

impl World {
    async fn new() -> World {
        World::with(None, "5000").await
    }

    /// `root`: serve objects under this root instead of the fake's own (a proxy).
    async fn with(root: Option<String>, timeout_ms: &str) -> World {
        let started = Instant::now();
        let moto = Moto::start();
        moto.create_links_table(TABLE).await;
        let queue = moto.create_bus_rule_queue(BUS, SOURCE).await;
        let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
        let root = root.unwrap_or_else(|| ok.api_root());
        let inject = Arc::new(Countdown::default());
        let (store, sink, committed) =
            faulty::on_moto(&moto, TABLE, BUS, inject.clone(), (3, Duration::from_millis(10))).await;
        let (app, auth) = pipeline(core_args(&root, timeout_ms), store, sink);
        World {
            moto,
            queue,
            ok,
            scene: Scene {
                suite: "faults",
                root,
            },
            app,
            auth,
            inject,
            committed,
            truth: BTreeMap::new(),
            notifications: 0,
            deliveries: 0,
            faults: 0,
            non_2xx: vec![],
            started,
        }
    }

    /// Open Klant now shows object i linking zaak z (Some) or a besluit (None).
    fn set(&mut self, i: usize, z: Option<usize>) {
        self.scene.put(&self.ok, i, z);
        self.truth.insert(i, z);
    }

    fn remove(&mut self, i: usize) {
        self.ok.remove(&self.scene.oo_url(i));
        self.truth.insert(i, None);
    }

    fn link(&self, i: usize) -> Option<ZaakLink> {
        self.truth[&i].map(|z| self.scene.link(i, z))
    }

    fn notification(&self, i: usize, actie: &str) -> String {
        self.scene.notification(i, actie)
    }

    fn oo(&self, i: usize) -> String {
        self.scene.id("oo", i)
    }

    /// One delivery attempt, with this pipeline (default: the world's).
    async fn post_with(&mut self, app: &Zaaklink, body: &str) -> Answer {
        self.deliveries += 1;
        let a = post(app, &self.auth, body).await;
        if a.status != 204 {
            self.non_2xx.push(a.status);
        }
        a
    }

    async fn post(&mut self, body: &str) -> Answer {
        let app = self.app.clone();
        self.post_with(&app, body).await
    }

    /// A new notification about object i: first delivery must answer `first`, then it is
    /// re-sent like Open Notificaties does until 204.
    async fn notify(&mut self, i: usize, actie: &str, first: u16) -> Answer {
        self.notifications += 1;
        let body = self.notification(i, actie);
        let a = self.post(&body).await;
        assert_eq!(a.status, first, "{a:?}");
        self.redeliver(&body).await;
        a
    }

    async fn redeliver(&mut self, body: &str) {
        for _ in 0..40 {
            if self.post(body).await.status == 204 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("not delivered after 40 tries: {body}");
    }

    fn injected(&self) -> usize {
        self.faults + self.inject.fired.load(Ordering::SeqCst)
    }

    /// The checks, the JSON line, the asserts.
    async fn finish(self, scenario: &str, description: &str) {
        self.finish_with(scenario, description, None).await
    }

    /// As [`World::finish`]; with `oz`, the events read back from the queue are also
    /// delivered to that fake Open Zaak by `deliver` with its default settings, and its
    /// ZaakObjects compared with Open Klant's final links (RELIABILITY.md "At Open Zaak").
    async fn finish_with(self, scenario: &str, description: &str, oz: Option<&FakeOpenZaak>) {
        let pending = self.app.store.with_pending().await.unwrap();
        let mut problems = Vec::new();
        let mut finals = HashMap::new();
        for &i in self.truth.keys() {
            let uuid = self.oo(i);
            let stored = self.app.store.get(&uuid).await.unwrap().and_then(|r| r.link);
            if stored != self.link(i) {
                problems.push(format!(
                    "object {i}: stored {stored:?}, Open Klant {:?}",
                    self.link(i)
                ));
            }
            finals.insert(uuid, self.link(i));
        }
        for r in &pending {
            problems.push(format!(
                "left in the outbox: {} {:?}",
                r.onderwerpobject,
                r.pending.keys()
            ));
        }
        let received = queue_events(&self.moto, &self.queue).await;
        let committed = self.committed.lock().unwrap().clone();
        let (fig, more) = check_history(&committed, &received, &finals);
        problems.extend(more);
        let mut at_open_zaak = None;
        let mut oz_faults = 0;
        if let Some(oz) = oz {
            let (figures, lost_answers) = deliver_with_defaults(oz, &received, &finals).await;
            for key in ["missing", "duplicated", "stale_resurrections", "parked"] {
                if figures[key] != 0 {
                    problems.push(format!("at Open Zaak: {key} = {}", figures[key]));
                }
            }
            if lost_answers == 0 {
                problems.push("at Open Zaak: no answer was lost".into());
            }
            oz_faults = lost_answers;
            at_open_zaak = Some(figures);
        }
        let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
        for s in &self.non_2xx {
            *answers.entry(*s).or_default() += 1;
        }
        let mut line = json!({
            "scenario": scenario,
            "description": description,
            "notifications": self.notifications,
            "deliveries": self.deliveries,
            "faults": self.injected() + oz_faults,
            "fault_detail": {"non_2xx_answers_retried": answers},
            "events_expected": fig.expected,
            "events_delivered": fig.delivered,
            "lost": fig.lost,
            "phantom": fig.phantom,
            "duplicated": fig.duplicated,
        "stale_replays": fig.stale_replays,
            "stale_replays": fig.stale_replays,
            "pending_left": pending.len(),
            "seconds": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "result": if problems.is_empty() { "pass" } else { "FAIL" },
        });
        if let Some(figures) = at_open_zaak {
            line["open_zaak"] = figures;
        }
        report(line);
        assert!(
            problems.is_empty(),
            "{scenario}: {} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
        assert!(fig.expected > 0, "{scenario}: no events at all");
        assert!(self.injected() + oz_faults > 0, "{scenario}: no fault fired");
    }
}

/// `deliver` as the stack runs it: built from [`DeliverSettings`] with only the required
/// settings (plus a 1 s timeout, to keep the run short), so the zaakobjecten read is at its
/// default. Delivers `events` (shuffled by nothing: queue order) and redelivers what failed,
/// as SQS does. Returns the figures of RELIABILITY.md's "At Open Zaak" table and the number
/// of answers that were lost (a POST whose outcome `deliver` could not know).
async fn deliver_with_defaults(
    oz: &FakeOpenZaak,
    events: &[Value],
    finals: &HashMap<String, Option<ZaakLink>>,
) -> (Value, usize) {
    use std::collections::{HashSet, VecDeque};
    use zaaklink::deliver::{
        DeliverError, DeliverSettings, Deliverer, MemoryDeliveryLog, OpenZaakCredentials, Outcome,
    };
    let settings = DeliverSettings::from_lookup(|name| match name {
        "OPEN_ZAAK_ROOT" => Some(oz.base.clone()),
        "ALLOW_PLAIN_HTTP" => Some("true".into()),
        "OPEN_ZAAK_CLIENT_ID" => Some(OZ_CLIENT.into()),
        "OPEN_ZAAK_SECRET" => Some(OZ_SECRET.into()),
        "DELIVERIES_TABLE" => Some("deliveries".into()),
        "OPEN_ZAAK_TIMEOUT_SECONDS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    assert!(settings.zaken_api_read, "the default reads zaakobjecten");
    let d = Deliverer::new(
        &settings.open_zaak_root,
        OpenZaakCredentials::new(OZ_CLIENT, OZ_SECRET),
        MemoryDeliveryLog::new(),
        settings.timeout,
    )
    .unwrap()
    .with_zaken_api_read(settings.zaken_api_read);
    let mut queue: VecDeque<&Value> = events.iter().collect();
    let (mut receives, mut lost_answers, mut parked) = (0usize, 0usize, 0usize);
    while let Some(e) = queue.pop_front() {
        receives += 1;
        assert!(receives < events.len() * 20 + 100, "deliver does not end");
        match d.deliver(e).await {
            Ok(Outcome::Parked { .. }) => parked += 1,
            Ok(_) => {}
            Err(DeliverError::Request { .. }) => {
                lost_answers += 1;
                queue.push_back(e);
            }
            Err(err) if err.retryable() => queue.push_back(e),
            Err(err) => panic!("{err}"),
        }
    }
    let expected: HashSet<(String, String)> = finals
        .values()
        .flatten()
        .map(|l| (oz.zaak_url(&l.zaak), l.link_to.clone()))
        .collect();
    let mut present: HashMap<(String, String), usize> = HashMap::new();
    for o in oz.objects() {
        *present.entry((o.zaak, o.object)).or_default() += 1;
    }
    let figures = json!({
        "events_from_queue": events.len(),
        "deliver_receives": receives,
        "posts": oz.posts().len(),
        "relations_expected": expected.len(),
        "present": present.values().sum::<usize>(),
        "missing": expected.iter().filter(|k| !present.contains_key(*k)).count(),
        "duplicated": present.values().map(|n| n - 1).sum::<usize>(),
        "stale_resurrections": present.keys().filter(|k| !expected.contains(*k)).count(),
        "parked": parked,
        "lost_answers": lost_answers,
        "zaken_api_read": settings.zaken_api_read,
    });
    (figures, lost_answers)
}

const OZ_CLIENT: &str = "zaaklink-faults";
const OZ_SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";

// ---------------------------------------------------------------------------------------------
// Open Zaak: answers lost after the event was applied
// ---------------------------------------------------------------------------------------------

/// Four objects linked, two of them relinked; Open Zaak applies some events and then loses
/// the answer (`lose` switches the fault on for `n` POSTs).
async fn lost_answers_at_open_zaak(scenario: &str, description: &str, lose: impl Fn(&FakeOpenZaak)) {
    let mut w = World::new().await;
    let oz = FakeOpenZaak::start(OZ_CLIENT, OZ_SECRET).await.unwrap();
    for i in 0..4 {
        w.set(i, Some(i % 2));
        w.notify(i, "create", 204).await;
    }
    for i in 0..2 {
        w.set(i, Some(2));
        w.notify(i, "update", 204).await;
    }
    lose(&oz);
    w.finish_with(scenario, description, Some(&oz)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_zaak_applies_then_drops_the_connection_nothing_duplicated() {
    lost_answers_at_open_zaak(
        "open_zaak_connection_dropped",
        "Open Zaak applies 4 events, then drops the connection without an answer; deliver with its default settings",
        |oz| oz.drop_after_apply(4),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_zaak_answers_after_the_timeout_nothing_duplicated() {
    lost_answers_at_open_zaak(
        "open_zaak_answer_after_timeout",
        "Open Zaak applies 4 events, then answers 202 after 2 s, past deliver's timeout (1 s); default settings otherwise",
        |oz| oz.answer_late_after_apply(4, Duration::from_secs(2)),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The checks (the same as tests/load.rs)
// ---------------------------------------------------------------------------------------------

async fn queue_events(moto: &Moto, queue: &str) -> Vec<Value> {
    moto.receive_all(queue)
        .await
        .into_iter()
        .map(|envelope| {
            assert_eq!(envelope["source"], SOURCE, "{envelope}");
            assert_eq!(envelope["detail-type"], envelope["detail"]["type"], "{envelope}");
            envelope["detail"].clone()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Open Klant: 5xx, token refused, slower than the timeout, connection refused
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn open_klant_5xx_and_401_answer_502_then_the_retry_succeeds() {
    let mut w = World::new().await;
    w.set(0, Some(0));
    for status in [500, 502, 503, 401, 403] {
        w.ok.fail_with(Some(status));
        w.faults += 1;
        let body = w.notification(0, "create");
        let a = w.post(&body).await;
        assert_eq!(a.status, 502, "Open Klant {status}: {a:?}");
        assert!(
            w.app.store.get(&w.oo(0)).await.unwrap().is_none(),
            "no state written"
        );
    }
    w.ok.fail_with(None);
    w.notify(0, "create", 204).await;
    // A relink while Open Klant fails: 502 until it is back.
    w.set(0, Some(1));
    w.ok.fail_with(Some(500));
    w.faults += 1;
    let body = w.notification(0, "update");
    w.notifications += 1;
    assert_eq!(w.post(&body).await.status, 502);
    w.ok.fail_with(None);
    w.redeliver(&body).await;
    w.finish(
        "open_klant_5xx",
        "Open Klant answers 500/502/503/401/403: 502, retried until 204",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_klant_slower_than_the_timeout_answers_502_then_ok() {
    let mut w = World::with(None, "150").await;
    w.set(0, Some(0));
    // far longer than the timeout, so that the answer's arrival before it proves the timeout
    // applies even on a busy machine (no tight bound on the time taken)
    w.ok.delay(Some(Duration::from_secs(30)));
    w.faults += 1;
    let body = w.notification(0, "create");
    w.notifications += 1;
    let t = Instant::now();
    let a = w.post(&body).await;
    assert_eq!(a.status, 502, "{a:?}");
    // the answer says what failed, not where or how long (that is logged)
    assert!(
        a.body.as_ref().unwrap().1.contains("did not answer in time"),
        "{a:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the timeout applies: answered after {:?}, the fake answers after 30 s",
        t.elapsed()
    );
    w.ok.delay(None);
    w.redeliver(&body).await;
    w.finish(
        "open_klant_timeout",
        "Open Klant slower than OPEN_KLANT_TIMEOUT_MS=150: 502, then OK",
    )
    .await;
}

/// A TCP forwarder to the fake on a fixed port, that can be down (connection refused).
async fn forward(listener: tokio::net::TcpListener, to: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let to = to.clone();
        tokio::spawn(async move {
            if let Ok(mut out) = tokio::net::TcpStream::connect(&to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_klant_connection_refused_answers_502_then_ok() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = format!("http://127.0.0.1:{port}/klantinteracties/api/v1/");
    let mut w = World::with(Some(root), "2000").await;
    w.set(0, Some(0));
    // Nothing listens on the port: connection refused.
    let body = w.notification(0, "create");
    w.notifications += 1;
    for _ in 0..3 {
        w.faults += 1;
        let a = w.post(&body).await;
        assert_eq!(a.status, 502, "{a:?}");
        assert!(
            a.body
                .as_ref()
                .unwrap()
                .1
                .contains("Open Klant could not be reached"),
            "{a:?}"
        );
    }
    assert!(w.ok.requests().is_empty());
    // Open Klant comes back on that port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let to = w.ok.base.trim_start_matches("http://").to_string();
    let proxy = tokio::spawn(forward(listener, to));
    w.redeliver(&body).await;
    w.set(0, Some(1));
    w.notify(0, "update", 204).await;
    proxy.abort();
    w.finish(
        "open_klant_refused",
        "OPEN_KLANT_API_ROOT on a closed port: 502, then the port opens",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// EventBridge: partial failures, throttling, failures before and after the put
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn event_sink_failures_keep_the_outbox_and_redelivery_puts_the_same_ids() {
    let mut w = World::new().await;
    // The first two publishes fail before anything is put: 503, the state and its events
    // are stored, the redelivery puts them.
    w.set(0, Some(0));
    w.inject.sink_before.store(2, Ordering::SeqCst);
    w.notify(0, "create", 503).await;
    // Failures *after* the put (the answer was lost): 503, redelivery puts the same ids again.
    w.set(0, Some(1));
    w.inject.sink_after.store(1, Ordering::SeqCst);
    w.notify(0, "update", 503).await;
    // The sink fails; Open Klant changes meanwhile; the next notification puts the waiting
    // events first, then the new transition.
    w.set(1, Some(0));
    w.inject.sink_before.store(1, Ordering::SeqCst);
    let body = w.notification(1, "create");
    w.notifications += 1;
    assert_eq!(w.post(&body).await.status, 503);
    let waiting: Vec<String> = w
        .app
        .store
        .get(&w.oo(1))
        .await
        .unwrap()
        .unwrap()
        .pending
        .into_keys()
        .collect();
    let epoch = w.app.store.epoch().await.unwrap();
    assert_eq!(waiting, [event_id(epoch, &w.oo(1), 1, EventKind::Gekoppeld)]);
    w.set(1, None);
    w.notify(1, "partial_update", 204).await;
    // The sink fails; the sweep puts the outbox with the same ids.
    w.set(2, Some(2));
    w.inject.sink_before.store(1, Ordering::SeqCst);
    w.notifications += 1;
    let body = w.notification(2, "create");
    assert_eq!(w.post(&body).await.status, 503);
    let swept = w.app.sweep().await.unwrap();
    assert_eq!((swept.objects, swept.emitted), (1, 1));
    w.finish("eventbridge_sink_failures", "PutEvents fails before (x4) or after (x1) the put: 503, outbox kept, redelivery / next notification / sweep put the same ids")
        .await;
}

fn entry_detail_id(e: &PutEventsRequestEntry) -> String {
    let v: Value = serde_json::from_str(e.detail().unwrap_or("{}")).unwrap();
    v["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn put_events_partial_failures_and_throttling_lose_nothing() {
    let mut w = World::new().await;
    // An EventBridge client whose PutEvents answers are made here: call 0 mod 4 is throttled
    // as a whole, call 1 mod 4 refuses its last entry (the others really go to moto), the
    // rest go through to moto. Forwarding uses a plain moto client on its own thread.
    let forward_client = w.moto.eventbridge().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (c, r) = (calls.clone(), refused.clone());
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_compute_response(move |req| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let entries: Vec<PutEventsRequestEntry> = req.entries().to_vec();
        if n % 4 == 0 {
            r.fetch_add(entries.len(), Ordering::SeqCst);
            return MockResponse::Error(PutEventsError::generic(
                aws_sdk_eventbridge::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            ));
        }
        let fail_last = n % 4 == 1;
        let (send, keep): (Vec<_>, Vec<_>) = if fail_last {
            let mut e = entries.clone();
            let last = e.pop();
            (e, last.into_iter().collect())
        } else {
            (entries.clone(), vec![])
        };
        r.fetch_add(keep.len(), Ordering::SeqCst);
        if !send.is_empty() {
            let client = forward_client.clone();
            let failed = std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(client.put_events().set_entries(Some(send.clone())).send())
                        .expect("moto PutEvents")
                        .failed_entry_count()
                })
                .join()
                .unwrap()
            });
            assert_eq!(failed, 0);
        }
        let mut results: Vec<PutEventsResultEntry> = send
            .iter()
            .map(|e| {
                PutEventsResultEntry::builder()
                    .event_id(entry_detail_id(e))
                    .build()
            })
            .collect();
        for _ in &keep {
            results.push(
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            );
        }
        MockResponse::Output(
            PutEventsOutput::builder()
                .failed_entry_count(keep.len() as i32)
                .set_entries(Some(results))
                .build(),
        )
    });
    let cfg = w.moto.sdk_config().await;
    let conf = aws_sdk_eventbridge::config::Builder::from(&cfg)
        .http_client(create_mock_http_client())
        .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&rule),
        )
        .build();
    let flaky = Arc::new(
        EventBridgeSink::new(aws_sdk_eventbridge::Client::from_conf(conf), BUS, SOURCE)
            .with_retry(3, Duration::from_millis(5)),
    );
    w.app.sink = Arc::new(FaultySink {
        inner: flaky,
        faults: w.inject.clone(),
    });
    // Links, relinks (two events in one PutEvents: ontkoppeld + gekoppeld), unlinks.
    for round in 0..4 {
        for i in 0..3 {
            let z = match (round + i) % 4 {
                3 => None,
                z => Some(z),
            };
            w.set(i, z);
            w.notifications += 1;
            let body = w.notification(i, if round == 0 { "create" } else { "update" });
            w.redeliver(&body).await;
        }
    }
    w.faults += refused.load(Ordering::SeqCst);
    eprintln!(
        "PutEvents calls {}, entries refused {}",
        calls.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
    w.finish("eventbridge_partial_failures", "PutEvents throttled as a whole every 4th call, last entry refused every 4th call: only refused entries retried")
        .await;
}

// ---------------------------------------------------------------------------------------------
// DynamoDB: conditional conflicts, true concurrency, throttling
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_conflicts_and_true_concurrency_lose_nothing() {
    let mut w = World::new().await;
    // A few conflicts: the bounded optimistic-lock loop absorbs them (204).
    w.set(0, Some(0));
    w.inject.put_conflict.store(3, Ordering::SeqCst);
    w.notify(0, "create", 204).await;
    // More conflicts than attempts: 503 (contention), retried later.
    w.set(0, Some(1));
    w.inject.put_conflict.store(9, Ordering::SeqCst);
    w.notify(0, "update", 503).await;
    // True concurrency on one object: 12 deliveries in flight per change, the next change
    // made as soon as one of them is done.
    w.set(1, Some(0));
    let body = w.notification(1, "create");
    w.notifications += 1;
    w.redeliver(&body).await;
    let deliveries = Arc::new(AtomicUsize::new(0));
    let mut inflight = tokio::task::JoinSet::new();
    for round in 0..12usize {
        let z = if round % 5 == 4 { None } else { Some(round % 3) };
        w.set(1, z);
        w.notifications += 1;
        let body = w.notification(1, "update");
        for _ in 0..12 {
            let (app, auth, body, n) = (w.app.clone(), w.auth.clone(), body.clone(), deliveries.clone());
            inflight.spawn(async move {
                for _ in 0..60 {
                    n.fetch_add(1, Ordering::SeqCst);
                    if post(&app, &auth, &body).await.status == 204 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("not delivered");
            });
        }
        inflight.join_next().await.unwrap().unwrap();
    }
    while let Some(done) = inflight.join_next().await {
        done.unwrap();
    }
    w.deliveries += deliveries.load(Ordering::SeqCst);
    // Level-triggered: one more notification after quiescence (see tests/load.rs).
    w.notify(1, "update", 204).await;
    w.finish(
        "dynamodb_conflicts",
        "12 injected version conflicts; 12 changes x 12 concurrent deliveries on one object",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_throttling_answers_503_then_ok() {
    let mut w = World::new().await;
    // A write whose answer was lost leaves its outbox claimed: a short lease, so the
    // redeliveries below wait it out in well under a second instead of 15 s each.
    w.app.settings.outbox_lease = Duration::from_millis(300);
    w.set(0, Some(0));
    w.inject.get_unavailable.store(2, Ordering::SeqCst);
    let a = w.notify(0, "create", 503).await;
    // the answer names the failing side, never the SDK error (that is logged)
    let detail = a.body.unwrap().1;
    assert!(detail.contains("link store is unavailable"), "{detail}");
    assert!(!detail.contains("ProvisionedThroughputExceeded"), "{detail}");
    w.set(0, Some(1));
    w.inject.put_unavailable_before.store(2, Ordering::SeqCst);
    w.notify(0, "update", 503).await;
    // The write happened but its answer was lost: 503; the redelivery finds the outbox.
    w.set(0, None);
    w.inject.put_unavailable_after.store(1, Ordering::SeqCst);
    w.notify(0, "partial_update", 503).await;
    w.set(0, Some(2));
    w.inject.put_unavailable_after.store(2, Ordering::SeqCst);
    w.notify(0, "update", 503).await;
    // Deleted; the destroy's write is refused once.
    w.remove(0);
    w.inject.put_unavailable_before.store(1, Ordering::SeqCst);
    w.notify(0, "destroy", 503).await;
    w.finish(
        "dynamodb_throttling",
        "GetItem/PutItem throttled before the write, or failing after it: 503, retried until 204",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Killed between the state write and PutEvents
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn killed_between_write_and_put_the_sweep_or_next_notification_puts_the_same_ids() {
    let mut w = World::new().await;
    // A short lease, so that the dead writer's claim on its outbox expires within the test.
    w.app.settings.outbox_lease = Duration::from_millis(300);
    for (i, recover_by_sweep) in [(0usize, true), (1, false)] {
        w.set(i, Some(0));
        w.inject.hang.store(true, Ordering::SeqCst);
        let (app, auth, body) = (w.app.clone(), w.auth.clone(), w.notification(i, "create"));
        w.notifications += 1;
        w.deliveries += 1;
        let task = tokio::spawn(async move { post(&app, &auth, &body).await });
        w.inject.hung.notified().await;
        // The process dies here: state and events are written, nothing was put.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        let rec = w.app.store.get(&w.oo(i)).await.unwrap().unwrap();
        let waiting: Vec<String> = rec.pending.keys().cloned().collect();
        let epoch = w.app.store.epoch().await.unwrap();
        assert_eq!(waiting, [event_id(epoch, &w.oo(i), 1, EventKind::Gekoppeld)]);
        if recover_by_sweep {
            let swept = w.app.sweep().await.unwrap();
            assert_eq!(swept.emitted, 1);
        } else {
            // Open Klant changed meanwhile; once the dead writer's claim expired, the next
            // notification puts the waiting event (same id) before the new transition's.
            tokio::time::sleep(Duration::from_millis(400)).await;
            w.set(i, Some(1));
            w.notify(i, "update", 204).await;
        }
    }
    w.finish(
        "killed_between_write_and_put",
        "task aborted inside PutEvents (x2): recovered by the sweep, and by the next notification; same ids",
    )
    .await;
}

/// Accepts connections and reads, never answers: a sink that hangs.
fn black_hole() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read(&mut buf);
            a.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (url, accepted)
}

/// `zaaklink <sub>` against the fake Open Klant, with the embedded store at `state`.
fn zaaklink_cmd(ok: &FakeOpenKlant, state: &Path, sink: &str, sub: &str) -> Command {
    let mut cmd = common::cli::zaaklink_cli(sub, state, &ok.api_root(), AUTH, TOKEN);
    cmd.args(["--sink", sink]);
    cmd
}

fn spawn_serve(ok: &FakeOpenKlant, state: &Path, sink: &str) -> (Child, String) {
    let port = common::cli::free_port();
    let child = zaaklink_cmd(ok, state, sink, "serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::cli::wait_listening(port, "zaaklink serve", None);
    (child, format!("http://127.0.0.1:{port}/"))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_with_sigkill_mid_put_then_sweep_puts_the_same_ids() {
    let started = Instant::now();
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let oo = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
    ok.put(zaaklink::demo::samples::KLANTCONTACT);
    ok.put(zaaklink::demo::samples::ZAAK_A);
    let create = ok.rewrite(zaaklink::demo::samples::CREATE);

    // 1. serve with a sink that never answers; the notification's state is written, then
    //    the put hangs; SIGKILL.
    let (hole, accepted) = black_hole();
    let (mut child, url) = spawn_serve(&ok, &state, &hole);
    let body = create.clone();
    let pending_post = tokio::spawn(async move {
        reqwest::Client::new()
            .post(&url)
            .header("authorization", AUTH)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    });
    let deadline = Instant::now() + common::ready_within();
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the sink was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(pending_post.await.unwrap().is_err(), "the webhook never answered");

    // 2. the state file holds the link and its event in the outbox
    let committed: CommittedLog = Arc::default();
    let expected_id = {
        let store = EmbeddedStore::open(&state).unwrap();
        let expected_id = event_id(store.epoch().await.unwrap(), oo, 1, EventKind::Gekoppeld);
        let rec = store
            .get(oo)
            .await
            .unwrap()
            .expect("the state was written before the kill");
        assert_eq!(rec.pending.keys().collect::<Vec<_>>(), [&expected_id]);
        record_commit(&committed, &rec);
        expected_id
    };

    // 3. `zaaklink sweep` with a working sink puts it, with the same id
    let (col, seen) = common::cli::collector().await;
    let out = zaaklink_cmd(&ok, &state, &col, "sweep").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 events put"));
    let got = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["id"], expected_id.as_str());

    // 4. restarted, the redelivery of the same notification emits nothing more; a sweep
    //    finds nothing.
    let (mut child, url) = spawn_serve(&ok, &state, &col);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("authorization", AUTH)
        .body(create.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = zaaklink_cmd(&ok, &state, &col, "sweep").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 events put"));
    let store = EmbeddedStore::open(&state).unwrap();
    let rec = store.get(oo).await.unwrap().unwrap();
    assert!(rec.pending.is_empty());
    assert_eq!(
        rec.link.as_ref().map(|l| l.zaak.as_str()),
        Some("a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5")
    );
    let mut all = got;
    all.extend(std::mem::take(&mut *seen.lock().unwrap()));
    let committed = committed.lock().unwrap().clone();
    let finals = HashMap::from([(oo.to_string(), rec.link.clone())]);
    let (fig, problems) = check_history(&committed, &all, &finals);
    report(json!({
        "scenario": "serve_sigkill_mid_put",
        "description": "zaaklink serve killed with SIGKILL while PutEvents hangs; restarted; zaaklink sweep",
        "notifications": 1,
        "deliveries": 2,
        "faults": 1,
        "events_expected": fig.expected,
        "events_delivered": fig.delivered,
        "lost": fig.lost,
        "phantom": fig.phantom,
        "duplicated": fig.duplicated,
        "stale_replays": fig.stale_replays,
        "pending_left": 0,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "result": if problems.is_empty() { "pass" } else { "FAIL" },
    }));
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------------------------------------
// A race found by these tests (see the report): a stale writer after an "unchanged" reader
// ---------------------------------------------------------------------------------------------

/// Holds the first onderwerpobject GET's answer until released (a slow reader).
struct GatedKlant {
    inner: HttpOpenKlant,
    armed: AtomicBool,
    fetched: Notify,
    release: Notify,
}

#[async_trait]
impl OpenKlant for GatedKlant {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        let r = self.inner.onderwerpobject(url).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            self.fetched.notify_one();
            self.release.notified().await;
        }
        r
    }

    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.inner.klantcontact(url).await
    }

    async fn klantcontact_expanded(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::openklant::ExpandedKlantcontact>, OpenKlantError> {
        self.inner.klantcontact_expanded(url).await
    }

    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        self.inner.zaak_onderwerpobjecten(page, page_size).await
    }
}

/// Open Klant: A → B → A. Delivery 1 (about the move to B) reads the store, GETs B, and is
/// slow; meanwhile the object moves back to A and delivery 2 reads the store (A), GETs A,
/// finds nothing to do and answers 204 *without writing*. Delivery 1 then writes B — its
/// conditional write succeeds, because nobody bumped the version — and emits ontkoppeld(A) +
/// gekoppeld(B). Without more, Open Klant would say A while zaaklink and Open Zaak say B, with
/// no notification coming. zaaklink therefore looks at Open Klant once more after each write
/// and reconciles again: the end state is A (after a visible A → B → A history).
/// Within one process the two would take turns (DESIGN §5, "Serialized per object"), so
/// delivery 2 runs as another process would: its own handle on the same store.
#[tokio::test(flavor = "multi_thread")]
async fn stale_writer_after_unchanged_reader_loses_the_final_state() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let cfg = core_args(&ok.api_root(), "5000").validate().unwrap();
    let klant = Arc::new(GatedKlant {
        inner: HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            cfg.open_klant_timeout,
        ),
        armed: AtomicBool::new(false),
        fetched: Notify::new(),
        release: Notify::new(),
    });
    let sink = Arc::new(MemorySink::default());
    let app = Zaaklink {
        klant: klant.clone(),
        store: Arc::new(MemoryStore::default()),
        sink: sink.clone(),
        settings: cfg.settings.clone(),
    };
    let auth = cfg.webhook_auth.clone();
    let rw = |s: &str| ok.rewrite(s);
    use zaaklink::demo::samples::*;
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    assert_eq!(post(&app, &auth, &rw(CREATE)).await.status, 204);
    // Open Klant moves to B; delivery 1 is slow after its GET.
    ok.put(ZAAK_B);
    klant.armed.store(true, Ordering::SeqCst);
    let (app1, auth1, update) = (app.clone(), auth.clone(), rw(UPDATE));
    let slow = tokio::spawn(async move { post(&app1, &auth1, &update).await });
    klant.fetched.notified().await;
    // Open Klant moves back to A; delivery 2 of that change is handled at once, by another
    // process (another instance of the webhook function) on the same table.
    ok.put(ZAAK_A);
    let other = Zaaklink {
        store: Arc::new(faulty::FaultyStore {
            inner: app.store.clone(),
            faults: Arc::new(Countdown::default()),
            committed: CommittedLog::default(),
        }),
        ..app.clone()
    };
    assert_eq!(post(&other, &auth, &rw(UPDATE)).await.status, 204);
    klant.release.notify_one();
    assert_eq!(slow.await.unwrap().status, 204);
    let stored = app
        .store
        .get("5fee9673-216c-41e7-91d2-69a8d1526b9f")
        .await
        .unwrap()
        .unwrap();
    let types: Vec<&str> = sink
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.event_type())
        .collect::<Vec<_>>();
    assert_eq!(
        stored.link.as_ref().map(|l| l.zaak.as_str()),
        Some("a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5"),
        "Open Klant links zaak A; zaaklink stored {:?} after emitting {types:?}",
        stored.link
    );
}
