//! A restore of the links table (DESIGN §5, "Epochs"), on moto's DynamoDB backups: the
//! transitions written after the restore get ids and places of their own, so `deliver`
//! applies them instead of skipping them as "already delivered", and Open Zaak ends with
//! Open Klant's link.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use common::fixtures::{core_args, pipeline, post, TOKEN};
use common::Moto;
use zaaklink::deliver::log::MemoryDeliveryLog;
use zaaklink::deliver::{Deliverer, OpenZaakCredentials, Outcome};
use zaaklink::demo::samples;
use zaaklink::epoch;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;
use zaaklink::sink::MemorySink;
use zaaklink::store::dynamodb::DynamoStore;
use zaaklink::store::LinkStore;
use zaaklink::webhook::WebhookAuth;
use zaaklink::Zaaklink;

const OO: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
const ZAAK_A: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
const ZAAK_B: &str = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const CLIENT_ID: &str = "zaaklink";
const SECRET: &str = "open-zaak-secret";

struct Chain {
    ok: FakeOpenKlant,
    oz: FakeOpenZaak,
    deliverer: Deliverer<MemoryDeliveryLog>,
    /// Every event put so far, in order.
    history: Vec<Value>,
}

impl Chain {
    /// Notify `sample` to the pipeline over `table`, then deliver what it emitted.
    async fn change(
        &mut self,
        app: &(Zaaklink, WebhookAuth),
        sink: &MemorySink,
        sample: &str,
    ) -> Vec<Outcome> {
        let answer = post(&app.0, &app.1, &self.ok.rewrite(sample)).await;
        assert_eq!(answer.status, 204, "{answer:?}");
        let mut outcomes = Vec::new();
        for e in sink.take() {
            let v: Value = serde_json::from_str(&e.json).unwrap();
            outcomes.push(self.deliverer.deliver(&v).await.unwrap());
            self.history.push(v);
        }
        outcomes
    }

    /// (zaak uuid, onderwerpobject uuid) of Open Zaak's ZaakObjects.
    fn relations(&self) -> Vec<(String, String)> {
        let mut r: Vec<_> = self
            .oz
            .objects()
            .into_iter()
            .map(|o| {
                (
                    o.zaak.rsplit('/').next().unwrap().to_owned(),
                    o.object.rsplit('/').next().unwrap().to_owned(),
                )
            })
            .collect();
        r.sort();
        r
    }
}

fn app(ok: &FakeOpenKlant, store: DynamoStore, sink: &Arc<MemorySink>) -> (Zaaklink, WebhookAuth) {
    pipeline(core_args(&ok.api_root(), "5000"), Arc::new(store), sink.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restore_new_transitions_are_delivered_not_skipped_as_repeats() {
    let moto = Moto::start();
    let ddb = moto.dynamodb().await;
    moto.create_links_table("links").await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    oz.set_zaken(&[ZAAK_A, ZAAK_B]);
    let deliverer = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut chain = Chain {
        ok,
        oz,
        deliverer,
        history: Vec::new(),
    };
    let sink = Arc::new(MemorySink::default());
    let before = app(&chain.ok, DynamoStore::new(ddb.clone(), "links"), &sink);

    // Linked to zaak A; backed up; then B and back to A, all delivered.
    chain.ok.put(samples::KLANTCONTACT);
    chain.ok.put(samples::ZAAK_A);
    chain.change(&before, &sink, samples::CREATE).await;
    let backup = ddb
        .create_backup()
        .table_name("links")
        .backup_name("before-b")
        .send()
        .await
        .unwrap()
        .backup_details
        .unwrap()
        .backup_arn;
    chain.ok.put(samples::ZAAK_B);
    chain.change(&before, &sink, samples::UPDATE).await;
    chain.ok.put(samples::ZAAK_A);
    chain.change(&before, &sink, samples::UPDATE).await;
    assert_eq!(chain.relations(), [(ZAAK_A.to_owned(), OO.to_owned())]);
    let old_epoch = DynamoStore::new(ddb.clone(), "links").epoch().await.unwrap();
    let delivered_before = chain.history.len();
    assert_eq!(delivered_before, 5, "{:#?}", chain.history);

    // The table is restored from the backup (as a new table, as DynamoDB always does) and
    // zaaklink pointed at it. Open Klant then links zaak B: a new transition.
    ddb.restore_table_from_backup()
        .target_table_name("links-restored")
        .backup_arn(backup)
        .send()
        .await
        .unwrap();
    let restored = DynamoStore::new(ddb.clone(), "links-restored");
    let new_epoch = restored.epoch().await.unwrap();
    assert!(
        new_epoch > old_epoch,
        "the restored table is younger: {new_epoch} > {old_epoch}"
    );
    let record = restored.get(OO).await.unwrap().unwrap();
    assert_eq!(record.link.unwrap().zaak, ZAAK_A, "the backup's state");
    assert_eq!(record.epoch, Some(old_epoch));
    let after = app(&chain.ok, restored, &sink);
    chain.ok.put(samples::ZAAK_B);
    let outcomes = chain.change(&after, &sink, samples::UPDATE).await;

    // Both events of the new transition reached Open Zaak (ontkoppeld A, gekoppeld B):
    // without epochs they would have repeated the ids and places of the B-transition
    // delivered before the restore, and been skipped.
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Delivered { .. })),
        "{outcomes:?}"
    );
    let new = &chain.history[delivered_before..];
    let seqs: Vec<u64> = new
        .iter()
        .map(|e| e["sequence"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        [epoch::first_seq(new_epoch), epoch::first_seq(new_epoch) + 1]
    );
    assert!(epoch::is_epoch_start(seqs[0]));
    let ids: HashSet<&str> = chain.history.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        chain.history.len(),
        "every event id is new: {:#?}",
        chain.history
    );
    assert_eq!(chain.relations(), [(ZAAK_B.to_owned(), OO.to_owned())]);

    // An event of the old table arriving late (a redelivery of its last gekoppeld A) is
    // older than the new epoch's places: skipped, Open Zaak keeps B.
    let late = chain.history[delivered_before - 1].clone();
    assert_eq!(late["type"], "nl.overheid.zaken.zaak-gekoppeld");
    assert_eq!(
        chain.deliverer.deliver(&late).await.unwrap(),
        Outcome::AlreadyDelivered
    );
    assert_eq!(chain.relations(), [(ZAAK_B.to_owned(), OO.to_owned())]);

    // The restored table continues the new epoch's sequence.
    chain.ok.put(samples::ZAAK_A);
    let outcomes = chain.change(&after, &sink, samples::UPDATE).await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let seq = |e: &Value| e["sequence"].as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        seq(&chain.history[chain.history.len() - 1]),
        epoch::first_seq(new_epoch) + 3
    );
    assert_eq!(chain.relations(), [(ZAAK_A.to_owned(), OO.to_owned())]);
}

const ZAAK_C: &str = "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70";

/// Linked to A, backed up, then relinked to B and delivered: Open Zaak holds B. The table is
/// restored from the backup: the restored state says A and does not know B.
async fn restored_while_open_zaak_holds_b(moto: &Moto) -> (Chain, Arc<MemorySink>, (Zaaklink, WebhookAuth)) {
    let ddb = moto.dynamodb().await;
    moto.create_links_table("links").await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT_ID, SECRET).await.unwrap();
    oz.set_zaken(&[ZAAK_A, ZAAK_B, ZAAK_C]);
    // deliver with its defaults: the zaakobjecten read is on
    let deliverer = Deliverer::new(
        &oz.base,
        OpenZaakCredentials::new(CLIENT_ID, SECRET),
        MemoryDeliveryLog::new(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mut chain = Chain {
        ok,
        oz,
        deliverer,
        history: Vec::new(),
    };
    let sink = Arc::new(MemorySink::default());
    let before = app(&chain.ok, DynamoStore::new(ddb.clone(), "links"), &sink);
    chain.ok.put(samples::KLANTCONTACT);
    chain.ok.put(samples::ZAAK_A);
    chain.change(&before, &sink, samples::CREATE).await;
    let backup = ddb
        .create_backup()
        .table_name("links")
        .backup_name("at-a")
        .send()
        .await
        .unwrap()
        .backup_details
        .unwrap()
        .backup_arn;
    chain.ok.put(samples::ZAAK_B);
    chain.change(&before, &sink, samples::UPDATE).await;
    assert_eq!(chain.relations(), [(ZAAK_B.to_owned(), OO.to_owned())]);
    ddb.restore_table_from_backup()
        .target_table_name("links-restored")
        .backup_arn(backup)
        .send()
        .await
        .unwrap();
    let restored = DynamoStore::new(ddb.clone(), "links-restored");
    let record = restored.get(OO).await.unwrap().unwrap();
    assert_eq!(
        record.link.unwrap().zaak,
        ZAAK_A,
        "the restored state does not know B"
    );
    let after = app(&chain.ok, restored, &sink);
    (chain, sink, after)
}

/// Open Klant relinks the object to C after the restore. The restored state emits
/// ontkoppeld A + gekoppeld C; without more, Open Zaak would keep B beside C. The epoch start
/// reads Open Zaak's ZaakObjects of the object and removes B: Open Zaak ends equal to Open
/// Klant.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_restore_the_epoch_start_removes_a_relation_the_restored_state_does_not_know() {
    let moto = Moto::start();
    let (mut chain, sink, after) = restored_while_open_zaak_holds_b(&moto).await;
    chain.ok.put(&samples::ZAAK_B.replace(ZAAK_B, ZAAK_C));
    let outcomes = chain.change(&after, &sink, samples::UPDATE).await;
    assert_eq!(outcomes.len(), 2, "ontkoppeld A, gekoppeld C: {outcomes:?}");
    assert_eq!(
        chain.relations(),
        [(ZAAK_C.to_owned(), OO.to_owned())],
        "B, unknown to the restored state, is gone: {:?}",
        chain.oz.objects()
    );
}

/// The next pass after the restore (Open Klant unchanged: still B): the restored state's A is
/// corrected to B; Open Zaak ends with exactly one relation, to B.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_restore_the_next_pass_ends_equal_at_open_zaak() {
    let moto = Moto::start();
    let (mut chain, sink, after) = restored_while_open_zaak_holds_b(&moto).await;
    let outcomes = chain.change(&after, &sink, samples::UPDATE).await;
    assert_eq!(outcomes.len(), 2, "ontkoppeld A, gekoppeld B: {outcomes:?}");
    assert_eq!(chain.relations(), [(ZAAK_B.to_owned(), OO.to_owned())]);
}
