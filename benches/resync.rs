//! The resync at municipal scale (issues 11, 25): the fake Open Klant over HTTP with a real
//! one's latency (30 ms a GET; a list page of 500 takes 195 ms, as a real Open Klant 2.18's
//! did: 41 s for a pass over its 211 pages, DESIGN §7a), the real `DynamoStore` and
//! `EventBridgeSink` against a private moto server, and the embedded store (`serve`'s
//! default). N zaak onderwerpobjecten over K klantcontacten are stored (in both stores) as the
//! last pass left them. Side by side in one run: the list alone (every page, nothing else),
//! then zaaklink's pass on each store with nothing changed; then 1% change silently (a third
//! created, a third relinked, a third deleted), the list alone again and a pass on each store
//! — every silent change must be emitted exactly once. Then a first pass over an empty store
//! of each kind (every link new, the whole list). Each pass reports the process's peak RSS.
//!
//! `scripts/bench-resync` runs it and writes its section of BENCHMARKS.md. Sizes:
//! ZAAKLINK_BENCH_RESYNC_OBJECTS (100000), _KLANTCONTACTEN (20000), _GET_MS (30),
//! _LIST_US_PER_OBJECT (330: 30 ms + 500 × 330 µs = 195 ms a page of 500). Prints one JSON
//! object on stdout.
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
use zaaklink::callcount::service_total;
use zaaklink::callcount::{CallCounter, CountingOpenKlant};
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::ZaakLink;
use zaaklink::openklant::{ApiRoot, HttpOpenKlant, OpenKlant};
use zaaklink::resync::{Resync, ResyncSettings};
use zaaklink::secret::Secret;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::dynamodb::{outbox_shard, DynamoStore};
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::{CheckpointStore, LinkRecord, LinkStore};
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
    /// None: in memory only (the embedded store's runs: `serve` hands events to its own
    /// delivery, no bus).
    inner: Option<EventBridgeSink>,
    seen: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl EventSink for Recording {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if let Some(inner) = &self.inner {
            inner.publish(events).await?;
        }
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
    let get_ms = env("ZAAKLINK_BENCH_RESYNC_GET_MS", 30);
    // A real Open Klant 2.18: 41 s for a steady pass over 105,001 objects, 211 pages of 500
    // (~195 ms a page, zaaklink's own work included): 30 ms + 500 × 330 µs = 195 ms.
    let list_us = env("ZAAKLINK_BENCH_RESYNC_LIST_US_PER_OBJECT", 330);
    let stores = std::env::var("ZAAKLINK_BENCH_RESYNC_STORES").unwrap_or_else(|_| "dynamodb,embedded".into());
    let (dynamo, emb) = (stores.contains("dynamodb"), stores.contains("embedded"));
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
    if dynamo {
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
    }

    // The embedded store (`serve`'s default) as the last pass left it too.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let embedded =
        Arc::new(EmbeddedStore::open(&dir.path().join("state.redb")).expect("open the state file"));
    let records: Vec<(LinkRecord, u64)> = (0..n)
        .map(|i| {
            let mut r = LinkRecord::absent(&uuid("oo", i));
            r.version = 2;
            r.updated_at = "2026-11-24T00:00:00.000Z".into();
            r.link = Some(ZaakLink {
                zaak: uuid("zaak", i),
                label: label(i % kcs),
                link_to: scene.oo_url(i),
                klantcontact: scene.kc_url(i % kcs),
                was_klantcontact: None,
            });
            (r, 0)
        })
        .collect();
    if emb {
        for chunk in records.chunks(5_000) {
            embedded.put_many(chunk).await.expect("seed the state file");
        }
    }
    drop(records);
    ok.delay(Some(Duration::from_millis(get_ms)));
    ok.delay_per_listed(Some(Duration::from_micros(list_us)));

    // Side by side, unchanged: the list alone, then zaaklink's pass on each store.
    let list_unchanged = list_only(&ok).await;
    eprintln!("resync bench: list only {list_unchanged:.1} s");
    let ddb_unchanged = if dynamo {
        Some(Measured::pass(&sdk, &ok, Target::Dynamo(table), "unchanged, DynamoDB").await)
    } else {
        None
    };
    let emb_unchanged = if emb {
        Some(
            Measured::pass(
                &sdk,
                &ok,
                Target::Embedded(embedded.clone()),
                "unchanged, embedded",
            )
            .await,
        )
    } else {
        None
    };

    // 1% silent changes: a third created, a third relinked to another zaak, a third deleted.
    let changes = (n / 100).max(3);
    let mut want: BTreeSet<(String, &'static str, String)> = BTreeSet::new();
    let step = n / changes;
    let (mut created, mut deleted) = (0, 0);
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
                deleted += 1;
            }
        }
    }
    let list_changed = list_only(&ok).await;
    eprintln!("resync bench: list only {list_changed:.1} s");
    let ddb_changed = if dynamo {
        Some(Measured::pass(&sdk, &ok, Target::Dynamo(table), "1% changed, DynamoDB").await)
    } else {
        None
    };
    let emb_changed = if emb {
        Some(
            Measured::pass(
                &sdk,
                &ok,
                Target::Embedded(embedded.clone()),
                "1% changed, embedded",
            )
            .await,
        )
    } else {
        None
    };
    let objects = (n + created) as f64;

    // A first pass over an empty store: every link new (the whole list: about 100,000 objects
    // over 20,000 klantcontacten), one outbox per object, spread over the outbox shards.
    let listed = n + created - deleted;
    let first_table = "links-first";
    if dynamo {
        zaaklink::store::dynamodb::create_table(&ddb, first_table)
            .await
            .unwrap();
    }
    let first_ddb = if dynamo {
        Some(Measured::pass(&sdk, &ok, Target::Dynamo(first_table), "first pass, DynamoDB").await)
    } else {
        None
    };
    let first_dir = tempfile::tempdir().expect("a temporary folder");
    let first_store =
        Arc::new(EmbeddedStore::open(&first_dir.path().join("state.redb")).expect("open the state file"));
    let first_emb = if emb {
        Some(Measured::pass(&sdk, &ok, Target::Embedded(first_store), "first pass, embedded").await)
    } else {
        None
    };
    let mut shards: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..n {
        *shards.entry(outbox_shard(&uuid("oo", i))).or_default() += 1;
    }
    let max_shard = shards.values().max().copied().unwrap_or(0);

    json!({
        "objects": n, "klantcontacten": kcs, "silent_changes": changes, "events_expected": want.len(),
        "get_ms": get_ms, "list_us_per_object": list_us,
        "list_only_s": {"unchanged": list_unchanged, "changed": list_changed},
        "steady": {
            "dynamodb": {"unchanged": ddb_unchanged.map(|m| m.json(objects, None)), "changed": ddb_changed.map(|m| m.json(objects, Some(&want)))},
            "embedded": {"unchanged": emb_unchanged.map(|m| m.json(objects, None)), "changed": emb_changed.map(|m| m.json(objects, Some(&want)))},
        },
        "first_pass": {
            "objects": listed, "klantcontacten": kcs,
            "dynamodb": first_ddb.map(|m| m.first_json(listed)),
            "embedded": first_emb.map(|m| m.first_json(listed)),
            "outbox_shards_used": shards.len(), "largest_shard_share": max_shard as f64 / n.max(1) as f64,
        },
    })
}

/// The list alone: every page of the zaak list, one after the other, nothing else (the floor
/// of a pass). Seconds.
async fn list_only(ok: &FakeOpenKlant) -> f64 {
    let klant = HttpOpenKlant::new(
        ApiRoot::parse(&ok.api_root()).unwrap(),
        Secret::new(TOKEN),
        Duration::from_secs(30),
    );
    let t = Instant::now();
    let mut page = 1;
    loop {
        let got = klant
            .zaak_onderwerpobjecten(page, ResyncSettings::default().page_size)
            .await
            .expect("a list page");
        match got {
            Some(p) if !p.results.is_empty() && p.next.as_deref().is_some_and(|n| !n.is_empty()) => page += 1,
            _ => break,
        }
    }
    t.elapsed().as_secs_f64()
}

/// Which store a pass writes to.
enum Target {
    Dynamo(&'static str),
    Embedded(Arc<EmbeddedStore>),
}

/// One pass as measured: its time, its report, its calls, the events its sink saw, the
/// process's memory.
struct Measured {
    seconds: f64,
    report: zaaklink::resync::Report,
    calls: BTreeMap<String, u64>,
    events: Vec<(String, String)>,
    /// VmRSS before the pass and the peak (VmHWM) during it, in MB.
    rss_before_mb: f64,
    rss_peak_mb: f64,
}

impl Measured {
    async fn pass(sdk: &aws_config::SdkConfig, ok: &FakeOpenKlant, target: Target, what: &str) -> Measured {
        let counter = CallCounter::new();
        let (app, checkpoints, sink) = match target {
            Target::Dynamo(table) => {
                let (app, store, sink) = pipeline(sdk, ok, &counter, table).await;
                let cp: Arc<dyn CheckpointStore> = store;
                (app, cp, sink)
            }
            Target::Embedded(store) => {
                let (app, sink) = pipeline_with(sdk, ok, &counter, store.clone(), false);
                let cp: Arc<dyn CheckpointStore> = store;
                (app, cp, sink)
            }
        };
        let resync = Resync::new(&app, checkpoints, ResyncSettings::default());
        let rss_before_mb = memory("VmRSS");
        reset_peak();
        let t = Instant::now();
        let report = resync.full_pass().await.expect("the pass completes");
        let seconds = t.elapsed().as_secs_f64();
        let rss_peak_mb = memory("VmHWM");
        eprintln!(
            "resync bench: {what}: {seconds:.1} s, {:?}, peak RSS {rss_peak_mb:.0} MB",
            report.run
        );
        let events = sink.seen.lock().unwrap().clone();
        Measured {
            seconds,
            report,
            calls: counter.snapshot(),
            events,
            rss_before_mb,
            rss_peak_mb,
        }
    }

    fn open_klant(&self) -> u64 {
        self.calls
            .iter()
            .filter(|(k, _)| k.starts_with("OpenKlant."))
            .map(|(_, v)| v)
            .sum()
    }

    fn json(&self, objects: f64, want: Option<&BTreeSet<(String, &'static str, String)>>) -> Value {
        let ddb = service_total(&self.calls, "DynamoDB");
        let exactly_once = match want {
            Some(want) => exactly_once(&self.events, want),
            None => self.events.is_empty(),
        };
        json!({
            "seconds": self.seconds, "pages": self.report.run.pages, "rereads": self.report.run.rereads,
            "written": self.report.run.written, "emitted": self.report.run.emitted,
            "events_put": self.events.len(), "exactly_once": exactly_once,
            "open_klant_requests": self.open_klant(), "open_klant_per_object": self.open_klant() as f64 / objects,
            "dynamodb_calls": ddb, "dynamodb_per_object": ddb as f64 / objects,
            "rss_before_mb": self.rss_before_mb, "rss_peak_mb": self.rss_peak_mb,
            "calls": self.calls,
        })
    }

    fn first_json(&self, listed: usize) -> Value {
        let distinct: BTreeSet<&String> = self.events.iter().map(|(id, _)| id).collect();
        let objects: BTreeSet<String> = self
            .events
            .iter()
            .map(|(_, js)| serde_json::from_str::<Value>(js).unwrap()["data"]["linkTo"].to_string())
            .collect();
        let kc = self
            .calls
            .iter()
            .filter(|(k, _)| k.starts_with("OpenKlant.") && k.ends_with("klantcontact"))
            .map(|(_, v)| v)
            .sum::<u64>();
        json!({
            "seconds": self.seconds, "objects_per_s": listed as f64 / self.seconds,
            "emitted": self.report.run.emitted, "events_put": self.events.len(),
            "exactly_once": self.events.len() == listed && distinct.len() == listed && objects.len() == listed,
            "open_klant_per_object": self.open_klant() as f64 / listed as f64,
            "klantcontact_per_object": kc as f64 / listed as f64,
            "dynamodb_calls": service_total(&self.calls, "DynamoDB"),
            "rss_before_mb": self.rss_before_mb, "rss_peak_mb": self.rss_peak_mb,
            "calls": self.calls,
        })
    }
}

/// Every expected (object, kind, zaak) exactly once, nothing else, no event id twice.
fn exactly_once(events: &[(String, String)], want: &BTreeSet<(String, &'static str, String)>) -> bool {
    let mut by_id: BTreeMap<String, (String, &'static str, String)> = BTreeMap::new();
    for (id, js) in events {
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
    &distinct == want && by_id.len() == want.len() && events.len() == want.len()
}

/// A line of /proc/self/status (`VmRSS`, `VmHWM`) in MB.
fn memory(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(&format!("{field}:")))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Reset the process's peak RSS (VmHWM) to its current RSS (Linux: `5` to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn pipeline(
    sdk: &aws_config::SdkConfig,
    ok: &FakeOpenKlant,
    counter: &CallCounter,
    table: &str,
) -> (Zaaklink, Arc<DynamoStore>, Arc<Recording>) {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(counter.dynamodb_config(sdk)),
        table,
    ));
    let (app, sink) = pipeline_with(sdk, ok, counter, store.clone(), true);
    (app, store, sink)
}

/// The pipeline over `store`: the counted Open Klant over HTTP, the recording EventBridge sink.
fn pipeline_with(
    sdk: &aws_config::SdkConfig,
    ok: &FakeOpenKlant,
    counter: &CallCounter,
    store: Arc<dyn LinkStore>,
    bus: bool,
) -> (Zaaklink, Arc<Recording>) {
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
    let sink = Arc::new(Recording {
        inner: bus.then(|| {
            EventBridgeSink::new(
                aws_sdk_eventbridge::Client::from_conf(counter.eventbridge_config(sdk)),
                BUS,
                zaaklink::demo::SOURCE,
            )
        }),
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
        store,
        sink: sink.clone(),
        settings: cfg.settings,
    };
    (app, sink)
}
