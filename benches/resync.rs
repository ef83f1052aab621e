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
#[path = "resync/measure.rs"]
mod measure;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::{find_moto_server, Moto};
use measure::{after_list, list_only, Measured, Target};
use serde_json::{json, Value};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::ZaakLink;
use zaaklink::store::dynamodb::outbox_shard;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::{LinkRecord, LinkStore};

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

/// The scale, the fakes and where the passes write.
struct Bench {
    n: usize,
    kcs: usize,
    dynamo: bool,
    emb: bool,
    sdk: aws_config::SdkConfig,
    ok: FakeOpenKlant,
    scene: Scene,
}

fn label(k: usize) -> String {
    format!("Onderwerp {k} - ({k})")
}

async fn run(moto: &Moto) -> Value {
    let n = env("ZAAKLINK_BENCH_RESYNC_OBJECTS", 100_000) as usize;
    let kcs = env("ZAAKLINK_BENCH_RESYNC_KLANTCONTACTEN", 20_000) as usize;
    let get_ms = env("ZAAKLINK_BENCH_RESYNC_GET_MS", 30);
    // A real Open Klant 2.18: 41 s for a steady pass over 105,001 objects, 211 pages of 500
    // (~195 ms a page, zaaklink's own work included): 30 ms + 500 × 330 µs = 195 ms.
    let list_us = env("ZAAKLINK_BENCH_RESYNC_LIST_US_PER_OBJECT", 330);
    let stores = std::env::var("ZAAKLINK_BENCH_RESYNC_STORES").unwrap_or_else(|_| "dynamodb,embedded".into());
    let sdk = moto.sdk_config().await;
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
    let b = Bench {
        n,
        kcs,
        dynamo: stores.contains("dynamodb"),
        emb: stores.contains("embedded"),
        sdk,
        ok,
        scene,
    };
    // Open Klant: object i on klantcontact i % kcs, zaak i.
    eprintln!("resync bench: {n} objects over {kcs} klantcontacten");
    let mut by_kc: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        by_kc.entry(i % kcs).or_default().push(i);
    }
    b.ok.put_values((0..kcs).map(|k| b.scene.klantcontact(k, by_kc.get(&k).map_or(&[][..], |v| v))));
    b.ok.put_values((0..n).map(|i| b.scene.object(i, i, i % kcs)));
    drop(by_kc);
    let table = "links";
    let ddb = aws_sdk_dynamodb::Client::new(&b.sdk);
    zaaklink::store::dynamodb::create_table(&ddb, table)
        .await
        .unwrap();
    if b.dynamo {
        seed_dynamo(&b, &ddb, table).await;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let embedded = seed_embedded(&b, &dir.path().join("state.redb")).await;
    b.ok.delay(Some(Duration::from_millis(get_ms)));
    b.ok.delay_per_listed(Some(Duration::from_micros(list_us)));

    // Side by side, unchanged: the list alone, then zaaklink's pass on each store, then the
    // pass's work after the list timed alone.
    let list_unchanged = list_only(&b.ok).await;
    eprintln!("resync bench: list only {list_unchanged:.1} s");
    let unchanged = passes(&b, table, &embedded, "unchanged").await;
    let after = after_list_both(&b, table, &embedded).await;

    // 1% silent changes, the list alone again, a pass on each store.
    let ch = silent_changes(&b);
    let list_changed = list_only(&b.ok).await;
    eprintln!("resync bench: list only {list_changed:.1} s");
    let changed = passes(&b, table, &embedded, "1% changed").await;
    let objects = (n + ch.created) as f64;

    let listed = n + ch.created - ch.deleted;
    let first = first_passes(&b, &ddb, listed).await;
    let want = &ch.want;
    json!({
        "objects": n, "klantcontacten": kcs, "silent_changes": ch.changes, "events_expected": want.len(),
        "get_ms": get_ms, "list_us_per_object": list_us,
        "list_only_s": {"unchanged": list_unchanged, "changed": list_changed},
        "after_list_s": after,
        "steady": {
            "dynamodb": {"unchanged": unchanged.0.map(|m| m.json(objects, None)), "changed": changed.0.map(|m| m.json(objects, Some(want)))},
            "embedded": {"unchanged": unchanged.1.map(|m| m.json(objects, None)), "changed": changed.1.map(|m| m.json(objects, Some(want)))},
        },
        "first_pass": first,
    })
}

/// A first pass over an empty store of each kind: every link new (the whole list: about
/// 100,000 objects over 20,000 klantcontacten), one outbox per object, spread over the
/// outbox shards.
async fn first_passes(b: &Bench, ddb: &aws_sdk_dynamodb::Client, listed: usize) -> Value {
    let first_table = "links-first";
    if b.dynamo {
        zaaklink::store::dynamodb::create_table(ddb, first_table)
            .await
            .unwrap();
    }
    let first_dir = tempfile::tempdir().expect("a temporary folder");
    let first_store =
        Arc::new(EmbeddedStore::open(&first_dir.path().join("state.redb")).expect("open the state file"));
    let first = passes(b, first_table, &first_store, "first pass").await;
    let mut shards: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..b.n {
        *shards.entry(outbox_shard(&uuid("oo", i))).or_default() += 1;
    }
    let max_shard = shards.values().max().copied().unwrap_or(0);
    json!({
        "objects": listed, "klantcontacten": b.kcs,
        "dynamodb": first.0.map(|m| m.first_json(listed)),
        "embedded": first.1.map(|m| m.first_json(listed)),
        "outbox_shards_used": shards.len(), "largest_shard_share": max_shard as f64 / b.n.max(1) as f64,
    })
}

/// A pass on each store the run measures: (DynamoDB, embedded).
async fn passes(
    b: &Bench,
    table: &'static str,
    embedded: &Arc<EmbeddedStore>,
    what: &str,
) -> (Option<Measured>, Option<Measured>) {
    let ddb = if b.dynamo {
        Some(Measured::pass(&b.sdk, &b.ok, Target::Dynamo(table), &format!("{what}, DynamoDB")).await)
    } else {
        None
    };
    let emb = if b.emb {
        let target = Target::Embedded(embedded.clone());
        Some(Measured::pass(&b.sdk, &b.ok, target, &format!("{what}, embedded")).await)
    } else {
        None
    };
    (ddb, emb)
}

/// The pass's own work after the list, timed alone on each store ([`after_list`]).
async fn after_list_both(b: &Bench, table: &'static str, embedded: &Arc<EmbeddedStore>) -> Value {
    let mut out = json!({});
    if b.dynamo {
        out["dynamodb"] = after_list(&b.sdk, &b.ok, Target::Dynamo(table)).await;
    }
    if b.emb {
        out["embedded"] = after_list(&b.sdk, &b.ok, Target::Embedded(embedded.clone())).await;
    }
    out
}

/// The silent changes and the events they are due.
struct Changes {
    changes: usize,
    created: usize,
    deleted: usize,
    want: BTreeSet<(String, &'static str, String)>,
}

/// 1% silent changes: a third created, a third relinked to another zaak, a third deleted.
fn silent_changes(b: &Bench) -> Changes {
    let (n, kcs, ok, scene) = (b.n, b.kcs, &b.ok, &b.scene);
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
    Changes {
        changes,
        created,
        deleted,
        want,
    }
}

/// The DynamoDB table as the last pass left it: BatchWriteItem, 25 a call.
async fn seed_dynamo(b: &Bench, ddb: &aws_sdk_dynamodb::Client, table: &str) {
    let (n, kcs, scene) = (b.n, b.kcs, &b.scene);
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

/// The embedded store (`serve`'s default) as the last pass left it too (empty when the run
/// does not measure it).
async fn seed_embedded(b: &Bench, path: &std::path::Path) -> Arc<EmbeddedStore> {
    let (n, kcs, scene) = (b.n, b.kcs, &b.scene);
    let embedded = Arc::new(EmbeddedStore::open(path).expect("open the state file"));
    if !b.emb {
        return embedded;
    }
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
    for chunk in records.chunks(5_000) {
        embedded.put_many(chunk).await.expect("seed the state file");
    }
    embedded
}
