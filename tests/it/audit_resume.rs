//! The audit over several invocations on the Lambda's store shape (DynamoDB on moto), driven
//! by `Audit::run_saved` with a deadline that has already passed: every invocation then does
//! exactly one step (a page of each list, the comparison, a batch of second looks), saves
//! where it stands and ends "continued" — no timing involved. It must end with the report
//! one uninterrupted run gives; an invocation lost after it mended (its save never made)
//! must not make the next one mend again (DESIGN §9, "A run over several invocations").

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::cli::SOURCE;
use common::fixtures::{core_args, pipeline, Scene, TOKEN};
use zaaklink::audit::saved::Stage;
use zaaklink::audit::{Audit, AuditSettings, HttpZaakObjecten, Ran, Report};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::store::dynamodb::DynamoStore;
use zaaklink::store::{AuditStateStore, CheckpointStore, SavedCheckpoint, StoreError};

const CLIENT: &str = "zaaklink-audit-resume";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";

/// The DynamoDB store, whose audit saves can be made to fail from the save after a mend on
/// (as if the invocation died right after it mended).
struct Dying {
    inner: DynamoStore,
    armed: AtomicBool,
    mended: AtomicBool,
}

#[async_trait]
impl CheckpointStore for Dying {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.inner.load_checkpoint().await
    }
    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        self.inner.save_checkpoint(json, expected).await
    }
    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError> {
        self.inner.put_seen(pass, chunk, uuids).await
    }
    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError> {
        self.inner.seen(pass, chunks).await
    }
    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError> {
        self.inner.drop_seen(pass, chunks).await
    }
}

#[async_trait]
impl AuditStateStore for Dying {
    async fn load_audit(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        self.inner.load_audit().await
    }
    async fn save_audit(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        if self.armed.load(Ordering::SeqCst) && self.mended.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the invocation died".into()));
        }
        self.inner.save_audit(json, expected).await?;
        if json.contains("\"mending\":[\"") {
            // the mends of this batch are written ahead; what follows them is lost
            self.mended.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

struct World {
    ok: FakeOpenKlant,
    oz: FakeOpenZaak,
    scene: Scene,
    moto: common::Moto,
    table: String,
    queue: String,
    app: zaaklink::Zaaklink,
}

/// Objects 1..=n linked in Open Klant and related in Open Zaak (pages of 2), then damaged:
/// 1 deleted in Open Zaak, a stray for 2 on another zaak, 3 duplicated.
async fn world(n: usize, name: &str) -> World {
    let moto = common::Moto::start();
    let (table, bus) = (format!("zaaklink-{name}"), format!("zaaklink-{name}-bus"));
    moto.create_links_table(&table).await;
    let queue = moto.create_bus_rule_queue(&bus, SOURCE).await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT, SECRET).await.unwrap();
    let scene = Scene {
        suite: "audit-resume",
        root: ok.api_root(),
    };
    for i in 1..=n {
        scene.put(&ok, i, Some(i % 3));
        oz.insert_object(
            &scene.zaak(i % 3),
            &scene.oo_url(i),
            &format!("Onderwerp {i} - ({i})"),
        );
    }
    assert_eq!(oz.delete_objects(&scene.oo_url(1)), 1);
    oz.insert_object(&scene.zaak(99), &scene.oo_url(2), "Onderwerp 2 - (2)");
    assert!(oz.duplicate(&scene.oo_url(3)));
    let sink =
        EventBridgeSink::new(moto.eventbridge().await, &bus, SOURCE).with_retry(3, Duration::from_millis(10));
    let store = Arc::new(DynamoStore::new(moto.dynamodb().await, &table));
    let (app, _) = pipeline(core_args(&ok.api_root(), "5000"), store, Arc::new(sink));
    World {
        ok,
        oz,
        scene,
        moto,
        table,
        queue,
        app,
    }
}

impl World {
    fn audit(&self, repair: bool) -> Audit {
        let reader = HttpZaakObjecten::new(
            &self.oz.base,
            zaaklink::deliver::OpenZaakCredentials::new(CLIENT, SECRET),
            Duration::from_secs(30),
        )
        .unwrap();
        let settings = AuditSettings {
            page_size: 2,
            settle: Duration::ZERO,
            repair,
            ..Default::default()
        };
        Audit::new(&self.app, Arc::new(reader), settings)
    }

    async fn dying(&self) -> Arc<Dying> {
        Arc::new(Dying {
            inner: DynamoStore::new(self.moto.dynamodb().await, &self.table),
            armed: AtomicBool::new(false),
            mended: AtomicBool::new(false),
        })
    }
}

/// Invocations with a deadline already passed, until the run finishes: its report and the
/// stages the invocations stopped in.
async fn invocations(audit: &Audit, store: Arc<Dying>) -> (Report, Vec<Stage>) {
    let mut stopped = Vec::new();
    for i in 0..200 {
        match audit.run_saved(store.clone(), Some(Instant::now()), i == 0).await {
            Ran::Finished(r) => return (*r, stopped),
            Ran::Continued { stage, .. } => stopped.push(stage),
            other => panic!("invocation {i}: {other:?}"),
        }
    }
    panic!("the audit did not finish within 200 invocations")
}

/// The report without what differs by run: its time and invocations.
fn comparable(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    for k in ["seconds", "invocations"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_over_many_invocations_reports_what_one_run_reports() {
    let w = world(9, "audit-resume-report").await;
    let one = w.audit(false).run().await;
    assert_eq!((one.counted, one.exit_status), (3, 1), "{}", one.to_json());

    let store = w.dying().await;
    let (many, stopped) = invocations(&w.audit(false), store.clone()).await;
    assert!(
        stopped.iter().filter(|s| **s == Stage::List).count() >= 4,
        "9 objects, pages of 2: several list invocations ({stopped:?})"
    );
    assert_eq!(comparable(&many), comparable(&one), "{}", many.to_json());
    assert_eq!(many.invocations as usize, stopped.len() + 1);

    // A continuation tick after it has nothing to do; the schedule starts a new run.
    assert!(matches!(
        w.audit(false)
            .run_saved(store.clone(), Some(Instant::now()), false)
            .await,
        Ran::Idle
    ));
    assert!(matches!(
        w.audit(false).run_saved(store, Some(Instant::now()), true).await,
        Ran::Continued {
            stage: Stage::List,
            invocations: 1,
            ..
        }
    ));
    assert!(
        w.moto.receive_all(&w.queue).await.is_empty(),
        "nothing mended without --repair"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_invocation_that_mended_does_not_make_the_next_mend_again() {
    let w = world(5, "audit-resume-once").await;
    let store = w.dying().await;
    store.armed.store(true, Ordering::SeqCst);
    let audit = w.audit(true);
    let mut i = 0;
    // invocations until the one that mends "dies" (its saves after the mends fail)
    let died = loop {
        match audit.run_saved(store.clone(), Some(Instant::now()), i == 0).await {
            Ran::Continued { .. } => i += 1,
            Ran::Finished(r) => break r,
            other => panic!("{other:?}"),
        }
        assert!(i < 100);
    };
    assert_eq!(died.exit_status, 2, "{}", died.to_json());
    let put = w.moto.receive_all(&w.queue).await;
    // 1 missing: gekoppeld; 2 stray: ontkoppeld; 3 duplicated: ontkoppeld + gekoppeld
    assert_eq!(put.len(), 4, "{put:?}");

    // The lease of the dead invocation runs out (here: taken away), saves work again.
    store.armed.store(false, Ordering::SeqCst);
    let saved = store.inner.load_audit().await.unwrap().unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&saved.json).unwrap();
    assert_eq!(doc["mending"].as_array().map(Vec::len), Some(3), "{doc}");
    doc["owner"] = serde_json::Value::Null;
    doc["lease_until"] = serde_json::Value::Null;
    store
        .inner
        .save_audit(&doc.to_string(), saved.version)
        .await
        .unwrap();

    let (last, _) = invocations(&audit, store).await;
    let repairs = last.repairs.clone().unwrap();
    assert_eq!(
        (repairs.objects, repairs.pending, last.remaining),
        (0, 3, 3),
        "left alone, not mended twice: {}",
        last.to_json()
    );
    assert!(
        w.moto.receive_all(&w.queue).await.is_empty(),
        "nothing was put twice"
    );
    let _ = (&w.ok, &w.scene);
}

/// The saved run's document on DynamoDB: compare-and-set on its version, beside (never over)
/// the resync's checkpoint.
#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_keeps_the_audit_state_contract() {
    let moto = common::Moto::start();
    moto.create_links_table("zaaklink-audit-state").await;
    let store = DynamoStore::new(moto.dynamodb().await, "zaaklink-audit-state");
    zaaklink::store::audit_state::contract::audit_state_contract(&store).await;
}
