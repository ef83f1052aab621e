//! The audit at municipal scale (issue 23): N relations equal on both sides — the fake Open
//! Klant over HTTP (pages of 500, 0.2 ms per listed object, as benches/resync.rs) and the fake
//! Open Zaak over HTTP (pages of 500, ZAAKLINK_BENCH_AUDIT_OZ_US_PER_OBJECT per listed object,
//! 300 µs by default: 150 ms a page), zaaklink's state in memory holding every link with its
//! label. Timed: listing both sides only (the audit's own readers, side by side), then the
//! whole audit (read, compare, the stored labels, settle, report). Peak memory: the growth of
//! the process's peak RSS (VmHWM) during the audit, measured first, before the list-only run.
//!
//! Then the same on the Lambda's state: the links in DynamoDB (a private moto server, started
//! as benches/moto_path.rs does, through tests/common), ZAAKLINK_BENCH_AUDIT_DYNAMO_RELATIONS
//! of them (20000; 0 = skip): the audit beside the list-only time, and the stored-label reads
//! alone — 8 BatchGetItems of 100 side by side, as the audit reads them, and one after another
//! for comparison. moto is a Python emulator: its latencies say little about DynamoDB's.
//!
//! `scripts/bench-audit` runs it and writes its section of BENCHMARKS.md. Size:
//! ZAAKLINK_BENCH_AUDIT_RELATIONS (100000). Prints one JSON object on stdout. Timings are
//! measured, never asserted.

// the moto harness of the integration tests (also used here for its moto server)
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zaaklink::audit::sides::{OpenKlantSide, OpenZaakSide};
use zaaklink::audit::{compare, read, Audit, AuditSettings, HttpZaakObjecten, ZaakObjecten};
use zaaklink::config::CoreArgs;
use zaaklink::deliver::OpenZaakCredentials;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::link::ZaakLink;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::sink::MemorySink;
use zaaklink::store::dynamodb::DynamoStore;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::{LinkRecord, LinkStore};
use zaaklink::Zaaklink;

const TOKEN: &str = "bench-token";
const CLIENT: &str = "bench-audit";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn uuid(kind: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("bench-audit/{kind}/{i}").as_bytes(),
    )
    .to_string()
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run());
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

/// Both fakes with `n` relations equal on both sides, zaaklink's `store` holding every link
/// with its label; the pipeline and the Open Zaak reader over them.
struct World {
    _ok: FakeOpenKlant,
    _oz: FakeOpenZaak,
    app: Zaaklink,
    reader: Arc<dyn ZaakObjecten>,
    root: zaaklink::openklant::ApiRoot,
}

async fn world(n: usize, oz_us: u64, store: Arc<dyn LinkStore>) -> World {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT, SECRET).await.unwrap();
    let root = ok.api_root();
    let zaken: Vec<String> = (0..n.div_ceil(5)).map(|z| uuid("zaak", z)).collect();
    let mut objects = Vec::with_capacity(n);
    let mut puts: tokio::task::JoinSet<Result<(), zaaklink::store::StoreError>> = tokio::task::JoinSet::new();
    for i in 0..n {
        let (oo, kc, zaak) = (uuid("oo", i), uuid("kc", i), &zaken[i / 5]);
        let url = format!("{root}onderwerpobjecten/{oo}");
        let kc_url = format!("{root}klantcontacten/{kc}");
        let label = format!("Onderwerp {i} - ({i})");
        objects.push(json!({
            "uuid": oo, "url": url, "klantcontact": {"uuid": kc, "url": kc_url}, "wasKlantcontact": null,
            "onderwerpobjectidentificator": {"objectId": zaak, "codeObjecttype": "zaak",
                "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
        }));
        oz.insert_object(zaak, &url, &label);
        let mut r = LinkRecord::absent(&oo);
        r.version = 1;
        r.link = Some(ZaakLink {
            zaak: zaak.clone(),
            label,
            link_to: url,
            klantcontact: kc_url,
            was_klantcontact: None,
        });
        if puts.len() >= 16 {
            puts.join_next().await.unwrap().unwrap().unwrap();
        }
        let store = store.clone();
        puts.spawn(async move { store.put(&r, 0).await.map(|_| ()) });
    }
    while let Some(r) = puts.join_next().await {
        r.unwrap().unwrap();
    }
    ok.put_values(objects);
    ok.delay_per_listed(Some(Duration::from_micros(200)));
    oz.delay_per_listed(Some(Duration::from_micros(oz_us)));
    let cfg = CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: "urn:bench".into(),
        webhook_auth: Some("Token x".into()),
        open_klant_api_root: Some(root.clone()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "60000".into(),
    }
    .validate()
    .unwrap();
    let app = Zaaklink {
        klant: Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            cfg.open_klant_timeout,
        )),
        store,
        sink: Arc::new(MemorySink::default()),
        settings: cfg.settings.clone(),
    };
    let reader: Arc<dyn ZaakObjecten> = Arc::new(
        HttpZaakObjecten::new(
            &oz.base,
            OpenZaakCredentials::new(CLIENT, SECRET),
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    World {
        _ok: ok,
        _oz: oz,
        app,
        reader,
        root: cfg.settings.api_root,
    }
}

impl World {
    fn audit(&self) -> Audit {
        let settings = AuditSettings {
            settle: Duration::ZERO,
            ..Default::default()
        };
        Audit::new(&self.app, self.reader.clone(), settings)
    }

    /// Both readers side by side: the sides, each reader's time, the whole time.
    async fn list_only(&self) -> (OpenKlantSide, OpenZaakSide, f64, f64, f64) {
        let t = Instant::now();
        let ((ok_side, ok_s), (oz_side, oz_s)) = tokio::join!(
            async {
                let t = Instant::now();
                let r = read::open_klant(self.app.klant.as_ref(), &self.root, 500).await;
                (r, t.elapsed().as_secs_f64())
            },
            async {
                let t = Instant::now();
                let r = read::open_zaak(self.reader.as_ref(), &self.root, 500).await;
                (r, t.elapsed().as_secs_f64())
            },
        );
        let list_s = t.elapsed().as_secs_f64();
        (ok_side.unwrap(), oz_side.unwrap(), ok_s, oz_s, list_s)
    }

    /// The stored records of `uuids`, 100 a request, `at_once` requests side by side; how many.
    async fn stored_labels(&self, uuids: &[String], at_once: usize) -> usize {
        let mut read = 0;
        for window in uuids.chunks(100 * at_once) {
            let mut set = tokio::task::JoinSet::new();
            for chunk in window.chunks(100) {
                let (store, chunk) = (self.app.store.clone(), chunk.to_vec());
                set.spawn(async move { store.get_many(&chunk).await.unwrap().len() });
            }
            while let Some(n) = set.join_next().await {
                read += n.unwrap();
            }
        }
        read
    }
}

/// The audit with the links in DynamoDB (moto), beside its list-only time, and the
/// stored-label reads alone.
async fn on_dynamodb(n: usize, oz_us: u64) -> Value {
    if n == 0 {
        return Value::Null;
    }
    if common::find_moto_server().is_none() {
        eprintln!("audit bench: moto_server not found on PATH nor in .venv/bin (run scripts/test once): DynamoDB skipped");
        return json!({"skipped": "moto_server not found"});
    }
    let moto = common::Moto::start();
    moto.create_links_table("zaaklink-bench-audit").await;
    let store = Arc::new(DynamoStore::new(moto.dynamodb().await, "zaaklink-bench-audit"));
    let setup = Instant::now();
    eprintln!("audit bench: {n} relations, links in DynamoDB (moto)");
    let w = world(n, oz_us, store).await;
    let setup_s = setup.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = w.audit().run().await;
    let audit_s = t.elapsed().as_secs_f64();
    assert_eq!(report.exit_status, 0, "{}", report.to_text());
    let (ok_side, oz_side, ok_s, oz_s, list_s) = w.list_only().await;
    let uuids: Vec<String> = compare::label_candidates(&ok_side, &oz_side)
        .map(str::to_owned)
        .collect();
    let t = Instant::now();
    let read8 = w.stored_labels(&uuids, 8).await;
    let labels8_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let read1 = w.stored_labels(&uuids, 1).await;
    let labels1_s = t.elapsed().as_secs_f64();
    assert_eq!((read8, read1), (n, n));
    json!({
        "relations": n,
        "setup_s": setup_s,
        "audit_s": audit_s,
        "list_only_s": list_s,
        "list_only_sides_s": {"open_klant": ok_s, "open_zaak": oz_s},
        "ratio": audit_s / list_s,
        "stored_labels_s": {"8_at_once": labels8_s, "one_after_another": labels1_s},
        "batch_get_calls": n.div_ceil(100),
        "result": report.result,
    })
}

async fn run() -> Value {
    let n = env("ZAAKLINK_BENCH_AUDIT_RELATIONS", 100_000) as usize;
    let oz_us = env("ZAAKLINK_BENCH_AUDIT_OZ_US_PER_OBJECT", 300);
    let setup = Instant::now();
    let w = world(n, oz_us, Arc::new(MemoryStore::default())).await;
    let audit = w.audit();
    let setup_s = setup.elapsed().as_secs_f64();
    let rss_before = peak_rss_kib();
    let t = Instant::now();
    let report = audit.run().await;
    let audit_s = t.elapsed().as_secs_f64();
    let rss_growth = peak_rss_kib().saturating_sub(rss_before);
    assert_eq!(report.exit_status, 0, "{}", report.to_text());

    let (ok_side, oz_side, ok_s, oz_s, list_s) = w.list_only().await;
    assert_eq!((ok_side.links.len(), oz_side.count()), (n, n));

    // The audit's phases after the lists, timed alone over the sides just read (the audit
    // itself is timed whole, above): the comparison, then the stored labels (chunks of 100).
    let t = Instant::now();
    let first = compare::compare(&ok_side, &oz_side);
    let compare_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let uuids: Vec<String> = compare::label_candidates(&ok_side, &oz_side)
        .map(str::to_owned)
        .collect();
    let mut labels = 0usize;
    for chunk in uuids.chunks(100) {
        labels += w.app.store.get_many(chunk).await.unwrap().len();
    }
    let labels_s = t.elapsed().as_secs_f64();

    let mut out = json!({
        "relations": n,
        "open_zaak_us_per_object": oz_us,
        "open_klant_us_per_object": 200,
        "page_size": 500,
        "list_only_s": list_s,
        "list_only_sides_s": {"open_klant": ok_s, "open_zaak": oz_s},
        "audit_s": audit_s,
        "ratio": audit_s / list_s,
        "peak_rss_growth_mib": rss_growth as f64 / 1024.0,
        "peak_rss_before_mib": rss_before as f64 / 1024.0,
        "setup_s": setup_s,
        "phases_s": {"compare": compare_s, "stored_labels": labels_s},
        "first_differences": first.len(),
        "labels_read": labels,
        "result": report.result,
        "open_zaak_read": report.sides.open_zaak_read,
        "open_klant_listed": report.sides.open_klant_listed,
    });
    drop((ok_side, oz_side, first, w));
    out["dynamodb"] = on_dynamodb(
        env("ZAAKLINK_BENCH_AUDIT_DYNAMO_RELATIONS", 20_000) as usize,
        oz_us,
    )
    .await;
    out
}
