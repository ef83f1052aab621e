//! Issue 24: how fresh the Lambda shape is, on moto. The head poll runs as the template runs
//! it — the Input of `HeadPollScheduleRule` with `HeadPollEvery` at its default, sent to
//! `zaaklink::lambda::handle_with` (the resync function's handler) once a minute, as
//! EventBridge's `rate(1 minute)` does — against the fake Open Klant over HTTP, the real
//! `DynamoStore` (links, checkpoint, head state) and `EventBridgeSink` on moto; the bus rule
//! puts the events on an SQS queue (moto), which `DeliveryMaximumConcurrency` workers read in
//! batches of the mapping's `BatchSize` and hand to `deliver::sqs::handle_batch` (the
//! DynamoDB delivery log on moto) → the fake Open Zaak, which takes 270 ms a POST (Open Zaak
//! 1.30 measured about 0.27 s a `zaak-gekoppeld`: it reads `linkTo` back from Open Klant).
//!
//! Measured, never asserted:
//! - a silent create (an onderwerpobject no component announces): from Open Klant's change to
//!   the ZaakObject at Open Zaak, for creates at random moments of the minute;
//! - a burst of creates at once: from the burst to its first and last event on the bus
//!   (zaaklink's part: the poll, the pass it asks for) and to the last ZaakObject at Open
//!   Zaak (the queue's part), and the most POSTs Open Zaak answered at once (the queue's
//!   bound);
//! - the Open Klant requests of the head poll in an idle minute (nothing changed).
//!
//! `cargo bench --bench freshness` (or `scripts/bench-freshness`, which writes the section of
//! BENCHMARKS.md). `ZAAKLINK_BENCH_OBJECTS` (300), `ZAAKLINK_BENCH_CREATES` (8),
//! `ZAAKLINK_BENCH_BURST` (250). One JSON object on stdout. Exit code 2 without moto_server.

// the moto harness and fixtures of the integration tests
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use common::cli::SOURCE;
use common::fixtures::{core_args, pipeline, Scene};
use common::{find_moto_server, Moto};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::config::ResyncArgs;
use zaaklink::deliver::log::{dynamodb::create_table, DynamoDbDeliveryLog};
use zaaklink::deliver::sqs::{handle_batch, Queues};
use zaaklink::deliver::{Deliverer, OpenZaakCredentials};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::resync::Resync;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::dynamodb::DynamoStore;

const TABLE: &str = "zaaklink-fresh-links";
const DELIVERIES: &str = "zaaklink-fresh-deliveries";
const BUS: &str = "zaaklink-fresh-bus";
const CLIENT: &str = "zaaklink-fresh";
const SECRET: &str = "freshness-bench-open-zaak-secret-32!";
/// Open Zaak 1.30's time per `zaak-gekoppeld` (issue 24, against the real chain).
const OPEN_ZAAK_POST: Duration = Duration::from_millis(270);
/// EventBridge's shortest schedule: the head job's invocations.
const MINUTE: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the template sets: the head job's Input (HeadPollEvery at its default), the delivery
/// mapping's BatchSize and DeliveryMaximumConcurrency's default.
struct Shape {
    head_input: Value,
    head_poll_every: u64,
    batch_size: usize,
    max_concurrency: usize,
}

fn template_shape() -> Shape {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let t: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let every = t["Parameters"]["HeadPollEvery"]["Default"].as_u64().unwrap();
    let sub = t["Resources"]["HeadPollScheduleRule"]["Properties"]["Targets"][0]["Input"]["Fn::Sub"]
        .as_str()
        .expect("the head poll's Input is an Fn::Sub")
        .replace("${HeadPollEvery}", &every.to_string());
    Shape {
        head_input: serde_json::from_str(&sub).unwrap(),
        head_poll_every: every,
        batch_size: t["Resources"]["DeliveryQueueMapping"]["Properties"]["BatchSize"]
            .as_u64()
            .unwrap() as usize,
        max_concurrency: t["Parameters"]["DeliveryMaximumConcurrency"]["Default"]
            .as_u64()
            .unwrap() as usize,
    }
}

/// The EventBridge sink, noting when each put ended and how many events it carried.
struct TimedSink {
    inner: EventBridgeSink,
    puts: Mutex<Vec<(Instant, usize)>>,
}

#[async_trait::async_trait]
impl EventSink for TimedSink {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.inner.publish(events).await?;
        self.puts.lock().unwrap().push((Instant::now(), events.len()));
        Ok(())
    }
}

impl TimedSink {
    /// When the `n`th event put since `from` was on the bus.
    fn nth_since(&self, from: Instant, n: usize) -> Option<Instant> {
        let mut seen = 0;
        for (at, k) in self.puts.lock().unwrap().iter().filter(|(at, _)| *at >= from) {
            seen += k;
            if seen >= n {
                return Some(*at);
            }
        }
        None
    }
}

/// Parking is counted (nothing should park here); a retry waits for the visibility timeout.
struct Parking(AtomicUsize);

#[async_trait::async_trait]
impl Queues for Parking {
    async fn park(&self, _body: &str) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn delay(&self, _arn: &str, _handle: &str, _delay: Duration) -> Result<(), String> {
        Ok(())
    }
}

/// The delivery queue's event source mapping: `workers` at once, each a batch of at most
/// `batch` messages through `handle_batch`; what it delivered is deleted.
fn start_deliver(
    moto: &Moto,
    rt: &tokio::runtime::Runtime,
    queue: String,
    d: Arc<Deliverer<DynamoDbDeliveryLog>>,
    workers: usize,
    batch: usize,
    stop: Arc<AtomicBool>,
) {
    let sqs = rt.block_on(moto.sqs());
    let parking = Arc::new(Parking(AtomicUsize::new(0)));
    for _ in 0..workers {
        let (sqs, queue, d, stop, parking) = (
            sqs.clone(),
            queue.clone(),
            d.clone(),
            stop.clone(),
            parking.clone(),
        );
        rt.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Ok(out) = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(batch as i32)
                    .wait_time_seconds(1)
                    .send()
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    continue;
                }
                let mut event = SqsEvent::default();
                event.records = messages
                    .iter()
                    .map(|m| {
                        let mut s = SqsMessage::default();
                        s.message_id = m.message_id.clone();
                        s.receipt_handle = m.receipt_handle.clone();
                        s.body = m.body.clone();
                        s.attributes.insert("ApproximateReceiveCount".into(), "1".into());
                        s
                    })
                    .collect();
                let resp = handle_batch(&*d, &*parking, &event).await;
                for m in &messages {
                    let failed = resp
                        .batch_item_failures
                        .iter()
                        .any(|f| Some(&f.item_identifier) == m.message_id.as_ref());
                    if let (false, Some(h)) = (failed, m.receipt_handle.as_deref()) {
                        let _ = sqs
                            .delete_message()
                            .queue_url(&queue)
                            .receipt_handle(h)
                            .send()
                            .await;
                    }
                }
            }
        });
    }
}

/// Notes when each object's first ZaakObject appears at Open Zaak (every 50 ms).
fn start_observer(
    rt: &tokio::runtime::Runtime,
    oz: Arc<FakeOpenZaak>,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Arc<AtomicBool>,
) {
    rt.spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let objects = oz.objects();
            {
                let mut s = seen.lock().unwrap();
                for o in objects {
                    s.entry(o.object).or_insert(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

fn wait_for(seen: &Mutex<HashMap<String, Instant>>, urls: &[String], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if urls.iter().all(|u| seen.lock().unwrap().contains_key(u)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    let median = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
    json!({"n": ms.len(), "median_ms": median, "max_ms": ms.last().copied().unwrap_or(f64::NAN),
        "min_ms": ms.first().copied().unwrap_or(f64::NAN)})
}

fn main() {
    if find_moto_server().is_none() {
        eprintln!("freshness: moto_server not found: run scripts/test once (it installs it)");
        std::process::exit(2);
    }
    let objects = env_usize("ZAAKLINK_BENCH_OBJECTS", 300);
    let creates = env_usize("ZAAKLINK_BENCH_CREATES", 8);
    let burst = env_usize("ZAAKLINK_BENCH_BURST", 250);
    let shape = template_shape();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let moto = Moto::start();
    rt.block_on(moto.create_links_table(TABLE));
    let queue = rt.block_on(moto.create_bus_rule_queue(BUS, SOURCE));
    let ddb = rt.block_on(moto.dynamodb());
    rt.block_on(create_table(&ddb, DELIVERIES)).unwrap();
    let ok = rt
        .block_on(FakeOpenKlant::start(common::fixtures::TOKEN))
        .unwrap();
    let oz = Arc::new(rt.block_on(FakeOpenZaak::start(CLIENT, SECRET)).unwrap());
    let scene = Scene {
        suite: "fresh",
        root: ok.api_root(),
    };
    for i in 0..objects {
        scene.put(&ok, i, Some(i % 40));
    }
    let store = Arc::new(DynamoStore::new(ddb.clone(), TABLE));
    let sink = Arc::new(TimedSink {
        inner: EventBridgeSink::new(rt.block_on(moto.eventbridge()), BUS, SOURCE),
        puts: Mutex::default(),
    });
    let (app, auth) = pipeline(core_args(&ok.api_root(), "10000"), store.clone(), sink.clone());
    let resync = Resync::new(&app, store, ResyncArgs::default().validate().unwrap());
    let deliverer = Arc::new(
        Deliverer::new(
            &oz.base,
            OpenZaakCredentials::new(CLIENT, SECRET),
            DynamoDbDeliveryLog::new(ddb, DELIVERIES),
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    start_deliver(
        &moto,
        &rt,
        queue,
        deliverer,
        shape.max_concurrency,
        shape.batch_size,
        stop.clone(),
    );
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    start_observer(&rt, oz.clone(), seen.clone(), stop.clone());

    // Onboarding: a pass stores the links, deliver brings them to Open Zaak.
    eprintln!("freshness: onboarding {objects} objects");
    rt.block_on(resync.full_pass()).expect("the onboarding pass");
    let all: Vec<String> = (0..objects).map(|i| scene.oo_url(i)).collect();
    assert!(
        wait_for(&seen, &all, Duration::from_secs(600)),
        "onboarding delivered"
    );
    oz.set_delay(Some(OPEN_ZAAK_POST));

    // EventBridge: the head job once a minute, each invocation with 900 s (the function's
    // timeout) less the reserve.
    let invocations = Arc::new(AtomicUsize::new(0));
    {
        let (app, auth, resync, input, stop, n) = (
            app.clone(),
            auth.clone(),
            resync.clone(),
            shape.head_input.clone(),
            stop.clone(),
            invocations.clone(),
        );
        rt.spawn(async move {
            let mut ticks = tokio::time::interval(MINUTE);
            while !stop.load(Ordering::SeqCst) {
                ticks.tick().await;
                n.fetch_add(1, Ordering::SeqCst);
                let (app, auth, resync, input) = (app.clone(), auth.clone(), resync.clone(), input.clone());
                tokio::spawn(async move {
                    let stop_at = Instant::now() + Duration::from_secs(890);
                    if let Err(e) =
                        zaaklink::lambda::handle_with(&app, &auth, input, Some(&resync), Some(stop_at)).await
                    {
                        eprintln!("freshness: head job failed: {e}");
                    }
                });
            }
        });
    }
    std::thread::sleep(Duration::from_secs(2));

    // Silent creates at random moments, one every 5–20 s.
    let mut rng = rand::rngs::StdRng::seed_from_u64(24);
    let mut create_ms = Vec::new();
    let mut made = Vec::new();
    for k in 0..creates {
        std::thread::sleep(Duration::from_millis(rng.random_range(5_000..20_000)));
        let i = objects + k;
        scene.put(&ok, i, Some(i % 40));
        made.push((scene.oo_url(i), Instant::now()));
        eprintln!("freshness: silent create {}/{creates}", k + 1);
    }
    let urls: Vec<String> = made.iter().map(|(u, _)| u.clone()).collect();
    let all_in = wait_for(&seen, &urls, Duration::from_secs(300));
    for (u, at) in &made {
        if let Some(t) = seen.lock().unwrap().get(u) {
            create_ms.push(t.duration_since(*at).as_secs_f64() * 1e3);
        }
    }

    // Idle: the Open Klant requests of one whole minute with nothing changed.
    std::thread::sleep(Duration::from_secs(20));
    let count_lists = || {
        ok.requests()
            .iter()
            .filter(|r| r.contains("onderwerpobjecten?"))
            .count()
    };
    let before = count_lists();
    std::thread::sleep(MINUTE);
    let idle_lists_minute = count_lists() - before;
    let idle_all_minute = {
        let b = ok.requests().len();
        std::thread::sleep(MINUTE);
        ok.requests().len() - b
    };

    // A burst of creates at once.
    let first = objects + creates;
    let t0 = Instant::now();
    for i in first..first + burst {
        scene.put(&ok, i, Some(i % 40));
    }
    let burst_urls: Vec<String> = (first..first + burst).map(|i| scene.oo_url(i)).collect();
    let burst_in = wait_for(&seen, &burst_urls, Duration::from_secs(900));
    let burst_last = burst_urls
        .iter()
        .filter_map(|u| seen.lock().unwrap().get(u).copied())
        .max()
        .map(|t| t.duration_since(t0).as_secs_f64());
    let burst_on_bus = sink
        .nth_since(t0, burst)
        .map(|t| t.duration_since(t0).as_secs_f64());
    let burst_first_on_bus = sink.nth_since(t0, 1).map(|t| t.duration_since(t0).as_secs_f64());
    stop.store(true, Ordering::SeqCst);

    let out = json!({
        "objects": objects,
        "head_poll_every_s": shape.head_poll_every,
        "head_input": shape.head_input,
        "batch_size": shape.batch_size,
        "max_concurrency": shape.max_concurrency,
        "open_zaak_post_ms": OPEN_ZAAK_POST.as_millis() as u64,
        "silent_create": summary(create_ms),
        "silent_creates_all_delivered": all_in,
        "burst": burst,
        "burst_all_delivered": burst_in,
        "burst_last_s": burst_last,
        "burst_first_on_bus_s": burst_first_on_bus,
        "burst_all_on_bus_s": burst_on_bus,
        "open_zaak_max_in_flight": oz.max_in_flight(),
        "idle_list_requests_a_minute": idle_lists_minute,
        "idle_requests_a_minute": idle_all_minute,
        "invocations": invocations.load(Ordering::SeqCst),
        "posts": oz.posts().len(),
    });
    println!("{out}");
    rt.shutdown_timeout(Duration::from_secs(1));
}
