//! The core per notification, with no network: criterion benchmarks (run by `scripts/bench`,
//! or `cargo bench --bench core`).
//!
//! - `pure/create`: `notification::parse` + `classify` + `link::resolve` + `reconcile` +
//!   `cloudevent::outbox_event` for a create (objects already deserialised).
//! - `handle/<kind>`: the whole `Zaaklink::handle` for one notification against in-process
//!   fakes (MemoryStore, MemorySink, an in-memory Open Klant holding the sample objects),
//!   for each transition kind: create (none→Z), duplicate (Z→Z), relink (Z1→Z2) and
//!   destroy (Z→none). The store's starting state is built outside the timed part.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use zaaklink::demo::samples;
use zaaklink::link::{Klantcontact, Onderwerpobject};
use zaaklink::notification::{self, Notification};
use zaaklink::openklant::{ApiRoot, OpenKlant, OpenKlantError, Page};
use zaaklink::reconcile::{self, Plan};
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::{cloudevent, link, Settings, Zaaklink};

const API_ROOT: &str = "http://127.0.0.1:8000/klantinteracties/api/v1/";
const SOURCE: &str = "urn:nld:oin:01823288444:openklant";

/// Open Klant in memory: the sample objects by URL; a missing URL is a 404 (`None`).
#[derive(Default)]
struct MemOpenKlant {
    objects: Mutex<HashMap<String, String>>,
}

impl MemOpenKlant {
    fn put(&self, sample: &str) {
        let v: serde_json::Value = serde_json::from_str(sample).expect("sample is JSON");
        let url = v["url"].as_str().expect("sample has a url").to_string();
        self.objects.lock().unwrap().insert(url, sample.to_string());
    }

    /// Deserialised from the JSON text on every call, as the HTTP adapter does.
    fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Option<T> {
        let objects = self.objects.lock().unwrap();
        let text = objects.get(url)?;
        Some(serde_json::from_str(text).expect("sample object deserialises"))
    }
}

#[async_trait]
impl OpenKlant for MemOpenKlant {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        Ok(self.get(url))
    }

    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        Ok(self.get(url))
    }

    async fn klantcontact_expanded(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::openklant::ExpandedKlantcontact>, OpenKlantError> {
        let Some(kc) = self.get::<Klantcontact>(url) else {
            return Ok(None);
        };
        let objects = kc
            .ging_over_onderwerpobjecten
            .iter()
            .filter_map(|r| self.get::<Onderwerpobject>(&r.url))
            .collect();
        Ok(Some(zaaklink::openklant::ExpandedKlantcontact::new(kc, objects)))
    }

    async fn zaak_onderwerpobjecten(
        &self,
        _page: u32,
        _page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        Ok(None)
    }
}

fn settings() -> Settings {
    Settings {
        api_root: ApiRoot::parse(API_ROOT).expect("the sample API root parses"),
        emit_source: Some(SOURCE.into()),
        label_max_chars: 80,
        max_attempts: 8,
        outbox_lease: zaaklink::DEFAULT_OUTBOX_LEASE,
        destroy_recheck_after: zaaklink::DEFAULT_DESTROY_RECHECK_AFTER,
    }
}

/// A fresh pipeline whose Open Klant holds the klantcontact and `object`.
fn app(object: &str) -> (Zaaklink, Arc<MemOpenKlant>) {
    let klant = Arc::new(MemOpenKlant::default());
    klant.put(samples::KLANTCONTACT);
    klant.put(object);
    let app = Zaaklink {
        klant: klant.clone(),
        store: Arc::new(MemoryStore::default()),
        sink: Arc::new(MemorySink::default()),
        settings: settings(),
    };
    (app, klant)
}

fn parsed(body: &str) -> Notification {
    notification::parse(body.as_bytes()).expect("sample notification parses")
}

fn bench_pure(c: &mut Criterion) {
    let root = ApiRoot::parse(API_ROOT).unwrap();
    let oo: Onderwerpobject = serde_json::from_str(samples::ZAAK_A).unwrap();
    let kc: Klantcontact = serde_json::from_str(samples::KLANTCONTACT).unwrap();
    let body = samples::CREATE.as_bytes();
    let mut g = c.benchmark_group("pure");
    g.bench_function("create", |b| {
        b.iter(|| {
            let n = notification::parse(black_box(body)).unwrap();
            let intent = notification::classify(&n, &root).unwrap();
            let new = link::resolve(&oo, &kc, 80);
            let Plan::Write { events, .. } = reconcile::reconcile(None, new.as_ref()) else {
                unreachable!("a create links a zaak")
            };
            let t = &events[0];
            let stamp = zaaklink::epoch::Stamp {
                epoch: 1_795_000_000_000,
                version: 1,
                seq: zaaklink::epoch::first_seq(1_795_000_000_000),
            };
            let e = cloudevent::outbox_event(t.kind, &t.link, SOURCE, &oo.uuid, stamp, Utc::now());
            black_box((intent, e))
        })
    });
    g.finish();
}

fn bench_handle(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let create = parsed(samples::CREATE);
    let update = parsed(samples::UPDATE);
    let destroy = parsed(samples::DESTROY);
    let mut g = c.benchmark_group("handle");

    // none -> Z: gekoppeld.
    g.bench_function("create", |b| {
        b.iter_batched(
            || app(samples::ZAAK_A).0,
            |app| {
                let o = rt.block_on(app.handle(&create)).unwrap();
                assert_eq!(o.emitted, 1);
                app
            },
            BatchSize::SmallInput,
        )
    });

    // Z -> Z: nothing to write, nothing to emit (the state does not change between runs).
    let (dup, _) = app(samples::ZAAK_A);
    rt.block_on(dup.handle(&create)).unwrap();
    g.bench_function("duplicate", |b| {
        b.iter(|| {
            let o = rt.block_on(dup.handle(&create)).unwrap();
            assert_eq!(o.written, 0);
            o
        })
    });

    // Z1 -> Z2: ontkoppeld + gekoppeld.
    g.bench_function("relink", |b| {
        b.iter_batched(
            || {
                let (app, klant) = app(samples::ZAAK_A);
                rt.block_on(app.handle(&create)).unwrap();
                klant.put(samples::ZAAK_B);
                app
            },
            |app| {
                let o = rt.block_on(app.handle(&update)).unwrap();
                assert_eq!(o.emitted, 2);
                app
            },
            BatchSize::SmallInput,
        )
    });

    // Z -> none (destroy notification: no Open Klant GET): ontkoppeld.
    g.bench_function("destroy", |b| {
        b.iter_batched(
            || {
                let (app, _) = app(samples::ZAAK_A);
                rt.block_on(app.handle(&create)).unwrap();
                app
            },
            |app| {
                let o = rt.block_on(app.handle(&destroy)).unwrap();
                assert_eq!(o.emitted, 1);
                app
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_pure, bench_handle);
criterion_main!(benches);
