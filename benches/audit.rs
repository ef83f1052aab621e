//! The audit at municipal scale (issue 23): N relations equal on both sides — the fake Open
//! Klant over HTTP (pages of 500, 0.2 ms per listed object, as benches/resync.rs) and the fake
//! Open Zaak over HTTP (pages of 500, ZAAKLINK_BENCH_AUDIT_OZ_US_PER_OBJECT per listed object,
//! 300 µs by default: 150 ms a page), zaaklink's state in memory holding every link with its
//! label. Timed: listing both sides only (the audit's own readers, side by side), then the
//! whole audit (read, compare, the stored labels, settle, report). Peak memory: the growth of
//! the process's peak RSS (VmHWM) during the audit, measured first, before the list-only run.
//!
//! `scripts/bench-audit` runs it and writes its section of BENCHMARKS.md. Size:
//! ZAAKLINK_BENCH_AUDIT_RELATIONS (100000). Prints one JSON object on stdout. Timings are
//! measured, never asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zaaklink::audit::{compare, read, Audit, AuditSettings, HttpZaakObjecten, ZaakObjecten};
use zaaklink::config::CoreArgs;
use zaaklink::deliver::OpenZaakCredentials;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::link::ZaakLink;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::sink::MemorySink;
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

async fn run() -> Value {
    let n = env("ZAAKLINK_BENCH_AUDIT_RELATIONS", 100_000) as usize;
    let oz_us = env("ZAAKLINK_BENCH_AUDIT_OZ_US_PER_OBJECT", 300);
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT, SECRET).await.unwrap();
    let root = ok.api_root();
    let store = Arc::new(MemoryStore::default());
    let setup = Instant::now();
    let zaken: Vec<String> = (0..n.div_ceil(5)).map(|z| uuid("zaak", z)).collect();
    let mut objects = Vec::with_capacity(n);
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
        store.put(&r, 0).await.unwrap();
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
    let audit = Audit::new(
        &app,
        reader.clone(),
        AuditSettings {
            settle: Duration::ZERO,
            ..Default::default()
        },
    );

    let setup_s = setup.elapsed().as_secs_f64();
    let rss_before = peak_rss_kib();
    let t = Instant::now();
    let report = audit.run().await;
    let audit_s = t.elapsed().as_secs_f64();
    let rss_growth = peak_rss_kib().saturating_sub(rss_before);
    assert_eq!(report.exit_status, 0, "{}", report.to_text());

    let t = Instant::now();
    let ((ok_side, ok_s), (oz_side, oz_s)) = tokio::join!(
        async {
            let t = Instant::now();
            let r = read::open_klant(app.klant.as_ref(), &cfg.settings.api_root, 500).await;
            (r, t.elapsed().as_secs_f64())
        },
        async {
            let t = Instant::now();
            let r = read::open_zaak(reader.as_ref(), &cfg.settings.api_root, 500).await;
            (r, t.elapsed().as_secs_f64())
        },
    );
    let list_s = t.elapsed().as_secs_f64();
    let (ok_side, oz_side) = (ok_side.unwrap(), oz_side.unwrap());
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
        labels += app.store.get_many(chunk).await.unwrap().len();
    }
    let labels_s = t.elapsed().as_secs_f64();

    json!({
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
    })
}
