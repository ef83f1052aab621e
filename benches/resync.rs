//! The resync at municipal scale (issue 11): the fake Open Klant over HTTP with a real one's
//! latency (30 ms a GET, more for a page of 500) and the real `DynamoStore` and
//! `EventBridgeSink` against a private moto server. N zaak onderwerpobjecten over K
//! klantcontacten are stored as the last pass left them; then 1% change silently (a third
//! created, a third relinked, a third deleted) and one pass is timed, counting requests.
//! Every silent change must be emitted exactly once. Then a first pass over an empty store
//! (every link new: the bulk outbox writes the sharded index spreads).
//!
//! `scripts/bench-resync` runs it and writes its section of BENCHMARKS.md. Sizes:
//! ZAAKLINK_BENCH_RESYNC_OBJECTS (100000), _KLANTCONTACTEN (20000), _FIRST (5000),
//! _GET_MS (30), _LIST_US_PER_OBJECT (200). Prints one JSON object on stdout.
//! moto is a Python emulator: its latencies say little about DynamoDB's; the counts are exact.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::{find_moto_server, Moto};
use serde_json::{json, Value};
use zaaklink::callcount::{CallCounter, CountingOpenKlant};
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::resync::{Resync, ResyncSettings};
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::dynamodb::{outbox_shard, DynamoStore};
use zaaklink::Zaaklink;

const TOKEN: &str = "bench-token";
const BUS: &str = "bench-bus";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn uuid(kind: &str, i: usize) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("bench/{kind}/{i}").as_bytes()).to_string()
}

/// Records every event id it passes on, per (object, type, zaak).
struct Recording {
    inner: EventBridgeSink,
    seen: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl EventSink for Recording {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.inner.publish(events).await?;
        let mut seen = self.seen.lock().unwrap();
        for e in events {
            seen.push((e.id.clone(), e.json.clone()));
        }
        Ok(())
    }
}

fn main() {
    if find_moto_server().is_none() {
        eprintln!("resync bench: moto_server not found on PATH nor in .venv/bin: run scripts/test once");
        std::process::exit(2);
    }
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run(&moto));
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

struct Scene {
    root: String,
}

impl Scene {
    fn oo_url(&self, i: usize) -> String {
        format!("{}onderwerpobjecten/{}", self.root, uuid("oo", i))
    }
    fn kc_url(&self, k: usize) -> String {
        format!("{}klantcontacten/{}", self.root, uuid("kc", k))
    }
    fn object(&self, i: usize, zaak: usize, kc: usize) -> Value {
        json!({"uuid": uuid("oo", i), "url": self.oo_url(i),
            "klantcontact": {"uuid": uuid("kc", kc), "url": self.kc_url(kc)}, "wasKlantcontact": null,
            "onderwerpobjectidentificator": {"objectId": uuid("zaak", zaak), "codeObjecttype": "zaak",
                "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}})
    }
    fn klantcontact(&self, k: usize, objects: &[usize]) -> Value {
        json!({"uuid": uuid("kc", k), "url": self.kc_url(k), "nummer": format!("{k}"),
            "onderwerp": format!("Onderwerp {k}"),
            "gingOverOnderwerpobjecten": objects.iter().map(|i| json!({"uuid": uuid("oo", *i), "url": self.oo_url(*i)})).collect::<Vec<_>>()})
    }
}

async fn run(moto: &Moto) -> Value {
    let n = env("ZAAKLINK_BENCH_RESYNC_OBJECTS", 100_000) as usize;
    let kcs = env("ZAAKLINK_BENCH_RESYNC_KLANTCONTACTEN", 20_000) as usize;
    let first_n = env("ZAAKLINK_BENCH_RESYNC_FIRST", 5_000) as usize;
    let get_ms = env("ZAAKLINK_BENCH_RESYNC_GET_MS", 30);
    let list_us = env("ZAAKLINK_BENCH_RESYNC_LIST_US_PER_OBJECT", 200);
    let sdk = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    aws_sdk_eventbridge::Client::new(&sdk)
        .create_event_bus()
        .name(BUS)
        .send()
        .await
        .expect("create the bus");
    let ok = FakeOpenKlant::start(TOKEN)
        .await
        .expect("start the fake Open Klant");
    let scene = Scene { root: ok.api_root() };
    let label = |k: usize| format!("Onderwerp {k} - ({k})");

    // Open Klant: object i on klantcontact i % kcs, zaak i.
    eprintln!("resync bench: {n} objects over {kcs} klantcontacten");
    let mut by_kc: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        by_kc.entry(i % kcs).or_default().push(i);
    }
    ok.put_values((0..kcs).map(|k| scene.klantcontact(k, by_kc.get(&k).map_or(&[][..], |v| v))));
    ok.put_values((0..n).map(|i| scene.object(i, i, i % kcs)));

    // The store as the last pass left it: BatchWriteItem, 25 a call.
    let table = "links";
    zaaklink::store::dynamodb::create_table(&ddb, table)
        .await
        .unwrap();
    let t0 = Instant::now();
    let items: Vec<WriteRequest> = (0..n)
        .map(|i| {
            let item = HashMap::from([
                ("onderwerpobject".to_string(), AttributeValue::S(uuid("oo", i))),
                ("zaak".to_string(), AttributeValue::S(uuid("zaak", i))),
                ("label".to_string(), AttributeValue::S(label(i % kcs))),
                ("linkTo".to_string(), AttributeValue::S(scene.oo_url(i))),
                (
                    "klantcontact".to_string(),
                    AttributeValue::S(scene.kc_url(i % kcs)),
                ),
                ("version".to_string(), AttributeValue::N("2".into())),
                (
                    "updatedAt".to_string(),
                    AttributeValue::S("2026-11-24T00:00:00.000Z".into()),
                ),
            ]);
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut req = HashMap::from([(table.to_string(), chunk.to_vec())]);
        loop {
            let out = ddb
                .batch_write_item()
                .set_request_items(Some(req))
                .send()
                .await
                .expect("BatchWriteItem");
            match out.unprocessed_items.filter(|u| !u.is_empty()) {
                Some(rest) => req = rest,
                None => break,
            }
        }
    }
    eprintln!(
        "resync bench: store seeded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // 1% silent changes: a third created, a third relinked to another zaak, a third deleted.
    let changes = (n / 100).max(3);
    let mut want: BTreeSet<(String, &'static str, String)> = BTreeSet::new();
    let step = n / changes;
    let mut created = 0;
    for c in 0..changes {
        let i = c * step;
        match c % 3 {
            0 => {
                let j = n + c;
                let k = j % kcs;
                ok.put_values([scene.object(j, j, k)]);
                want.insert((uuid("oo", j), "gekoppeld", uuid("zaak", j)));
                created += 1;
            }
            1 => {
                ok.put_values([scene.object(i, n * 10 + i, i % kcs)]);
                want.insert((uuid("oo", i), "ontkoppeld", uuid("zaak", i)));
                want.insert((uuid("oo", i), "gekoppeld", uuid("zaak", n * 10 + i)));
            }
            _ => {
                ok.remove(&scene.oo_url(i));
                want.insert((uuid("oo", i), "ontkoppeld", uuid("zaak", i)));
            }
        }
    }
    ok.delay(Some(Duration::from_millis(get_ms)));
    ok.delay_per_listed(Some(Duration::from_micros(list_us)));

    let counter = CallCounter::new();
    let (app, checkpoints, sink) = pipeline(&sdk, &ok, &counter, table).await;
    let resync = Resync::new(&app, checkpoints, ResyncSettings::default());
    let requests_before = ok.requests().len();
    let t = Instant::now();
    let r = resync.full_pass().await.expect("the pass completes");
    let pass_s = t.elapsed().as_secs_f64();
    let calls = counter.snapshot();
    let ok_requests = ok.requests().len() - requests_before;
    let got: Vec<(String, String)> = sink.seen.lock().unwrap().clone();
    let mut by_id: BTreeMap<String, (String, &'static str, String)> = BTreeMap::new();
    for (id, js) in &got {
        let v: Value = serde_json::from_str(js).unwrap();
        let kind = if v["type"].as_str().unwrap().ends_with("ontkoppeld") {
            "ontkoppeld"
        } else {
            "gekoppeld"
        };
        let oo = v["data"]["linkTo"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        by_id.insert(id.clone(), (oo, kind, v["subject"].as_str().unwrap().to_string()));
    }
    let distinct: BTreeSet<_> = by_id.values().cloned().collect();
    let exactly_once = distinct == want && by_id.len() == want.len() && got.len() == want.len();
    let objects = (n + created) as f64;
    let ddb_calls: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("DynamoDB."))
        .map(|(_, v)| v)
        .sum();
    let usable = 900.0 - 60.0;

    // A first pass over an empty store: every link new, one outbox per object, spread over
    // the outbox shards.
    let first_table = "links-first";
    zaaklink::store::dynamodb::create_table(&ddb, first_table)
        .await
        .unwrap();
    let first_ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let first_scene = Scene {
        root: first_ok.api_root(),
    };
    // about 10 objects per klantcontact, spread over the list (as in the real Open Klant 2.18
    // run of issue 19: 5,001 objects over about 500 klantcontacten)
    let first_kcs = (first_n / 10).max(1);
    first_ok.put_values((0..first_kcs).map(|k| {
        let objects: Vec<usize> = (k..first_n).step_by(first_kcs).collect();
        first_scene.klantcontact(k, &objects)
    }));
    first_ok.put_values((0..first_n).map(|i| first_scene.object(i, i, i % first_kcs)));
    first_ok.delay(Some(Duration::from_millis(get_ms)));
    first_ok.delay_per_listed(Some(Duration::from_micros(list_us)));
    let first_counter = CallCounter::new();
    let (first_app, first_cp, first_sink) = pipeline(&sdk, &first_ok, &first_counter, first_table).await;
    let first = Resync::new(&first_app, first_cp, ResyncSettings::default());
    let t = Instant::now();
    let fr = first.full_pass().await.expect("the first pass completes");
    let first_s = t.elapsed().as_secs_f64();
    let mut shards: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..first_n {
        *shards.entry(outbox_shard(&uuid("oo", i))).or_default() += 1;
    }
    let max_shard = shards.values().max().copied().unwrap_or(0);

    json!({
        "objects": n, "klantcontacten": kcs, "silent_changes": changes, "events_expected": want.len(),
        "get_ms": get_ms, "list_us_per_object": list_us,
        "pass_s": pass_s, "pages": r.run.pages, "rereads": r.run.rereads,
        "written": r.run.written, "emitted": r.run.emitted,
        "events_put": got.len(), "exactly_once": exactly_once,
        "open_klant_requests": ok_requests, "open_klant_per_object": ok_requests as f64 / objects,
        "dynamodb_calls": ddb_calls, "dynamodb_per_object": ddb_calls as f64 / objects,
        "calls": calls,
        "invocations_at_900s": (pass_s / usable).ceil().max(1.0),
        "first_pass": {"objects": first_n, "seconds": first_s, "objects_per_s": first_n as f64 / first_s,
            "emitted": fr.run.emitted, "events_put": first_sink.seen.lock().unwrap().len(),
            "outbox_shards_used": shards.len(), "largest_shard_share": max_shard as f64 / first_n.max(1) as f64,
            "dynamodb_calls": first_counter.service_total("DynamoDB"),
            "klantcontacten": first_kcs, "calls": first_counter.snapshot()},
    })
}

async fn pipeline(
    sdk: &aws_config::SdkConfig,
    ok: &FakeOpenKlant,
    counter: &CallCounter,
    table: &str,
) -> (Zaaklink, Arc<DynamoStore>, Arc<Recording>) {
    let cfg = CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: zaaklink::demo::SOURCE.into(),
        webhook_auth: Some(zaaklink::demo::WEBHOOK_AUTH.into()),
        open_klant_api_root: Some(ok.api_root()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "30000".into(),
    }
    .validate()
    .unwrap();
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(counter.dynamodb_config(sdk)),
        table,
    ));
    let sink = Arc::new(Recording {
        inner: EventBridgeSink::new(
            aws_sdk_eventbridge::Client::from_conf(counter.eventbridge_config(sdk)),
            BUS,
            zaaklink::demo::SOURCE,
        ),
        seen: Mutex::new(Vec::new()),
    });
    let app = Zaaklink {
        klant: Arc::new(CountingOpenKlant::new(
            HttpOpenKlant::new(
                cfg.settings.api_root.clone(),
                cfg.open_klant_token.clone(),
                cfg.open_klant_timeout,
            ),
            counter.clone(),
        )),
        store: store.clone(),
        sink: sink.clone(),
        settings: cfg.settings,
    };
    (app, store, sink)
}
