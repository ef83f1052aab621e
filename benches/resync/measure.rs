//! What the resync bench measures with: the recording sink, the list alone, one pass with
//! its time, calls, events and memory, the pass's work after the list timed alone, the
//! pipelines over each store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use zaaklink::callcount::service_total;
use zaaklink::callcount::{CallCounter, CountingOpenKlant};
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::openklant::{ApiRoot, HttpOpenKlant, OpenKlant};
use zaaklink::resync::{Resync, ResyncSettings};
use zaaklink::secret::Secret;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::dynamodb::DynamoStore;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::{CheckpointStore, LinkStore};
use zaaklink::Zaaklink;

use super::{BUS, TOKEN};

/// Records every event id it passes on, per (object, type, zaak).
pub struct Recording {
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

/// The list alone: every page of the zaak list, one after the other, nothing else (the floor
/// of a pass). Seconds.
pub async fn list_only(ok: &FakeOpenKlant) -> f64 {
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
pub enum Target {
    Dynamo(&'static str),
    Embedded(Arc<EmbeddedStore>),
}

/// One pass as measured: its time, its report, its calls, the events its sink saw, the
/// process's memory.
pub struct Measured {
    seconds: f64,
    report: zaaklink::resync::Report,
    calls: BTreeMap<String, u64>,
    events: Vec<(String, String)>,
    /// VmRSS before the pass and the peak (VmHWM) during it, in MB.
    rss_before_mb: f64,
    rss_peak_mb: f64,
}

impl Measured {
    pub async fn pass(
        sdk: &aws_config::SdkConfig,
        ok: &FakeOpenKlant,
        target: Target,
        what: &str,
    ) -> Measured {
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

    pub fn json(&self, objects: f64, want: Option<&BTreeSet<(String, &'static str, String)>>) -> Value {
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

    pub fn first_json(&self, listed: usize) -> Value {
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
pub fn exactly_once(events: &[(String, String)], want: &BTreeSet<(String, &'static str, String)>) -> bool {
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
pub fn memory(field: &str) -> f64 {
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
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub async fn pipeline(
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
pub fn pipeline_with(
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

/// The pass's own work after the list, timed alone (after the unchanged pass, nothing to
/// do): phase `stored`'s read of every linked record, a store page (4 × 500) at a time, and
/// the end-of-pass sweep. Seconds.
pub async fn after_list(sdk: &aws_config::SdkConfig, ok: &FakeOpenKlant, target: Target) -> Value {
    let counter = CallCounter::new();
    let app = match target {
        Target::Dynamo(table) => pipeline(sdk, ok, &counter, table).await.0,
        Target::Embedded(store) => pipeline_with(sdk, ok, &counter, store, false).0,
    };
    let t = Instant::now();
    let (mut cursor, mut records) = (None, 0);
    loop {
        let (page, next) = app
            .store
            .linked_page(cursor.as_deref(), 4 * 500)
            .await
            .expect("a store page");
        records += page.len();
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let stored = t.elapsed().as_secs_f64();
    let t = Instant::now();
    app.sweep().await.expect("the sweep");
    let sweep = t.elapsed().as_secs_f64();
    eprintln!("resync bench: after the list, alone: phase stored {stored:.1} s ({records} records), sweep {sweep:.1} s");
    json!({"stored_s": stored, "records": records, "sweep_s": sweep})
}
