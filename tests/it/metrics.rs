//! The metrics contract (DESIGN §6 "Metrics"): the Lambda paths run in process with the real
//! EMF recorder (`zaaklink::telemetry::Emf`, the one both Lambda binaries install), and the
//! embedded-metric-format documents it writes at the end of an invocation are parsed:
//! namespace, metric names, units, the `Outcome` dimension and the values.
//!
//! The recorder is global to the process: every test takes [`LOCK`] and starts by emptying
//! what earlier tests left.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use serde_json::{json, Value};

use common::fixtures::{core_args, pipeline, Scene, TOKEN};
use zaaklink::cloudevent::outbox_event;
use zaaklink::deliver::sqs::{handle_batch, Queues};
use zaaklink::deliver::{Deliverer, MemoryDeliveryLog, OpenZaakCredentials};
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::link::ZaakLink;
use zaaklink::reconcile::EventKind;
use zaaklink::resync::{Resync, ResyncSettings};
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::telemetry::Emf;

const NAMESPACE: &str = "zaaklink/metrics-test";

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's recorder, emptied of what earlier tests recorded.
fn emf() -> &'static Emf {
    static EMF: OnceLock<Emf> = OnceLock::new();
    let emf = EMF.get_or_init(|| Emf::install(NAMESPACE).expect("the first recorder of this process"));
    emf.take("reset");
    emf
}

/// One metric datum of a document: its unit and value.
#[derive(Debug, Clone, PartialEq)]
struct Datum {
    unit: String,
    value: Value,
}

/// The EMF documents of one invocation, checked for shape and namespace, by
/// `Name` or `Name/Outcome=<value>`.
fn parse(buf: &[u8], request_id: &str) -> BTreeMap<String, Datum> {
    let text = std::str::from_utf8(buf).unwrap();
    let mut found = BTreeMap::new();
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some(), "Timestamp: {line}");
        assert_eq!(doc["requestId"], request_id, "{line}");
        let cwm = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
        assert_eq!(cwm.len(), 1, "{line}");
        assert_eq!(cwm[0]["Namespace"], NAMESPACE, "{line}");
        let dims: Vec<Vec<String>> = serde_json::from_value(cwm[0]["Dimensions"].clone()).unwrap();
        assert_eq!(dims.len(), 1, "one dimension set: {line}");
        let suffix = match dims[0].as_slice() {
            [] => String::new(),
            [d] if d == "Outcome" => {
                format!("/Outcome={}", doc["Outcome"].as_str().expect("the Outcome value"))
            }
            other => panic!("unexpected dimensions {other:?}: {line}"),
        };
        for m in cwm[0]["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            let datum = Datum {
                unit: m["Unit"].as_str().unwrap_or("(none)").to_owned(),
                value: doc[name].clone(),
            };
            assert!(
                found.insert(format!("{name}{suffix}"), datum).is_none(),
                "{name}{suffix} twice"
            );
        }
    }
    found
}

fn count(n: u64) -> Datum {
    Datum {
        unit: "Count".into(),
        value: json!(n),
    }
}

/// The counters of `got`, as `name → value`, for comparing whole sets.
fn counters(got: &BTreeMap<String, Datum>) -> BTreeMap<String, u64> {
    got.iter()
        .filter(|(_, d)| d.unit == "Count")
        .map(|(k, d)| (k.clone(), d.value.as_u64().expect("a whole count")))
        .collect()
}

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn sample(ok: &FakeOpenKlant, path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(path);
    serde_json::from_str(&ok.rewrite(&std::fs::read_to_string(file).unwrap())).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_invocations_count_notifications_by_outcome_and_events_put() {
    let _lock = LOCK.lock().await;
    let emf = emf();
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let mut args = core_args(&ok.api_root(), "2000");
    args.webhook_auth = Some(zaaklink::demo::WEBHOOK_AUTH.into());
    let sink = Arc::new(MemorySink::default());
    let (app, auth) = pipeline(args, Arc::new(MemoryStore::default()), sink.clone());

    // A handled notification that put one event.
    let resp = zaaklink::lambda::handle(&app, &auth, sample(&ok, "function-url/link-created.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert_eq!(sink.take().len(), 1);
    let got = parse(&emf.take("req-1"), "req-1");
    assert_eq!(got["Notifications/Outcome=handled"], count(1));
    assert_eq!(got["EventsPut"], count(1));
    assert_eq!(
        counters(&got),
        expect(&[("Notifications/Outcome=handled", 1), ("EventsPut", 1)])
    );

    // An unauthorized one: nothing put, no EventsPut.
    let resp = zaaklink::lambda::handle(&app, &auth, sample(&ok, "function-url/unauthenticated.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 401);
    let got = parse(&emf.take("req-2"), "req-2");
    assert_eq!(
        counters(&got),
        expect(&[("Notifications/Outcome=unauthorized", 1)])
    );
    assert_eq!(got["Notifications/Outcome=unauthorized"].unit, "Count");

    // Several in one flush: each outcome is its own document; a repeat puts nothing.
    for (file, status) in [
        ("function-url/ignored-other-kanaal.json", 204),
        ("function-url/malformed.json", 400),
        ("function-url/not-json.json", 400),
        ("function-url/method-not-allowed.json", 405),
        ("function-url/missing-authorization.json", 401),
        ("function-url/duplicate-delivery.json", 204),
    ] {
        let resp = zaaklink::lambda::handle(&app, &auth, sample(&ok, file))
            .await
            .unwrap();
        assert_eq!(resp["statusCode"], status, "{file}: {resp}");
    }
    let mut too_big = sample(&ok, "function-url/link-created.json");
    too_big["body"] = "x".repeat(zaaklink::webhook::MAX_BODY_BYTES + 1).into();
    let resp = zaaklink::lambda::handle(&app, &auth, too_big).await.unwrap();
    assert_eq!(resp["statusCode"], 413);
    let got = parse(&emf.take("req-3"), "req-3");
    assert_eq!(
        counters(&got),
        expect(&[
            ("Notifications/Outcome=handled", 1),
            ("Notifications/Outcome=ignored", 1),
            ("Notifications/Outcome=rejected", 4),
            ("Notifications/Outcome=unauthorized", 1),
        ])
    );
    assert!(sink.take().is_empty());

    // Open Klant unreachable: 502, counted as failed.
    let gone = FakeOpenKlant::start(TOKEN).await.unwrap();
    let ev = sample(&gone, "function-url/link-created.json");
    let mut args = core_args(&gone.api_root(), "2000");
    args.webhook_auth = Some(zaaklink::demo::WEBHOOK_AUTH.into());
    let (app, auth) = pipeline(args, Arc::new(MemoryStore::default()), sink.clone());
    drop(gone);
    let resp = zaaklink::lambda::handle(&app, &auth, ev).await.unwrap();
    assert_eq!(resp["statusCode"], 502, "{resp}");
    let got = parse(&emf.take("req-4"), "req-4");
    assert_eq!(counters(&got), expect(&[("Notifications/Outcome=failed", 1)]));
}

#[derive(Default)]
struct RecordingQueues {
    parked: Mutex<Vec<String>>,
}

#[async_trait]
impl Queues for RecordingQueues {
    async fn park(&self, body: &str) -> Result<(), String> {
        self.parked.lock().unwrap().push(body.to_owned());
        Ok(())
    }
    async fn delay(&self, _arn: &str, _handle: &str, _delay: Duration) -> Result<(), String> {
        Ok(())
    }
}

const CLIENT_ID: &str = "zaaklink-metrics";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";
const ZAAK: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";

/// The CloudEvent of place `seq` of object `oo`, written `age` ago.
fn cloudevent(kind: EventKind, oo: &str, seq: u64, age: chrono::Duration) -> Value {
    let link = ZaakLink {
        zaak: ZAAK.into(),
        label: "Onderwerp".into(),
        link_to: format!("http://ok.local/klantinteracties/api/v1/onderwerpobjecten/{oo}"),
        klantcontact: "http://ok.local/klantinteracties/api/v1/klantcontacten/1".into(),
        was_klantcontact: None,
    };
    let e = outbox_event(
        kind,
        &link,
        zaaklink::demo::SOURCE,
        oo,
        zaaklink::epoch::Stamp {
            epoch: 0,
            version: seq,
            seq,
        },
        Utc::now() - age,
    );
    serde_json::from_str(&e.json).unwrap()
}

fn batch(cloudevents: &[Value]) -> SqsEvent {
    let mut e = SqsEvent::default();
    for (i, ce) in cloudevents.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.receipt_handle = Some(format!("rh-{i}"));
        m.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:deliveries".into());
        m.attributes.insert("ApproximateReceiveCount".into(), "1".into());
        let envelope = json!({"version": "0", "id": format!("m{i}"), "detail-type": ce["type"],
            "source": ce["source"], "detail": ce});
        m.body = Some(envelope.to_string());
        e.records.push(m);
    }
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn deliver_invocations_count_deliveries_by_outcome_stale_skips_and_lag() {
    let _lock = LOCK.lock().await;
    let emf = emf();
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    let d = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(5),
    )
    .unwrap();
    let q = RecordingQueues::default();
    let minute = chrono::Duration::seconds(60);

    // Delivered, with its lag from the event's time (a minute ago) to the 2xx.
    let a1 = cloudevent(EventKind::Gekoppeld, "oo-a", 1, minute);
    let r = handle_batch(&d, &q, &batch(std::slice::from_ref(&a1))).await;
    assert!(r.batch_item_failures.is_empty());
    let got = parse(&emf.take("d-1"), "d-1");
    assert_eq!(counters(&got), expect(&[("Deliveries/Outcome=delivered", 1)]));
    let lag = &got["DeliveryLag"];
    assert_eq!(lag.unit, "Milliseconds");
    let values = lag.value.as_array().expect("the lag values");
    assert_eq!(values.len(), 1);
    let ms = values[0].as_f64().unwrap();
    assert!((60_000.0..120_000.0).contains(&ms), "lag {ms} ms");

    // Retried: Open Zaak answers 503; nothing delivered, no lag.
    oz.fail_next(1, 503);
    let b1 = cloudevent(EventKind::Gekoppeld, "oo-b", 1, minute);
    let r = handle_batch(&d, &q, &batch(std::slice::from_ref(&b1))).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    let got = parse(&emf.take("d-2"), "d-2");
    assert_eq!(counters(&got), expect(&[("Deliveries/Outcome=retried", 1)]));
    assert!(!got.contains_key("DeliveryLag"));

    // Parked: Open Zaak answers 400; and a message that is no CloudEvent.
    oz.fail_next(1, 400);
    let c1 = cloudevent(EventKind::Gekoppeld, "oo-c", 1, minute);
    let mut parked = batch(&[c1]);
    parked.records[0].message_id = Some("c1".into());
    let mut junk = SqsMessage::default();
    junk.message_id = Some("junk".into());
    junk.body = Some("not json".into());
    parked.records.push(junk);
    let r = handle_batch(&d, &q, &parked).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(q.parked.lock().unwrap().len(), 2);
    let got = parse(&emf.take("d-3"), "d-3");
    assert_eq!(counters(&got), expect(&[("Deliveries/Outcome=parked", 2)]));

    // oo-a moves on to place 2; then a repeat of place 2 (already delivered) and a stale
    // replay of place 1 (already delivered and skipped as stale); and the retried oo-b.
    let a2 = cloudevent(EventKind::Ontkoppeld, "oo-a", 2, minute);
    handle_batch(&d, &q, &batch(std::slice::from_ref(&a2))).await;
    emf.take("d-4");
    let r = handle_batch(&d, &q, &batch(&[a2, a1, b1])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = parse(&emf.take("d-5"), "d-5");
    assert_eq!(
        counters(&got),
        expect(&[
            ("Deliveries/Outcome=already_delivered", 2),
            ("Deliveries/Outcome=delivered", 1),
            ("StaleEventsSkipped", 1),
        ])
    );
    assert_eq!(got["DeliveryLag"].value.as_array().unwrap().len(), 1);
}

/// An Applicatie without zaken.lezen: each delivery counts one `VerificationUnavailable`
/// (the alarm's metric, no dimension) and is still delivered.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_zaakobjecten_read_counts_verification_unavailable() {
    let _lock = LOCK.lock().await;
    let emf = emf();
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    oz.refuse_reads(true);
    let d = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(5),
    )
    .unwrap();
    let q = RecordingQueues::default();
    let minute = chrono::Duration::seconds(60);
    let events = [
        cloudevent(EventKind::Gekoppeld, "oo-r1", 1, minute),
        cloudevent(EventKind::Gekoppeld, "oo-r2", 1, minute),
    ];
    let r = handle_batch(&d, &q, &batch(&events)).await;
    assert!(r.batch_item_failures.is_empty());
    let got = parse(&emf.take("v-1"), "v-1");
    assert_eq!(
        counters(&got),
        expect(&[
            ("Deliveries/Outcome=delivered", 2),
            (zaaklink::telemetry::VERIFICATION_UNAVAILABLE, 2),
        ])
    );
    assert_eq!(oz.objects().len(), 2);
    // readable again: nothing more counted
    oz.refuse_reads(false);
    let r = handle_batch(
        &d,
        &q,
        &batch(&[cloudevent(EventKind::Gekoppeld, "oo-r3", 1, minute)]),
    )
    .await;
    assert!(r.batch_item_failures.is_empty());
    let got = parse(&emf.take("v-2"), "v-2");
    assert_eq!(counters(&got), expect(&[("Deliveries/Outcome=delivered", 1)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn resync_runs_count_objects_changes_events_and_completed_passes() {
    let _lock = LOCK.lock().await;
    let emf = emf();
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let scene = Scene {
        suite: "metrics",
        root: ok.api_root(),
    };
    for i in 0..3 {
        scene.put(&ok, i, Some(i));
    }
    scene.put(&ok, 3, None); // a besluit: no link, nothing to change
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (app, auth) = pipeline(core_args(&ok.api_root(), "2000"), store.clone(), sink.clone());
    let settings = ResyncSettings {
        page_size: 2,
        concurrency: 2,
        lease: Duration::from_secs(5),
        retries: 1,
        retry_base: Duration::from_millis(1),
        ..Default::default()
    };
    let resync = Resync::new(&app, store, settings);
    let job = json!({"zaaklink": "resync"});

    let resp = zaaklink::lambda::handle_with(&app, &auth, job.clone(), Some(&resync), None)
        .await
        .unwrap();
    assert_eq!(resp["stop"], "PassDone", "{resp}");
    let put = sink.take().len() as u64;
    assert_eq!(put, 3);
    let objects = resp["objects"].as_u64().unwrap();
    assert!(objects >= 3, "{resp}");
    let got = parse(&emf.take("r-1"), "r-1");
    assert_eq!(
        counters(&got),
        expect(&[
            ("EventsPut", put),
            ("ResyncChanges", 3),
            ("ResyncObjects", objects),
            ("ResyncPassesCompleted", 1),
        ])
    );

    // The next run finds the pass done less than the interval ago: it does nothing, and
    // nothing is counted (no zero documents either).
    let resp = zaaklink::lambda::handle_with(&app, &auth, job, Some(&resync), None)
        .await
        .unwrap();
    assert_ne!(resp["stop"], "PassDone", "{resp}");
    assert!(emf.take("r-2").is_empty());
}
