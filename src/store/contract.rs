//! The behaviour every [`LinkStore`] must have, run by each adapter's tests (memory and
//! embedded in their unit tests, DynamoDB against moto in tests/it/aws_moto.rs). Not part of
//! the API; public so that the integration tests can run it.

use super::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};
use crate::link::ZaakLink;

/// Where [`store_contract`] stops so an adapter's test can check its own layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Record "a" holds a link of klantcontact "kc1" and one event in its outbox.
    OutboxFull,
    /// The outbox of "a" was cleared.
    OutboxCleared,
    /// "a" became a tombstone (no link).
    Tombstone,
}

/// A link to zaak `zaak` of klantcontact `kc`.
pub fn link(zaak: &str, kc: &str) -> ZaakLink {
    ZaakLink {
        zaak: zaak.into(),
        label: "L".into(),
        link_to: "http://ok/oo/1".into(),
        klantcontact: kc.into(),
        was_klantcontact: None,
    }
}

/// The `wasKlantcontact` index and the klantcontact-destroyed markers.
pub async fn was_and_markers_contract(store: &dyn LinkStore) {
    let mut w = LinkRecord::absent("w1");
    w.version = 1;
    w.link = Some(ZaakLink {
        was_klantcontact: Some("kcw".into()),
        ..link("z1", "kc7")
    });
    store.put(&w, 0).await.unwrap();
    assert_eq!(store.get("w1").await.unwrap().as_ref(), Some(&w));
    assert_eq!(
        store.linked_to_was_klantcontact("kcw").await.unwrap(),
        vec![w.clone()]
    );
    assert!(store.linked_to_was_klantcontact("kc7").await.unwrap().is_empty());
    assert_eq!(
        store.linked_to_klantcontact("kc7").await.unwrap(),
        vec![w.clone()]
    );
    let mut moved = w.clone();
    moved.version = 2;
    moved.link.as_mut().unwrap().was_klantcontact = None;
    store.put(&moved, 1).await.unwrap();
    assert!(store.linked_to_was_klantcontact("kcw").await.unwrap().is_empty());
    let mut tomb = moved.clone();
    tomb.version = 3;
    tomb.link = None;
    store.put(&tomb, 2).await.unwrap();

    assert!(store.destroyed().await.unwrap().is_empty());
    let m = |at: &str, u: &str| DestroyedKlantcontact {
        at: at.into(),
        uuid: u.into(),
        url: format!("http://ok/klantcontacten/{u}"),
    };
    let (a, a2, b) = (
        m("2026-10-10T09:00:00.000Z", "k1"),
        m("2026-10-10T09:00:05.000Z", "k1"),
        m("2026-10-10T09:00:01.000Z", "k2"),
    );
    for x in [&a, &b, &a2, &a] {
        store.put_destroyed(x).await.unwrap();
    }
    let mut all = store.destroyed().await.unwrap();
    all.sort();
    assert_eq!(all, vec![a.clone(), b.clone(), a2.clone()]);
    store.drop_destroyed(&a).await.unwrap();
    store.drop_destroyed(&a).await.unwrap();
    let mut all = store.destroyed().await.unwrap();
    all.sort();
    assert_eq!(all, vec![b.clone(), a2.clone()]);
    store.drop_destroyed(&a2).await.unwrap();
    store.drop_destroyed(&b).await.unwrap();
    assert!(store.destroyed().await.unwrap().is_empty());
    // markers are not records: no index, no link scan, no get sees them
    store.put_destroyed(&a).await.unwrap();
    assert!(store
        .linked()
        .await
        .unwrap()
        .iter()
        .all(|r| r.onderwerpobject != "k1"));
    assert!(store.with_pending().await.unwrap().is_empty());
    store.drop_destroyed(&a).await.unwrap();
}

/// Runs the contract on an empty `store`, calling `at` at each [`Point`].
pub async fn store_contract(store: &dyn LinkStore, mut at: impl AsyncFnMut(Point)) {
    assert_eq!(store.get("a").await.unwrap(), None);
    let mut r = LinkRecord::absent("a");
    r.version = 1;
    r.link = Some(link("z1", "kc1"));
    r.pending.insert(
        "e1".into(),
        "{\"type\":\"nl.overheid.zaken.zaak-gekoppeld\"}".into(),
    );
    store.put(&r, 0).await.unwrap();
    assert!(matches!(store.put(&r, 0).await, Err(StoreError::Conflict)));
    assert_eq!(store.get("a").await.unwrap().as_ref(), Some(&r));
    assert_eq!(store.with_pending().await.unwrap(), vec![r.clone()]);
    assert_eq!(
        store.linked_to_klantcontact("kc1").await.unwrap(),
        vec![r.clone()]
    );
    assert!(store.linked_to_klantcontact("kc2").await.unwrap().is_empty());
    at(Point::OutboxFull).await;

    let mut r2 = r.clone();
    r2.version = 2;
    r2.pending.clear();
    assert!(matches!(store.put(&r2, 5).await, Err(StoreError::Conflict)));
    store.put(&r2, 1).await.unwrap();
    assert!(store.with_pending().await.unwrap().is_empty());
    assert_eq!(store.linked().await.unwrap(), vec![r2.clone()]);
    // batch read: present ones only, absent ones left out
    let many = store
        .get_many(&["a".to_string(), "nope".to_string()])
        .await
        .unwrap();
    assert_eq!(many, vec![r2.clone()]);
    assert!(store.get_many(&[]).await.unwrap().is_empty());
    at(Point::OutboxCleared).await;

    let mut tomb = r2.clone();
    tomb.version = 3;
    tomb.link = None;
    assert!(matches!(store.put(&tomb, 1).await, Err(StoreError::Conflict)));
    store.put(&tomb, 2).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(tomb));
    assert!(store.linked_to_klantcontact("kc1").await.unwrap().is_empty());
    assert!(store.linked().await.unwrap().is_empty());
    at(Point::Tombstone).await;
    let keys = batch_reads_and_paging(store).await;
    batched_writes(store, &keys).await;
}

/// More than one batch (DynamoDB reads 100 keys a call), and paging the linked ones; the 130
/// keys it wrote.
async fn batch_reads_and_paging(store: &dyn LinkStore) -> Vec<String> {
    let keys: Vec<String> = (0..130).map(|i| format!("batch{i:03}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let mut m = LinkRecord::absent(k);
        m.version = 1;
        m.link = (i % 2 == 0).then(|| link("z", "kc9"));
        store.put(&m, 0).await.unwrap();
    }
    let mut ask = keys.clone();
    ask.push("absent".into());
    let mut got: Vec<String> = store
        .get_many(&ask)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.onderwerpobject)
        .collect();
    got.sort();
    assert_eq!(got, keys);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let (page, next) = store.linked_page(cursor.as_deref(), 20).await.unwrap();
        paged.extend(page.into_iter().map(|r| r.onderwerpobject));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    paged.sort();
    paged.dedup();
    let linked: Vec<String> = keys.iter().step_by(2).cloned().collect();
    assert_eq!(paged, linked);
    keys
}

/// Batched writes: each compare-and-set on its own; a conflict leaves the others.
async fn batched_writes(store: &dyn LinkStore, keys: &[String]) {
    let mut writes: Vec<(LinkRecord, u64)> = Vec::new();
    for (i, k) in keys.iter().take(120).enumerate() {
        let mut m = store.get(k).await.unwrap().unwrap();
        let expected = if i == 7 { 9 } else { m.version };
        m.version += 1;
        m.link = Some(link("zm", "kcm"));
        writes.push((m, expected));
    }
    let mut fresh = LinkRecord::absent("many-new");
    fresh.version = 1;
    fresh.link = Some(link("zn", "kcm"));
    writes.push((fresh, 0));
    let results = store.put_many(&writes).await.unwrap();
    assert_eq!(results.len(), writes.len());
    for (i, ((w, _), r)) in writes.iter().zip(&results).enumerate() {
        let now = store.get(&w.onderwerpobject).await.unwrap().unwrap();
        if i == 7 {
            assert!(matches!(r, Err(StoreError::Conflict)), "write {i}: {r:?}");
            assert_eq!(now.version, w.version - 1);
        } else {
            assert!(r.is_ok(), "write {i}: {r:?}");
            assert_eq!(&now, w);
        }
    }
    assert!(store.put_many(&[]).await.unwrap().is_empty());
}
