//! The whole Lambda path against emulators: Function URL events through
//! `zaaklink::lambda::handle` → the real `HttpOpenKlant` against `FakeOpenKlant` (HTTP on
//! 127.0.0.1) → the real `DynamoStore` and `EventBridgeSink` against a private moto server.
//!
//! Per notification it measures the latency (p50/p99) and counts the round trips: AWS calls
//! per `Service.Operation` (the `CallCounter` interceptor on both SDK clients) and Open Klant
//! GETs (`CountingOpenKlant`), for each transition kind — create (none→Z), duplicate (Z→Z),
//! relink (Z1→Z2), destroy (Z→none). Each cycle uses a fresh onderwerpobject uuid, so the
//! table grows as in real use.
//!
//! `cargo bench --bench moto_path` (or `scripts/bench`, which reads the JSON it writes to
//! `$ZAAKLINK_BENCH_OUT`). `ZAAKLINK_BENCH_CYCLES` (default 100; 4 notifications each).
//! moto is a Python emulator: its latencies say little about DynamoDB's, the call counts are
//! exact. Exit code 2 when moto_server is not installed (run `scripts/test` once).

// the moto harness of the integration tests (also used here for its moto server)
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{find_moto_server, Moto};
use serde_json::{json, Value};
use zaaklink::callcount::{service_total, CallCounter, CountingOpenKlant, OPEN_KLANT};
use zaaklink::config::CoreArgs;
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::store::dynamodb::DynamoStore;
use zaaklink::Zaaklink;

const TABLE: &str = "zaaklink-bench-links";
const BUS: &str = "zaaklink-bench-bus";
const TOKEN: &str = "bench-token";
const SAMPLE_UUID: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
const KINDS: [&str; 4] = ["create", "duplicate", "relink", "destroy"];
const WARMUP_CYCLES: usize = 3;

/// Nearest-rank percentile of sorted durations, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1e3
}

fn latency_summary(mut d: Vec<Duration>) -> Value {
    d.sort();
    let mean = d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len().max(1) as f64 * 1e3;
    json!({
        "n": d.len(),
        "p50_ms": percentile_ms(&d, 50.0),
        "p99_ms": percentile_ms(&d, 99.0),
        "mean_ms": mean,
        "max_ms": d.last().map_or(f64::NAN, |x| x.as_secs_f64() * 1e3),
    })
}

#[derive(Default)]
struct PerKind {
    latencies: Vec<Duration>,
    /// Calls per notification: the distinct snapshots seen, with how often.
    call_patterns: BTreeMap<String, (BTreeMap<String, u64>, usize)>,
    max_dynamodb: u64,
    max_eventbridge: u64,
    max_openklant: u64,
}

fn main() {
    if find_moto_server().is_none() {
        eprintln!(
            "moto_path: moto_server not found on PATH nor in {}/.venv/bin: run scripts/test once (it installs it)",
            env!("CARGO_MANIFEST_DIR")
        );
        std::process::exit(2);
    }
    let cycles: usize = std::env::var("ZAAKLINK_BENCH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = rt.block_on(run(&moto, cycles));
    let text = serde_json::to_string_pretty(&report).expect("the report serialises");
    println!("{text}");
    if let Ok(path) = std::env::var("ZAAKLINK_BENCH_OUT") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
    }
}

async fn run(moto: &Moto, cycles: usize) -> Value {
    let sdk = moto.sdk_config().await;
    zaaklink::store::dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&sdk), TABLE)
        .await
        .unwrap_or_else(|e| panic!("create the links table: {e}"));
    aws_sdk_eventbridge::Client::new(&sdk)
        .create_event_bus()
        .name(BUS)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create the bus: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
            )
        });

    let ok = FakeOpenKlant::start(TOKEN)
        .await
        .expect("start the fake Open Klant");
    ok.put(samples::KLANTCONTACT);
    let cfg = CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: zaaklink::demo::SOURCE.into(),
        webhook_auth: Some(zaaklink::demo::WEBHOOK_AUTH.into()),
        open_klant_api_root: Some(ok.api_root()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "10000".into(),
    }
    .validate()
    .expect("bench settings are valid");
    let counter = CallCounter::new();
    let app = Zaaklink {
        klant: Arc::new(CountingOpenKlant::new(
            HttpOpenKlant::new(
                cfg.settings.api_root.clone(),
                cfg.open_klant_token.clone(),
                cfg.open_klant_timeout,
            ),
            counter.clone(),
        )),
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(counter.dynamodb_config(&sdk)),
            TABLE,
        )),
        sink: Arc::new(EventBridgeSink::new(
            aws_sdk_eventbridge::Client::from_conf(counter.eventbridge_config(&sdk)),
            BUS,
            zaaklink::demo::SOURCE,
        )),
        settings: cfg.settings.clone(),
    };
    let auth = cfg.webhook_auth;

    let event = |file: &str, uuid: &str| -> Value {
        let text = std::fs::read_to_string(format!(
            "{}/events/function-url/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|e| panic!("read events/function-url/{file}: {e}"));
        serde_json::from_str(&ok.rewrite(&text).replace(SAMPLE_UUID, uuid)).expect("sample event is JSON")
    };
    let object = |sample: &str, uuid: &str| sample.replace(SAMPLE_UUID, uuid);

    let mut per_kind: BTreeMap<&str, PerKind> = BTreeMap::new();
    let started = Instant::now();
    for cycle in 0..WARMUP_CYCLES + cycles {
        let uuid = uuid::Uuid::new_v4().to_string();
        let steps: [(&str, &str, Option<String>); 4] = [
            (
                "create",
                "link-created.json",
                Some(object(samples::ZAAK_A, &uuid)),
            ),
            ("duplicate", "duplicate-delivery.json", None),
            ("relink", "relinked.json", Some(object(samples::ZAAK_B, &uuid))),
            ("destroy", "deleted.json", None),
        ];
        for (kind, file, put) in steps {
            if let Some(o) = put {
                ok.put(&o);
            }
            if kind == "destroy" {
                ok.remove(&object(samples::OO_URL, &uuid));
            }
            let ev = event(file, &uuid);
            counter.reset();
            let t = Instant::now();
            let resp = zaaklink::lambda::handle(&app, &auth, ev)
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            let took = t.elapsed();
            assert_eq!(resp["statusCode"], 204, "{kind}: {resp}");
            if cycle < WARMUP_CYCLES {
                continue;
            }
            let calls = counter.snapshot();
            let k = per_kind.entry(kind).or_default();
            k.latencies.push(took);
            k.max_dynamodb = k.max_dynamodb.max(service_total(&calls, "DynamoDB"));
            k.max_eventbridge = k.max_eventbridge.max(service_total(&calls, "EventBridge"));
            k.max_openklant = k.max_openklant.max(service_total(&calls, OPEN_KLANT));
            let key = serde_json::to_string(&calls).expect("counts serialise");
            k.call_patterns.entry(key).or_insert((calls, 0)).1 += 1;
        }
    }
    let wall = started.elapsed();

    let mut all = Vec::new();
    let mut kinds = serde_json::Map::new();
    for kind in KINDS {
        let k = per_kind.remove(kind).unwrap_or_default();
        all.extend_from_slice(&k.latencies);
        let patterns: Vec<Value> = k
            .call_patterns
            .into_values()
            .map(|(calls, times)| json!({"calls": calls, "notifications": times}))
            .collect();
        kinds.insert(
            kind.to_string(),
            json!({
                "latency": latency_summary(k.latencies),
                "max_dynamodb_calls": k.max_dynamodb,
                "max_eventbridge_calls": k.max_eventbridge,
                "max_openklant_gets": k.max_openklant,
                "call_patterns": patterns,
            }),
        );
    }
    json!({
        "cycles": cycles,
        "warmup_cycles": WARMUP_CYCLES,
        "notifications": all.len(),
        "wall_s": wall.as_secs_f64(),
        "latency": latency_summary(all),
        "kinds": kinds,
    })
}
