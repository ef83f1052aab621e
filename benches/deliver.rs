//! The cost of `deliver`'s zaakobjecten read (issue 19: `OPEN_ZAAK_ZAKEN_API_READ`, on by
//! default): the fake Open Zaak over HTTP on 127.0.0.1, each request delayed by
//! ZAAKLINK_BENCH_DELIVER_RTT_MS (default 20: a round trip to a real Open Zaak), the in-memory
//! delivery log. N objects each go through gekoppeld A (the object's first delivery) →
//! ontkoppeld A → gekoppeld B, once with the read on and once off; per mode the requests per
//! delivery (POST and GET) and the time per delivery (median, p99). Then the lost-answer
//! case: each object's first POST applied but its answer lost, the retry with the read on.
//!
//! `scripts/bench-deliver` runs it and writes its section of BENCHMARKS.md. Sizes:
//! ZAAKLINK_BENCH_DELIVER_OBJECTS (200). Prints one JSON object on stdout.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use zaaklink::cloudevent::outbox_event;
use zaaklink::deliver::{Deliverer, MemoryDeliveryLog, OpenZaakCredentials, Outcome};
use zaaklink::epoch::Stamp;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::link::ZaakLink;
use zaaklink::reconcile::EventKind;

const CLIENT_ID: &str = "zaaklink-bench";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";
const ZAAK_A: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
const ZAAK_B: &str = "b7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(kind: EventKind, zaak: &str, oo: &str, seq: u64) -> Value {
    let link = ZaakLink {
        zaak: zaak.into(),
        label: "Onderwerp".into(),
        link_to: format!("http://ok.local/klantinteracties/api/v1/onderwerpobjecten/{oo}"),
        klantcontact: "http://ok.local/klantinteracties/api/v1/klantcontacten/1".into(),
        was_klantcontact: None,
    };
    let stamp = Stamp {
        epoch: 0,
        version: seq,
        seq,
    };
    let e = outbox_event(kind, &link, zaaklink::demo::SOURCE, oo, stamp, Utc::now());
    serde_json::from_str(&e.json).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(read: bool, n: usize, rtt: Duration) -> Value {
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    oz.set_delay(Some(rtt));
    oz.set_read_delay(Some(rtt));
    let d = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(10),
    )
    .unwrap()
    .with_zaken_api_read(read);
    let mut times: Vec<(&str, f64)> = Vec::new();
    for i in 0..n {
        let oo = format!("oo-bench-{i}");
        for (label, e) in [
            ("first gekoppeld", event(EventKind::Gekoppeld, ZAAK_A, &oo, 1)),
            ("ontkoppeld", event(EventKind::Ontkoppeld, ZAAK_A, &oo, 2)),
            ("later gekoppeld", event(EventKind::Gekoppeld, ZAAK_B, &oo, 3)),
        ] {
            let t = Instant::now();
            let outcome = d.deliver(&e).await.expect("delivered");
            assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
            times.push((label, t.elapsed().as_secs_f64() * 1000.0));
        }
    }
    let deliveries = times.len() as f64;
    let mut all: Vec<f64> = times.iter().map(|(_, t)| *t).collect();
    all.sort_by(f64::total_cmp);
    let mut by_kind = serde_json::Map::new();
    for label in ["first gekoppeld", "ontkoppeld", "later gekoppeld"] {
        let mut ts: Vec<f64> = times
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, t)| *t)
            .collect();
        ts.sort_by(f64::total_cmp);
        by_kind.insert(
            label.into(),
            json!({"p50_ms": percentile(&ts, 0.5), "p99_ms": percentile(&ts, 0.99)}),
        );
    }
    assert_eq!(oz.objects().len(), n, "one ZaakObject per object");
    json!({
        "read": read,
        "deliveries": times.len(),
        "posts_per_delivery": oz.posts().len() as f64 / deliveries,
        "gets_per_delivery": oz.reads() as f64 / deliveries,
        "p50_ms": percentile(&all, 0.5),
        "p99_ms": percentile(&all, 0.99),
        "by_kind": by_kind,
    })
}

/// Each object's first POST is applied and its answer lost (dropped connection); the retry.
async fn lost_answers(n: usize) -> Value {
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    let d = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(10),
    )
    .unwrap();
    for i in 0..n {
        let e = event(EventKind::Gekoppeld, ZAAK_A, &format!("oo-lost-{i}"), 1);
        oz.drop_after_apply(1);
        assert!(d.deliver(&e).await.is_err(), "the answer is lost");
        assert_eq!(d.deliver(&e).await.unwrap(), Outcome::AlreadyPresent);
    }
    let mut per: std::collections::HashMap<(String, String), usize> = Default::default();
    for o in oz.objects() {
        *per.entry((o.zaak, o.object)).or_default() += 1;
    }
    json!({
        "objects": n,
        "posts": oz.posts().len(),
        "gets": oz.reads(),
        "duplicated": per.values().map(|c| c - 1).sum::<usize>(),
    })
}

#[tokio::main]
async fn main() {
    let n = env("ZAAKLINK_BENCH_DELIVER_OBJECTS", 200) as usize;
    let rtt = Duration::from_millis(env("ZAAKLINK_BENCH_DELIVER_RTT_MS", 20));
    let on = run(true, n, rtt).await;
    let off = run(false, n, rtt).await;
    let lost = lost_answers(n.min(100)).await;
    println!(
        "{}",
        json!({"objects": n, "rtt_ms": rtt.as_millis() as u64, "read_on": on, "read_off": off, "lost_answers": lost})
    );
}
