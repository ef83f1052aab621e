//! A first pass at list speed (DESIGN §7): every link new, written in batches, each
//! klantcontact's label read once per run and looked at once more after the writes, the
//! objects looked at once per page. Still every event exactly once, in order, with the
//! right label; and a label that changed after it was read is corrected in the store by
//! the label look.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{id, objects, pipeline, put_kc, put_on, zaak, TOKEN};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::{Klantcontact, Onderwerpobject};
use zaaklink::openklant::{ExpandedKlantcontact, OpenKlant, OpenKlantError, Page};
use zaaklink::resync::{Resync, ResyncSettings, Stop};
use zaaklink::sink::MemorySink;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::LinkStore;

#[tokio::test(flavor = "multi_thread")]
async fn a_first_pass_over_thousands_emits_every_link_exactly_once_with_its_label() {
    let (n, kcs) = (3_000, 300);
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    // Object i on klantcontact i % 300: every klantcontact on many pages of the list.
    for k in 0..kcs {
        let of: Vec<usize> = (k..n).step_by(kcs).collect();
        put_kc(&ok, k, &of);
    }
    for i in 0..n {
        put_on(&ok, i, Some(i), i % kcs);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("state.redb")).unwrap());
    let sink = Arc::new(MemorySink::default());
    let (app, _) = pipeline(&ok, store.clone(), sink.clone());
    let settings = ResyncSettings {
        page_size: 250,
        ..Default::default()
    };
    let before = ok.requests().len();
    let r = Resync::new(&app, store.clone(), settings)
        .full_pass()
        .await
        .unwrap();
    assert_eq!(r.stop, Stop::PassDone, "{r:?}");
    assert_eq!((r.run.written, r.run.emitted), (n as u64, n as u64), "{r:?}");

    // Every object's gekoppeld exactly once, with its zaak and its klantcontact's label.
    let events = sink.take();
    assert_eq!(events.len(), n, "one event per object");
    let mut seen = std::collections::BTreeSet::new();
    for e in &events {
        assert!(seen.insert(e.id.clone()), "event {} put twice", e.id);
        let v: Value = serde_json::from_str(&e.json).unwrap();
        assert_eq!(v["type"], "nl.overheid.zaken.zaak-gekoppeld");
        let oo = v["data"]["linkTo"].as_str().unwrap();
        let i = (0..n).find(|i| oo.ends_with(&id("oo", *i))).unwrap();
        assert_eq!(v["subject"], zaak(i));
        assert_eq!(v["data"]["label"], format!("Onderwerp {k} - ({k})", k = i % kcs));
    }
    let stored = store.linked().await.unwrap();
    assert_eq!(stored.len(), n);
    assert!(stored.iter().all(|r| r.pending.is_empty() && r.version == 2));

    // At list speed: the pages (each once more for its look), each klantcontact twice (its
    // label, its look), no onderwerpobject on its own.
    let requests = &ok.requests()[before..];
    let count = |f: &dyn Fn(&String) -> bool| requests.iter().filter(|r| f(r)).count();
    let pages = count(&|r| r.contains("onderwerpobjecten?"));
    let kc_reads = count(&|r| r.contains("/klantcontacten/"));
    let oo_reads = count(&|r| r.contains("/onderwerpobjecten/"));
    assert!(pages <= 2 * (n / 250) + 1, "{pages} list reads");
    assert_eq!(
        kc_reads,
        2 * kcs,
        "each klantcontact read for its label and its look"
    );
    assert_eq!(oo_reads, 0, "no onderwerpobject read on its own");

    // A second pass finds everything in place.
    let again = Resync::new(&app, store.clone(), ResyncSettings::default())
        .full_pass()
        .await
        .unwrap();
    assert_eq!((again.run.written, again.run.emitted), (0, 0), "{again:?}");
}

/// Open Klant, where klantcontact 1 is renamed to "Nieuw" just after it was first read (the
/// label the run keeps is then stale).
struct RenameAfterRead {
    inner: Arc<dyn OpenKlant>,
    ok: Arc<FakeOpenKlant>,
    done: AtomicBool,
}

#[async_trait]
impl OpenKlant for RenameAfterRead {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.inner.onderwerpobject(url).await
    }
    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        let read = self.inner.klantcontact(url).await;
        if !self.done.swap(true, Ordering::SeqCst) {
            let s = objects(&self.ok);
            let over: Vec<Value> = (0..4)
                .map(|i| json!({"uuid": id("oo", i), "url": s.oo_url(i)}))
                .collect();
            self.ok.put(
                &json!({"uuid": id("kc", 1), "url": s.kc_url(1), "nummer": "1", "onderwerp": "Nieuw",
                    "gingOverOnderwerpobjecten": over})
                .to_string(),
            );
        }
        read
    }
    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        self.inner.klantcontact_expanded(url).await
    }
    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        self.inner.zaak_onderwerpobjecten(page, size).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_renamed_after_it_was_read_is_corrected_by_the_label_look() {
    let ok = Arc::new(FakeOpenKlant::start(TOKEN).await.unwrap());
    put_kc(&ok, 1, &[0, 1, 2, 3]);
    for i in 0..4 {
        put_on(&ok, i, Some(i), 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("state.redb")).unwrap());
    let sink = Arc::new(MemorySink::default());
    let (mut app, _) = pipeline(&ok, store.clone(), sink.clone());
    app.klant = Arc::new(RenameAfterRead {
        inner: app.klant.clone(),
        ok: ok.clone(),
        done: AtomicBool::new(false),
    });
    let settings = ResyncSettings {
        page_size: 2,
        ..Default::default()
    };
    let r = Resync::new(&app, store.clone(), settings)
        .full_pass()
        .await
        .unwrap();
    assert_eq!(r.stop, Stop::PassDone, "{r:?}");
    // One gekoppeld per object (Open Zaak keeps the label it got first: a rename emits
    // nothing); the objects were written with the label read before the rename (page 2's
    // with the one read for page 1), and the label look, after the writes, put the
    // klantcontact's label as it is now in the store.
    let events = sink.take();
    assert_eq!(events.len(), 4);
    for i in 0..4 {
        let link = store.get(&id("oo", i)).await.unwrap().unwrap().link.unwrap();
        assert_eq!(link.label, "Nieuw - (1)", "object {i}");
        assert_eq!(link.zaak, zaak(i));
    }
}
