//! Labels are never older than the store read (DESIGN §2, §5): the klantcontact behind a
//! label is read again in a retry after a version conflict and in the after-write look — never
//! taken from an earlier read.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{id, kc_notification, notify, objects, pipeline, put_kc, put_on, zaak};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};

use super::TOKEN;

type Hook = Box<dyn FnOnce() + Send>;

/// A store that runs `hook` once: on the first write of a link, either instead of it
/// (answering a version conflict, as if another writer had won) or right after it.
struct Hooked {
    inner: MemoryStore,
    conflict: bool,
    hook: Mutex<Option<Hook>>,
    /// The labels of the writes that changed the link, in order.
    labels: Mutex<Vec<String>>,
}

#[async_trait]
impl LinkStore for Hooked {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch().await
    }
    async fn get(&self, o: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.inner.get(o).await
    }
    async fn put(&self, r: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        let hook = match &r.link {
            Some(_) => self.hook.lock().unwrap().take(),
            None => None,
        };
        match hook {
            Some(hook) if self.conflict => {
                hook();
                Err(StoreError::Conflict)
            }
            hook => {
                let before = self.inner.get(&r.onderwerpobject).await?.and_then(|b| b.link);
                self.inner.put(r, expected).await?;
                if let Some(l) = r.link.as_ref().filter(|l| before.as_ref() != Some(*l)) {
                    self.labels.lock().unwrap().push(l.label.clone());
                }
                if let Some(hook) = hook {
                    hook();
                }
                Ok(())
            }
        }
    }
    async fn linked_to_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_klantcontact(kc).await
    }
    async fn linked_to_was_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_was_klantcontact(kc).await
    }
    async fn put_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.put_destroyed(m).await
    }
    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.inner.destroyed().await
    }
    async fn drop_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.drop_destroyed(m).await
    }
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.with_pending().await
    }
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked().await
    }
}

/// Klantcontact 1 renamed to `onderwerp` in the fake (still over object 1).
fn rename(ok: &FakeOpenKlant, onderwerp: &str) -> String {
    let s = objects(ok);
    json!({
        "uuid": id("kc", 1), "url": s.kc_url(1), "nummer": "1", "onderwerp": onderwerp,
        "gingOverOnderwerpobjecten": [{"uuid": id("oo", 1), "url": s.oo_url(1)}]
    })
    .to_string()
}

/// A klantcontact notification over a store with `conflict`; the klantcontact is renamed to
/// "Nieuw" by the hook. Returns (labels written, labels of the events).
async fn renamed_during_the_write(conflict: bool) -> (Vec<String>, Vec<String>) {
    let ok = Arc::new(FakeOpenKlant::start(TOKEN).await.unwrap());
    put_kc(&ok, 1, &[1]);
    put_on(&ok, 1, Some(0), 1);
    let renamed = rename(&ok, "Nieuw");
    let fake = ok.clone();
    let store = Arc::new(Hooked {
        inner: MemoryStore::default(),
        conflict,
        hook: Mutex::new(Some(Box::new(move || fake.put(&renamed)))),
        labels: Mutex::default(),
    });
    let sink = Arc::new(MemorySink::default());
    let (app, auth) = pipeline(&ok, store.clone(), sink.clone());
    notify(&app, &auth, &kc_notification(&ok, 1, "update")).await;
    let events: Vec<String> = sink
        .take()
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.json).unwrap())
        .inspect(|e| assert_eq!(e["subject"], zaak(0)))
        .map(|e| e["data"]["label"].as_str().unwrap().to_string())
        .collect();
    let stored = store.get(&id("oo", 1)).await.unwrap().unwrap().link.unwrap();
    assert_eq!(stored.label, "Nieuw - (1)");
    let labels = store.labels.lock().unwrap().clone();
    (labels, events)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_conflict_reads_the_klantcontact_again() {
    // The seed's label ("Onderwerp 1") was read before the conflict; the retry writes the
    // klantcontact as it is now.
    let (labels, events) = renamed_during_the_write(true).await;
    assert_eq!(labels, ["Nieuw - (1)"]);
    assert_eq!(events, ["Nieuw - (1)"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_after_write_look_reads_the_klantcontact_again() {
    // Renamed right after the write: the after-write look sees it and refreshes the label in
    // state (no second event: Open Zaak keeps the label it got first).
    let (labels, events) = renamed_during_the_write(false).await;
    assert_eq!(labels, ["Onderwerp 1 - (1)", "Nieuw - (1)"]);
    assert_eq!(events, ["Onderwerp 1 - (1)"]);
}
