//! A destroyed klantcontact (DESIGN §2): the objects whose `wasKlantcontact` it was go with it,
//! and a link the index did not show yet at the destroy is caught by the sweep's recheck.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{id, kc_notification, notify, objects, pipeline, put_kc, summary, zaak};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::reconcile::EventKind;
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::LinkStore;
use zaaklink::testkit::lagging::LaggingStore;

use super::TOKEN;

/// Object `i` links zaak `z` on klantcontact `kc`, its `wasKlantcontact` klantcontact `was`.
fn put_was(ok: &FakeOpenKlant, i: usize, z: usize, kc: usize, was: Option<usize>) {
    let s = objects(ok);
    let was = was.map_or(Value::Null, |w| json!({"uuid": id("kc", w), "url": s.kc_url(w)}));
    ok.put(
        &json!({
            "uuid": id("oo", i), "url": s.oo_url(i),
            "klantcontact": {"uuid": id("kc", kc), "url": s.kc_url(kc)}, "wasKlantcontact": was,
            "onderwerpobjectidentificator": {"objectId": zaak(z), "codeObjecttype": "zaak",
                "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
        })
        .to_string(),
    );
}

fn events(sink: &MemorySink) -> Vec<Value> {
    sink.take()
        .iter()
        .map(|e| serde_json::from_str(&e.json).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_was_klantcontact_unlinks_the_objects_it_takes_with_it() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (mut app, auth) = pipeline(&ok, store.clone(), sink.clone());
    // kc 1 goes over object 1; kc 2 over objects 2 and 3, both "was" kc 1.
    put_kc(&ok, 1, &[1]);
    put_kc(&ok, 2, &[2, 3]);
    put_was(&ok, 1, 0, 1, None);
    put_was(&ok, 2, 1, 2, Some(1));
    put_was(&ok, 3, 2, 2, Some(1));
    notify(&app, &auth, &kc_notification(&ok, 1, "update")).await;
    notify(&app, &auth, &kc_notification(&ok, 2, "update")).await;
    assert_eq!(events(&sink).len(), 3);
    let two = store.get(&id("oo", 2)).await.unwrap().unwrap().link.unwrap();
    assert_eq!(two.was_klantcontact, Some(id("kc", 1)));
    assert_eq!(
        store
            .linked_to_was_klantcontact(&id("kc", 1))
            .await
            .unwrap()
            .len(),
        2
    );

    // Object 3 silently loses its wasKlantcontact; then kc 1 is deleted and Open Klant takes
    // objects 1 and 2 with it (cascade), saying only "klantcontact destroy".
    put_was(&ok, 3, 2, 2, None);
    for url in [
        objects(&ok).kc_url(1),
        objects(&ok).oo_url(1),
        objects(&ok).oo_url(2),
    ] {
        ok.remove(&url);
    }
    notify(&app, &auth, &kc_notification(&ok, 1, "destroy")).await;
    let mut want = vec![
        (id("oo", 1), EventKind::Ontkoppeld, zaak(0)),
        (id("oo", 2), EventKind::Ontkoppeld, zaak(1)),
    ];
    want.sort();
    assert_eq!(summary(&events(&sink)), want);
    let three = store.get(&id("oo", 3)).await.unwrap().unwrap().link.unwrap();
    assert_eq!((three.zaak, three.was_klantcontact), (zaak(2), None));

    // The destroy left its marker; the sweep keeps it until the grace period is over, then
    // looks again (nothing left) and removes it.
    let markers = store.destroyed().await.unwrap();
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert_eq!(
        (markers[0].uuid.as_str(), markers[0].url.as_str()),
        (id("kc", 1).as_str(), objects(&ok).kc_url(1).as_str())
    );
    app.sweep().await.unwrap();
    assert_eq!(store.destroyed().await.unwrap(), markers);
    app.settings.destroy_recheck_after = Duration::ZERO;
    app.sweep().await.unwrap();
    assert!(store.destroyed().await.unwrap().is_empty());
    assert!(sink.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_the_lagging_index_hid_at_the_destroy_is_unlinked_by_the_sweeps_recheck() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let memory = Arc::new(MemoryStore::default());
    let lag = Duration::from_secs(2);
    let store = Arc::new(LaggingStore::new(memory.clone(), lag));
    let (mut app, auth) = pipeline(&ok, store, sink.clone());
    app.settings.destroy_recheck_after = lag + Duration::from_millis(500);

    // Object 1 is linked (kc 1) and, a moment later, kc 1 is deleted and object 1 with it.
    put_kc(&ok, 1, &[1]);
    put_was(&ok, 1, 0, 1, None);
    notify(&app, &auth, &kc_notification(&ok, 1, "create")).await;
    assert_eq!(
        summary(&events(&sink)),
        [(id("oo", 1), EventKind::Gekoppeld, zaak(0))]
    );
    ok.remove(&objects(&ok).kc_url(1));
    ok.remove(&objects(&ok).oo_url(1));
    let destroyed = std::time::Instant::now();
    notify(&app, &auth, &kc_notification(&ok, 1, "destroy")).await;
    // The index did not show the fresh link: nothing happened yet, the marker waits.
    assert!(
        destroyed.elapsed() < lag,
        "the destroy came too late to miss the link"
    );
    assert!(sink.take().is_empty());
    assert!(memory.get(&id("oo", 1)).await.unwrap().unwrap().link.is_some());
    assert_eq!(memory.destroyed().await.unwrap().len(), 1);
    app.sweep().await.unwrap();
    assert!(sink.take().is_empty());
    assert_eq!(memory.destroyed().await.unwrap().len(), 1);

    // After the grace period the sweep asks the index again: exactly one ontkoppeld.
    tokio::time::sleep(
        (app.settings.destroy_recheck_after + Duration::from_millis(100)).saturating_sub(destroyed.elapsed()),
    )
    .await;
    app.sweep().await.unwrap();
    assert_eq!(
        summary(&events(&sink)),
        [(id("oo", 1), EventKind::Ontkoppeld, zaak(0))]
    );
    assert!(memory.get(&id("oo", 1)).await.unwrap().unwrap().link.is_none());
    assert!(memory.destroyed().await.unwrap().is_empty());
    app.sweep().await.unwrap();
    assert!(sink.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_recheck_keeps_the_marker_for_the_next_sweep() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let (mut app, auth) = pipeline(&ok, store.clone(), sink.clone());
    put_kc(&ok, 1, &[1]);
    put_was(&ok, 1, 0, 1, None);
    notify(&app, &auth, &kc_notification(&ok, 1, "update")).await;
    sink.take();
    // The destroy arrives while Open Klant is down: 502, the marker stays.
    ok.remove(&objects(&ok).kc_url(1));
    ok.remove(&objects(&ok).oo_url(1));
    ok.fail_with(Some(503));
    let a = super::post(&app, &auth, &kc_notification(&ok, 1, "destroy")).await;
    assert_eq!(a.status, 502, "{a:?}");
    assert_eq!(store.destroyed().await.unwrap().len(), 1);
    app.settings.destroy_recheck_after = Duration::ZERO;
    assert!(app.sweep().await.is_err());
    assert_eq!(store.destroyed().await.unwrap().len(), 1);
    // Open Klant is back: the next sweep unlinks the object and removes the marker.
    ok.fail_with(None);
    app.sweep().await.unwrap();
    assert_eq!(
        summary(&events(&sink)),
        [(id("oo", 1), EventKind::Ontkoppeld, zaak(0))]
    );
    assert!(store.destroyed().await.unwrap().is_empty());
}
