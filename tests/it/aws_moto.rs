//! The AWS adapters (DynamoStore, EventBridgeSink) against moto, through the real pipeline:
//! the webhook, the real Open Klant HTTP adapter against the HTTP fake, DynamoDB for state,
//! EventBridge for events, read back from an SQS queue a bus rule delivers to. Failures that
//! moto cannot produce on demand (PutEvents partial failures, throttling) come from
//! aws-smithy-mocks. Every test starts its own moto server.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};
use chrono::{NaiveDateTime, Utc};
use serde_json::{json, Value};

use common::cli::SOURCE;
use common::fixtures::{core_args, pipeline, post, TOKEN};
use common::Moto;
use zaaklink::cloudevent::{event_id, OutboxEvent};
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::ZaakLink;
use zaaklink::reconcile::EventKind;
use zaaklink::sink::eventbridge::EventBridgeSink;
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::checkpoint::contract::checkpoint_contract;
use zaaklink::store::contract::{link, store_contract, was_and_markers_contract, Point};
use zaaklink::store::dynamodb::{
    legacy_marker_item, legacy_marker_shard, marker_shard, marker_values, outbox_shard, DynamoStore,
    BY_KLANTCONTACT, BY_OUTBOX, BY_WAS_KLANTCONTACT, OUTBOX_PENDING,
};
use zaaklink::store::{LinkRecord, LinkStore, StoreError};
use zaaklink::webhook::{Answer, WebhookAuth};
use zaaklink::Zaaklink;

const TABLE: &str = "zaaklink-links";
const BUS: &str = "zaaklink-bus";
const OO_UUID: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
const ZAAK_A: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
const ZAAK_B: &str = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const OO_SAMPLE_URL: &str =
    "http://127.0.0.1:8000/klantinteracties/api/v1/onderwerpobjecten/5fee9673-216c-41e7-91d2-69a8d1526b9f";
const KC_SAMPLE_URL: &str =
    "http://127.0.0.1:8000/klantinteracties/api/v1/klantcontacten/3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a";
const LABEL: &str = "Mijn Klantcontact Onderwerp";

/// moto + fake Open Klant + the pipeline on DynamoDB and EventBridge.
struct World {
    moto: Moto,
    ok: FakeOpenKlant,
    app: Zaaklink,
    auth: WebhookAuth,
    ddb: aws_sdk_dynamodb::Client,
    queue: String,
}

impl World {
    /// The links table's epoch: its creation time in unix ms (zaaklink::epoch).
    async fn epoch(&self) -> u64 {
        let t = self.ddb.describe_table().table_name(TABLE).send().await.unwrap();
        t.table.unwrap().creation_date_time.unwrap().to_millis().unwrap() as u64
    }

    async fn new() -> World {
        let moto = Moto::start();
        let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
        moto.create_links_table(TABLE).await;
        let queue = moto.create_bus_rule_queue(BUS, SOURCE).await;
        let ddb = moto.dynamodb().await;
        let sink = EventBridgeSink::new(moto.eventbridge().await, BUS, SOURCE)
            .with_retry(3, Duration::from_millis(10));
        let (app, auth) = pipeline(
            core_args(&ok.api_root(), "5000"),
            Arc::new(DynamoStore::new(ddb.clone(), TABLE)),
            Arc::new(sink),
        );
        World {
            moto,
            ok,
            app,
            auth,
            ddb,
            queue,
        }
    }

    /// The same pipeline with another sink (same store).
    fn with_sink(&self, sink: Arc<dyn EventSink>) -> Zaaklink {
        Zaaklink {
            sink,
            ..self.app.clone()
        }
    }

    async fn post(&self, app: &Zaaklink, sample: &str) -> Answer {
        post(app, &self.auth, &self.ok.rewrite(sample)).await
    }

    /// The CloudEvents that reached the queue (envelope checked), oldest first.
    async fn events(&self) -> Vec<Value> {
        self.moto
            .receive_all(&self.queue)
            .await
            .into_iter()
            .map(|envelope| {
                let detail = envelope["detail"].clone();
                assert_eq!(envelope["source"], SOURCE, "{envelope}");
                assert_eq!(envelope["detail-type"], detail["type"], "{envelope}");
                detail
            })
            .collect()
    }

    /// The raw DynamoDB item, read with the SDK.
    async fn item(&self, uuid: &str) -> HashMap<String, AttributeValue> {
        self.ddb
            .get_item()
            .table_name(TABLE)
            .key("onderwerpobject", AttributeValue::S(uuid.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no item for {uuid}"))
    }

    fn oo_url(&self) -> String {
        self.ok.rewrite(OO_SAMPLE_URL)
    }

    fn kc_url(&self) -> String {
        self.ok.rewrite(KC_SAMPLE_URL)
    }

    fn link(&self, zaak: &str) -> ZaakLink {
        ZaakLink {
            zaak: zaak.into(),
            label: LABEL.into(),
            link_to: self.oo_url(),
            klantcontact: self.kc_url(),
            was_klantcontact: None,
        }
    }
}

fn s(item: &HashMap<String, AttributeValue>, attr: &str) -> Option<String> {
    item.get(attr).map(|v| v.as_s().unwrap().clone())
}

/// The item holds exactly this link (or none) at this version, with an empty outbox.
fn assert_item(item: &HashMap<String, AttributeValue>, link: Option<&ZaakLink>, version: u64) {
    assert_eq!(
        item["version"],
        AttributeValue::N(version.to_string()),
        "{item:?}"
    );
    assert_eq!(s(item, "zaak"), link.map(|l| l.zaak.clone()), "{item:?}");
    assert_eq!(s(item, "label"), link.map(|l| l.label.clone()), "{item:?}");
    assert_eq!(s(item, "linkTo"), link.map(|l| l.link_to.clone()), "{item:?}");
    assert_eq!(
        s(item, "klantcontact"),
        link.map(|l| l.klantcontact.clone()),
        "{item:?}"
    );
    assert!(
        item.get("pending").is_none_or(|p| p.as_m().unwrap().is_empty()),
        "{item:?}"
    );
    assert!(!item.contains_key("outbox"), "{item:?}");
    let updated = s(item, "updatedAt").expect("updatedAt");
    chrono::DateTime::parse_from_rfc3339(&updated).expect("updatedAt is RFC 3339");
}

/// The CloudEvent is exactly the one for this transition: every field, the time format, and
/// its place `seq` in the onderwerpobject's sequence (the bus-only `sequence` extension).
fn assert_event(
    epoch: u64,
    got: &Value,
    kind: EventKind,
    link: &ZaakLink,
    (version, place): (u64, u64),
    since: chrono::DateTime<Utc>,
) {
    // place 1 of a new record is the first place of the table's epoch
    let seq = zaaklink::epoch::first_seq(epoch) + place - 1;
    let time = got["time"].as_str().unwrap_or_else(|| panic!("no time: {got}"));
    let t = NaiveDateTime::parse_from_str(time, "%Y-%m-%dT%H:%M:%SZ")
        .unwrap_or_else(|e| panic!("time {time} is not %Y-%m-%dT%H:%M:%SZ: {e}"))
        .and_utc();
    assert!(
        t.timestamp() >= since.timestamp() && t <= Utc::now(),
        "time {t} not within the test ({since} .. now)"
    );
    let want = json!({
        "specversion": "1.0",
        "type": kind.event_type(),
        "source": SOURCE,
        "subject": link.zaak,
        "id": event_id(epoch, OO_UUID, version, kind),
        "time": time,
        "datacontenttype": "application/json",
        "data": {
            "zaak": format!("urn:uuid:{}", link.zaak),
            "linkTo": link.link_to,
            "label": link.label,
            "linkObjectType": "Onderwerpobject",
        },
        "sequence": seq.to_string(),
    });
    assert_eq!(got, &want);
}

// ---------------------------------------------------------------------------------------------
// DynamoStore contract
// ---------------------------------------------------------------------------------------------

/// Keys found by a Query on a GSI (bypassing the store's consistent re-read).
async fn index_keys(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    index: &str,
    attr: &str,
    v: &str,
) -> Vec<String> {
    ddb.query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#k = :v")
        .expression_attribute_names("#k", attr)
        .expression_attribute_values(":v", AttributeValue::S(v.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .iter()
        .map(|i| s(i, "onderwerpobject").unwrap())
        .collect()
}

/// Every item a Query on a GSI finds, all pages (bypassing the store's consistent re-read).
async fn index_items(
    ddb: &aws_sdk_dynamodb::Client,
    index: &str,
    attr: &str,
    v: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .query()
            .table_name(TABLE)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":v", AttributeValue::S(v.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// No cap on the klantcontact-destroyed markers (issue 19.5). The old layout kept them as
/// string sets in 16 items: one item holds 400 KB, about 2,500 markers, and the 2,500-odd-th
/// destroy of klantcontacten hashed to one item answered 503 (moto refuses an item over
/// 400 KB as DynamoDB does, so this test failed on that layout). Now every marker is an item
/// of its own: 2,600 destroys (415 KB of markers) whose klantcontacten all hash to one old item and one new
/// shard are all kept, read back (the Query pages), and removed; markers an older version
/// left in its string sets are moved to items of their own and rechecked like the others.
#[tokio::test(flavor = "multi_thread")]
async fn destroyed_markers_have_no_cap() {
    use zaaklink::store::DestroyedKlantcontact;
    let moto = Moto::start();
    moto.create_links_table(TABLE).await;
    let ddb = moto.dynamodb().await;
    let store = Arc::new(DynamoStore::new(ddb.clone(), TABLE));
    let marker = |i: u32| {
        let u = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &i.to_be_bytes()).to_string();
        DestroyedKlantcontact {
            at: format!(
                "2026-10-10T09:{:02}:{:02}.{:03}Z",
                i / 60_000 % 60,
                i / 1000 % 60,
                i % 1000
            ),
            url: format!("https://klant.example.nl/klantinteracties/api/v1/klantcontacten/{u}"),
            uuid: u,
        }
    };

    // Markers an older version left in its string-set items.
    let old: Vec<DestroyedKlantcontact> = (0..3).map(|i| marker(900_000 + i)).collect();
    for m in &old {
        ddb.update_item()
            .table_name(TABLE)
            .key(
                "onderwerpobject",
                AttributeValue::S(legacy_marker_item(legacy_marker_shard(&m.uuid))),
            )
            .update_expression("ADD #m :line")
            .expression_attribute_names("#m", "markers")
            .expression_attribute_values(":line", AttributeValue::Ss(vec![m.encode()]))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(store.destroyed().await.unwrap(), {
        let mut o = old.clone();
        o.sort();
        o
    });
    for m in &old {
        let legacy = ddb
            .get_item()
            .table_name(TABLE)
            .key(
                "onderwerpobject",
                AttributeValue::S(legacy_marker_item(legacy_marker_shard(&m.uuid))),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_default();
        assert!(
            !legacy.contains_key("markers"),
            "moved out of the string set: {legacy:?}"
        );
        store.drop_destroyed(m).await.unwrap();
    }
    assert!(store.destroyed().await.unwrap().is_empty());

    // 2,600 destroys of klantcontacten that share one old item (and one new shard).
    let first = marker(0);
    let hot: Vec<DestroyedKlantcontact> = (0..200_000)
        .map(marker)
        .filter(|m| {
            legacy_marker_shard(&m.uuid) == legacy_marker_shard(&first.uuid)
                && marker_shard(m) == marker_shard(&first)
        })
        .take(2_600)
        .collect();
    assert_eq!(hot.len(), 2_600);
    let bytes: usize = hot.iter().map(|m| m.encode().len()).sum();
    assert!(bytes > 400 * 1024, "more than one old item held: {bytes} bytes");
    let each = |op: &'static str, hot: Vec<DestroyedKlantcontact>| {
        let store = store.clone();
        async move {
            for chunk in hot.chunks(16) {
                let mut set = tokio::task::JoinSet::new();
                for m in chunk {
                    let (store, m) = (store.clone(), m.clone());
                    set.spawn(async move {
                        match op {
                            "put" => store.put_destroyed(&m).await,
                            _ => store.drop_destroyed(&m).await,
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap().unwrap_or_else(|e| panic!("{op}: {e}"));
                }
            }
        }
    };
    each("put", hot.clone()).await;
    let mut want = hot.clone();
    want.sort();
    assert_eq!(store.destroyed().await.unwrap(), want);
    assert_eq!(
        index_items(&ddb, BY_OUTBOX, "outbox", &marker_shard(&first))
            .await
            .len(),
        2_600
    );
    // markers are no records: no link scan and no outbox sees them
    assert!(store.with_pending().await.unwrap().is_empty());
    assert!(store.linked().await.unwrap().is_empty());
    // Removing some removes exactly those (the removal itself is the store contract's).
    each("drop", hot[..100].to_vec()).await;
    assert_eq!(
        store.destroyed().await.unwrap(),
        want[..]
            .iter()
            .filter(|m| !hot[..100].contains(m))
            .cloned()
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_keeps_the_link_store_contract() {
    let moto = Moto::start();
    moto.create_links_table(TABLE).await;
    let ddb = moto.dynamodb().await;
    let store = DynamoStore::new(ddb.clone(), TABLE);

    // The contract every store keeps, and the item layout DynamoDB holds at each point.
    let keys = |index: &'static str, attr: &'static str, value: &str| {
        let ddb = ddb.clone();
        let value = value.to_string();
        async move { index_keys(&ddb, TABLE, index, attr, &value).await }
    };
    // The outbox is sharded: "a" sits on its own shard, never on the pre-shard value.
    let shard_a = outbox_shard("a");
    store_contract(&store, async |point| match point {
        Point::OutboxFull => {
            // `outbox` set, the event in `pending`, on both GSIs.
            let item = ddb
                .get_item()
                .table_name(TABLE)
                .key("onderwerpobject", AttributeValue::S("a".into()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap();
            assert_eq!(s(&item, "outbox").as_deref(), Some(shard_a.as_str()));
            assert!(shard_a.starts_with("p#"), "{shard_a}");
            assert_eq!(
                item["pending"].as_m().unwrap()["e1"],
                AttributeValue::S("{\"type\":\"nl.overheid.zaken.zaak-gekoppeld\"}".into())
            );
            assert_eq!(keys(BY_OUTBOX, "outbox", &shard_a).await, ["a"]);
            assert!(keys(BY_OUTBOX, "outbox", "pending").await.is_empty());
            assert_eq!(keys(BY_KLANTCONTACT, "klantcontact", "kc1").await, ["a"]);
        }
        Point::OutboxCleared => assert!(keys(BY_OUTBOX, "outbox", &shard_a).await.is_empty()),
        // The tombstone left both sparse indexes.
        Point::Tombstone => {
            assert!(keys(BY_KLANTCONTACT, "klantcontact", "kc1").await.is_empty());
            assert!(keys(BY_OUTBOX, "outbox", &shard_a).await.is_empty());
        }
    })
    .await;
    checkpoint_contract(&store).await;
    {
        // wasKlantcontact (its own sparse GSI) and the destroyed markers, on a fresh table.
        moto.create_links_table("zaaklink-was").await;
        let was = DynamoStore::new(ddb.clone(), "zaaklink-was");
        was_and_markers_contract(&was).await;
        assert!(index_keys(
            &ddb,
            "zaaklink-was",
            BY_WAS_KLANTCONTACT,
            "wasKlantcontact",
            "kcw"
        )
        .await
        .is_empty());
    }

    // An item an older version wrote (outbox = "pending", before the shards) is still swept.
    let mut legacy = LinkRecord::absent("legacy");
    legacy.version = 1;
    legacy.pending.insert("e9".into(), "{}".into());
    store.put(&legacy, 0).await.unwrap();
    ddb.update_item()
        .table_name(TABLE)
        .key("onderwerpobject", AttributeValue::S("legacy".into()))
        .update_expression("SET outbox = :p")
        .expression_attribute_values(":p", AttributeValue::S(OUTBOX_PENDING.into()))
        .send()
        .await
        .unwrap();
    assert_eq!(keys(BY_OUTBOX, "outbox", OUTBOX_PENDING).await, ["legacy"]);
    assert_eq!(
        store
            .with_pending()
            .await
            .unwrap()
            .iter()
            .map(|r| r.onderwerpobject.as_str())
            .collect::<Vec<_>>(),
        ["legacy"]
    );
    legacy.version = 2;
    legacy.pending.clear();
    store.put(&legacy, 1).await.unwrap();

    // Pagination: more records than one Scan/Query page holds is not cheap to make in moto;
    // many records on one klantcontact at least exercise the re-read of several keys.
    for i in 0..25 {
        let mut x = LinkRecord::absent(&format!("m{i:02}"));
        x.version = 1;
        x.link = Some(link("z", "kc-many"));
        store.put(&x, 0).await.unwrap();
    }
    assert_eq!(store.linked_to_klantcontact("kc-many").await.unwrap().len(), 25);
    assert_eq!(
        store
            .linked()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.link.as_ref().unwrap().klantcontact == "kc-many")
            .count(),
        25
    );

    // A missing table: Unavailable, naming the operation, the table and the fix.
    let missing = DynamoStore::new(ddb, "no-such-table");
    match missing.get("a").await {
        Err(StoreError::Unavailable(m)) => {
            assert!(m.contains("GetItem") && m.contains("no-such-table"), "{m}");
            assert!(
                m.contains("does not exist: check LINKS_TABLE / deploy the stack"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The life cycle, end to end
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn life_cycle_on_dynamodb_and_eventbridge() {
    let w = World::new().await;
    let app = &w.app;
    let since = Utc::now();
    let epoch = w.epoch().await;
    let a = w.link(ZAAK_A);
    let b = w.link(ZAAK_B);

    // 1. created, linking zaak A: gekoppeld(A) at version 1, outbox cleared at version 2.
    w.ok.put(samples::KLANTCONTACT);
    w.ok.put(samples::ZAAK_A);
    assert_eq!(w.post(app, samples::CREATE).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_event(epoch, &ev[0], EventKind::Gekoppeld, &a, (1, 1), since);
    // linkTo is byte-identical to the url Open Klant returned.
    let served: Value = serde_json::from_str(&w.ok.rewrite(samples::ZAAK_A)).unwrap();
    assert_eq!(ev[0]["data"]["linkTo"], served["url"]);
    assert_item(&w.item(OO_UUID).await, Some(&a), 2);

    // 2. the same notification again: nothing changes, nothing is emitted.
    assert_eq!(w.post(app, samples::CREATE).await.status, 204);
    assert!(w.events().await.is_empty());
    assert_item(&w.item(OO_UUID).await, Some(&a), 2);

    // 3. relinked to zaak B: ontkoppeld(A) then gekoppeld(B), both at version 3.
    w.ok.put(samples::ZAAK_B);
    assert_eq!(w.post(app, samples::UPDATE).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_event(epoch, &ev[0], EventKind::Ontkoppeld, &a, (3, 2), since);
    assert_event(epoch, &ev[1], EventKind::Gekoppeld, &b, (3, 3), since);
    assert_item(&w.item(OO_UUID).await, Some(&b), 4);

    // 4. changed to a besluit: ontkoppeld(B); the item becomes a tombstone.
    w.ok.put(samples::BESLUIT);
    assert_eq!(w.post(app, samples::PARTIAL_UPDATE).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_event(epoch, &ev[0], EventKind::Ontkoppeld, &b, (5, 4), since);
    assert_item(&w.item(OO_UUID).await, None, 6);

    // 5. back to zaak A: gekoppeld(A) with a new id (version 7).
    w.ok.put(samples::ZAAK_A);
    assert_eq!(w.post(app, samples::UPDATE).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_event(epoch, &ev[0], EventKind::Gekoppeld, &a, (7, 5), since);
    assert_ne!(ev[0]["id"], event_id(epoch, OO_UUID, 1, EventKind::Gekoppeld));
    assert_item(&w.item(OO_UUID).await, Some(&a), 8);

    // 6. the klantcontact is destroyed (Open Klant cascades silently): found through the
    //    by-klantcontact index, ontkoppeld(A).
    w.ok.remove(KC_SAMPLE_URL);
    w.ok.remove(OO_SAMPLE_URL);
    assert_eq!(w.post(app, samples::KC_DESTROY).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_event(epoch, &ev[0], EventKind::Ontkoppeld, &a, (9, 6), since);
    assert_item(&w.item(OO_UUID).await, None, 10);

    // 7. the destroy left its marker in a reserved item of its own (found through the
    //    by-outbox index under a `d#` value, no link index sees it); the sweep keeps it
    //    through the grace period, then looks again and removes it.
    let kc_uuid = KC_SAMPLE_URL.rsplit('/').next().unwrap();
    let markers = || async {
        let mut lines = Vec::new();
        for shard in marker_values() {
            for item in index_items(&w.ddb, BY_OUTBOX, "outbox", &shard).await {
                let key = item["onderwerpobject"].as_s().unwrap();
                assert!(key.starts_with("zaaklink:klantcontact-destroyed:"), "{key}");
                assert!(!item.contains_key("klantcontact") && !item.contains_key("zaak"));
                assert!(!item.contains_key("version") && !item.contains_key("pending"));
                lines.push(item["marker"].as_s().unwrap().clone());
            }
        }
        lines
    };
    let lines = markers().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(&format!(" {kc_uuid} {}", w.kc_url())),
        "{lines:?}"
    );
    app.sweep().await.unwrap();
    assert_eq!(markers().await, lines);
    let mut now = app.clone();
    now.settings.destroy_recheck_after = Duration::ZERO;
    now.sweep().await.unwrap();
    assert!(markers().await.is_empty());
    assert!(w.events().await.is_empty());

    // Nothing left in any outbox.
    assert!(w.app.store.with_pending().await.unwrap().is_empty());
    assert!(w.app.store.linked().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Concurrency: many deliveries on one onderwerpobject while Open Klant flips
// ---------------------------------------------------------------------------------------------

/// Deliveries per round, all in flight together (and with the rest of earlier rounds).
const DELIVERIES_PER_ROUND: usize = 8;
/// Rounds; Open Klant flips between zaak A and B between rounds.
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deliveries_converge_and_form_a_valid_history() {
    let w = Arc::new(World::new().await);
    let epoch = w.epoch().await;
    w.ok.put(samples::KLANTCONTACT);
    w.ok.put(samples::ZAAK_A);
    let mut last = ZAAK_A;
    let mut inflight = tokio::task::JoinSet::new();
    for round in 0..ROUNDS {
        if round > 0 {
            // Open Klant changes while deliveries of the previous rounds are still running.
            last = if last == ZAAK_A { ZAAK_B } else { ZAAK_A };
            w.ok.put(if last == ZAAK_A {
                samples::ZAAK_A
            } else {
                samples::ZAAK_B
            });
        }
        // The change's notification, delivered many times at once (at-least-once delivery,
        // several Lambda instances).
        for _ in 0..DELIVERIES_PER_ROUND {
            let w = w.clone();
            inflight.spawn(async move {
                // Open Notificaties retries a 5xx (here: optimistic-lock contention), bounded.
                for _ in 0..20 {
                    let a = w.post(&w.app, samples::UPDATE).await;
                    match a.status {
                        204 => return round,
                        503 => tokio::time::sleep(Duration::from_millis(20)).await,
                        s => panic!("HTTP {s}: {a:?}"),
                    }
                }
                panic!("a delivery did not succeed in 20 tries");
            });
        }
        // Once one delivery of this round has succeeded, the store holds this round's state
        // for good (a delivery reads the store before Open Klant, and writes conditionally):
        // then flip again, with the other deliveries still in flight.
        loop {
            let done = inflight
                .join_next()
                .await
                .expect("deliveries are in flight")
                .unwrap();
            if done == round {
                break;
            }
        }
    }
    while let Some(done) = inflight.join_next().await {
        done.unwrap();
    }

    let item = w.item(OO_UUID).await;
    let version: u64 = item["version"].as_n().unwrap().parse().unwrap();
    assert_item(&item, Some(&w.link(last)), version);

    // The history on the bus: the same id only ever for the same event (an outbox may be put
    // twice by racing deliveries: at-least-once, same id), first occurrences in version order,
    // alternating gekoppeld/ontkoppeld, each ontkoppeld closing the open gekoppeld.
    let events = w.events().await;
    assert!(!events.is_empty());
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut history = Vec::new();
    for e in events {
        let id = e["id"].as_str().unwrap().to_string();
        match seen.get(&id) {
            Some(first) => assert_eq!(first, &e, "two different events with id {id}"),
            None => {
                seen.insert(id, e.clone());
                history.push(e);
            }
        }
    }
    let mut open: Option<String> = None;
    let mut last_version = (0, EventKind::Ontkoppeld);
    for e in &history {
        let zaak = e["subject"].as_str().unwrap().to_string();
        let kind = EventKind::from_event_type(e["type"].as_str().unwrap()).unwrap();
        let v = (1..=version)
            .find(|v| event_id(epoch, OO_UUID, *v, kind) == e["id"].as_str().unwrap())
            .unwrap_or_else(|| panic!("id of {e} is no transition of this onderwerpobject"));
        assert!(
            (v, kind) > last_version,
            "out of order: {e} after {last_version:?}"
        );
        last_version = (v, kind);
        assert_eq!(e["data"]["linkTo"], w.oo_url());
        match kind {
            EventKind::Gekoppeld => {
                assert_eq!(open, None, "gekoppeld {zaak} while {open:?} is still linked");
                open = Some(zaak);
            }
            EventKind::Ontkoppeld => {
                assert_eq!(
                    open.as_deref(),
                    Some(zaak.as_str()),
                    "ontkoppeld {zaak} closes nothing"
                );
                open = None;
            }
        }
    }
    assert_eq!(open.as_deref(), Some(last), "the history ends in the final state");
    // Every flip was seen: gekoppeld(A), then ontkoppeld + gekoppeld per flip.
    assert_eq!(history.len(), 1 + 2 * (ROUNDS - 1), "{history:#?}");
    eprintln!(
        "concurrency: {} transitions, final version {version}, {} duplicate puts",
        history.len(),
        seen.len().abs_diff(history.len())
    );
}

// ---------------------------------------------------------------------------------------------
// PutEvents partial failures, a sink that keeps failing, the sweep
// ---------------------------------------------------------------------------------------------

/// An EventBridge client whose PutEvents answers come from `rule` (no network).
async fn mocked_eventbridge(
    moto_cfg: &aws_config::SdkConfig,
    rule: &aws_smithy_mocks::Rule,
) -> aws_sdk_eventbridge::Client {
    let conf = aws_sdk_eventbridge::config::Builder::from(moto_cfg)
        .http_client(create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(rule),
        )
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

fn outbox_event(i: usize) -> OutboxEvent {
    let link = ZaakLink {
        zaak: format!("zaak-{i}"),
        label: "L".into(),
        link_to: format!("http://ok/oo/{i}"),
        klantcontact: "http://ok/kc/1".into(),
        was_klantcontact: None,
    };
    zaaklink::cloudevent::outbox_event(
        EventKind::Gekoppeld,
        &link,
        SOURCE,
        "oo",
        zaaklink::epoch::Stamp {
            epoch: 0,
            version: i as u64 + 1,
            seq: i as u64 + 1,
        },
        Utc::now(),
    )
}

fn detail_id(detail: Option<&str>) -> String {
    let v: Value = serde_json::from_str(detail.unwrap()).unwrap();
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn put_events_partial_failure_retries_only_the_failed_entry_in_order() {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    // Every call's entries (ids), and which entries each call refused.
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = calls.clone();
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_compute_output(move |req| {
        let entries = req.entries();
        let ids: Vec<String> = entries.iter().map(|e| detail_id(e.detail())).collect();
        for e in entries {
            assert_eq!(e.source(), Some(SOURCE));
            assert_eq!(e.event_bus_name(), Some(BUS));
            assert_eq!(e.detail_type(), Some("nl.overheid.zaken.zaak-gekoppeld"));
        }
        let mut calls = seen.lock().unwrap();
        calls.push(ids.clone());
        // The first call refuses its 4th entry; every later call accepts everything.
        let fail = if calls.len() == 1 { Some(3) } else { None };
        let results = (0..ids.len())
            .map(|i| {
                if Some(i) == fail {
                    PutEventsResultEntry::builder()
                        .error_code("InternalFailure")
                        .error_message("try again")
                        .build()
                } else {
                    PutEventsResultEntry::builder()
                        .event_id(format!("eb-{i}"))
                        .build()
                }
            })
            .collect();
        PutEventsOutput::builder()
            .failed_entry_count(fail.map_or(0, |_| 1))
            .set_entries(Some(results))
            .build()
    });
    let sink = EventBridgeSink::new(mocked_eventbridge(&cfg, &rule).await, BUS, SOURCE)
        .with_retry(3, Duration::from_millis(5));
    let events: Vec<OutboxEvent> = (0..12).map(outbox_event).collect();
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    sink.publish(&events).await.unwrap();
    let calls = calls.lock().unwrap().clone();
    // Batch 1 (10 entries), then only its refused entry, then batch 2 — never batch 2 first.
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0], ids[..10]);
    assert_eq!(calls[1], [ids[3].clone()]);
    assert_eq!(calls[2], ids[10..]);
    // Every id accepted exactly once.
    let mut accepted: Vec<String> = calls[0]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, id)| id.clone())
        .chain(calls[1].iter().cloned())
        .chain(calls[2].iter().cloned())
        .collect();
    accepted.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(accepted, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_keeps_failing_leaves_the_outbox_and_the_sweep_puts_it_with_the_same_ids() {
    let w = World::new().await;
    let cfg = w.moto.sdk_config().await;
    // Every PutEvents call: 200 with every entry refused.
    let refusing = mock!(aws_sdk_eventbridge::Client::put_events).then_compute_output(|req| {
        let n = req.entries().len();
        PutEventsOutput::builder()
            .failed_entry_count(n as i32)
            .set_entries(Some(
                (0..n)
                    .map(|_| {
                        PutEventsResultEntry::builder()
                            .error_code("ThrottlingException")
                            .error_message("Rate exceeded")
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    let failing = w.with_sink(Arc::new(
        EventBridgeSink::new(mocked_eventbridge(&cfg, &refusing).await, BUS, SOURCE)
            .with_retry(3, Duration::from_millis(5)),
    ));
    let since = Utc::now();
    let epoch = w.epoch().await;

    w.ok.put(samples::KLANTCONTACT);
    w.ok.put(samples::ZAAK_A);
    let answer = w.post(&failing, samples::CREATE).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    // The answer names the failing side only; the log line has the SDK error.
    let detail = answer.body.unwrap().1;
    assert!(detail.contains("event sink did not accept"), "{detail}");
    assert!(
        !detail.contains("ThrottlingException") && !detail.contains(BUS),
        "{detail}"
    );
    assert_eq!(refusing.num_calls(), 3, "3 attempts");

    // The state is written (version 1), its event waits in the outbox (and on the by-outbox
    // index); the failed put released the writer's claim on it (version 2).
    let id = event_id(epoch, OO_UUID, 1, EventKind::Gekoppeld);
    let item = w.item(OO_UUID).await;
    assert_eq!(item["version"], AttributeValue::N("2".into()));
    assert!(!item.contains_key("claimedUntil"), "claim released: {item:?}");
    assert_eq!(s(&item, "zaak").as_deref(), Some(ZAAK_A));
    assert_eq!(
        s(&item, "outbox").as_deref(),
        Some(outbox_shard(OO_UUID).as_str())
    );
    let pending = item["pending"].as_m().unwrap();
    assert_eq!(pending.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(w.app.store.with_pending().await.unwrap().len(), 1);

    // A redelivery with the sink still failing takes the outbox over (claim, version 3), fails
    // to put it and releases it (version 4): 503, same outbox, same link.
    assert_eq!(w.post(&failing, samples::CREATE).await.status, 503);
    let again = w.item(OO_UUID).await;
    assert_eq!(again["version"], AttributeValue::N("4".into()));
    assert_eq!(s(&again, "zaak").as_deref(), Some(ZAAK_A));
    assert_eq!(again["pending"], item["pending"]);
    assert!(w.events().await.is_empty(), "nothing reached the bus");

    // Meanwhile the onderwerpobject moves to zaak B; the sweep with a working sink puts the
    // waiting gekoppeld(A) first, with the SAME id, and clears the outbox.
    w.ok.put(samples::ZAAK_B);
    let swept = w.app.sweep().await.unwrap();
    assert_eq!((swept.objects, swept.emitted), (1, 1));
    let ev = w.events().await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_event(
        epoch,
        &ev[0],
        EventKind::Gekoppeld,
        &w.link(ZAAK_A),
        (1, 1),
        since,
    );
    assert_eq!(ev[0]["id"], id.as_str());
    let stored: Value = serde_json::from_str(pending[&id].as_s().unwrap()).unwrap();
    assert_eq!(ev[0], stored, "the bus got exactly the stored CloudEvent");
    assert_item(&w.item(OO_UUID).await, Some(&w.link(ZAAK_A)), 5);
    assert!(w.app.store.with_pending().await.unwrap().is_empty());

    // The delayed notification of the move is then handled normally.
    assert_eq!(w.post(&w.app, samples::UPDATE).await.status, 204);
    let ev = w.events().await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_event(
        epoch,
        &ev[0],
        EventKind::Ontkoppeld,
        &w.link(ZAAK_A),
        (6, 2),
        since,
    );
    assert_event(
        epoch,
        &ev[1],
        EventKind::Gekoppeld,
        &w.link(ZAAK_B),
        (6, 3),
        since,
    );
    assert_item(&w.item(OO_UUID).await, Some(&w.link(ZAAK_B)), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bus_is_rejected_with_the_fix() {
    let moto = Moto::start();
    let sink = EventBridgeSink::new(moto.eventbridge().await, "no-such-bus", SOURCE)
        .with_retry(3, Duration::from_millis(5));
    match sink.publish(&[outbox_event(0)]).await {
        Err(SinkError::Rejected {
            sink,
            failed,
            total,
            reason,
        }) => {
            assert_eq!((sink, failed, total), ("EventBridge", 1, 1));
            assert!(reason.contains("no-such-bus"), "{reason}");
        }
        Ok(()) => panic!("moto accepted events for a bus that does not exist"),
    }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB failures: 503, nothing emitted
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_throttling_answers_503_and_emits_nothing() {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;

    let w = World::new().await;
    let cfg = w.moto.sdk_config().await;
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
        aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput::builder()
            .table(
                aws_sdk_dynamodb::types::TableDescription::builder()
                    .creation_date_time(aws_sdk_dynamodb::primitives::DateTime::from_millis(
                        1_795_000_000_000,
                    ))
                    .build(),
            )
            .build()
    });
    let put = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("The level of configured provisioned throughput for the table was exceeded")
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .message("The level of configured provisioned throughput for the table was exceeded")
                        .build(),
                )
                .build(),
        )
    });
    let conf = aws_sdk_dynamodb::config::Builder::from(&cfg)
        .http_client(create_mock_http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&get)
                .with_rule(&describe)
                .with_rule(&put),
        )
        .build();
    let throttled = Zaaklink {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), TABLE)),
        ..w.app.clone()
    };
    w.ok.put(samples::KLANTCONTACT);
    w.ok.put(samples::ZAAK_A);
    let answer = w.post(&throttled, samples::CREATE).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    let detail = answer.body.unwrap().1;
    assert!(detail.contains("link store is unavailable"), "{detail}");
    assert!(
        !detail.contains(TABLE) && !detail.contains("ProvisionedThroughputExceeded"),
        "no table name or SDK error in the answer: {detail}"
    );
    assert_eq!(put.num_calls(), 3, "the SDK retried the throttled PutItem");
    assert!(w.events().await.is_empty(), "nothing was emitted");

    // A table that does not exist (real moto): 503 with the fix, nothing emitted.
    let missing = Zaaklink {
        store: Arc::new(DynamoStore::new(w.ddb.clone(), "no-such-table")),
        ..w.app.clone()
    };
    let answer = w.post(&missing, samples::CREATE).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    let detail = answer.body.unwrap().1;
    assert!(!detail.contains("no-such-table"), "{detail}");
    // the error (logged) names the operation and the fix
    let n = zaaklink::notification::parse(w.ok.rewrite(samples::CREATE).as_bytes()).unwrap();
    let error = missing.handle(&n).await.unwrap_err().to_string();
    assert!(
        error.contains("check LINKS_TABLE") && error.contains("no-such-table"),
        "{error}"
    );
    assert!(w.events().await.is_empty(), "nothing was emitted");

    // The real table is untouched, and the first delivery Open Notificaties retries works.
    assert!(w.app.store.get(OO_UUID).await.unwrap().is_none());
    assert_eq!(w.post(&w.app, samples::CREATE).await.status, 204);
    assert_eq!(w.events().await.len(), 1);
}

/// A scheduled sweep or resync that fails: the invocation's error (what the invoker, the
/// console and a retry see) says which side failed and where the details are, never the
/// table's name, the operation or the SDK's error; the log line of the job keeps those.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_job_errors_carry_no_table_or_sdk_internals() {
    use zaaklink::resync::{Resync, ResyncSettings};
    let w = World::new().await;
    let secret_table = "zaaklink-prod-links-7f3a";
    let store = Arc::new(DynamoStore::new(w.ddb.clone(), secret_table));
    let missing = Zaaklink {
        store: store.clone(),
        ..w.app.clone()
    };
    let resync = Resync::new(&missing, store, ResyncSettings::default());
    for job in ["sweep", "resync"] {
        let event = json!({ "zaaklink": job });
        let err = zaaklink::lambda::handle_with(&missing, &w.auth, event, Some(&resync), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("link store is unavailable"), "{job}: {err}");
        assert!(err.contains("log line"), "{job}: where the details are: {err}");
        for internal in [
            secret_table,
            "DynamoDB",
            "ResourceNotFound",
            "Query",
            "GetItem",
            "service error",
            "LINKS_TABLE",
        ] {
            assert!(!err.contains(internal), "{job}: {internal:?} in {err}");
        }
    }
}
