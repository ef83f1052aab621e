//! The list read ahead (DESIGN §7, "The list read ahead"): the next list page is read while
//! the current one is worked, so objects can change between a page's read and its work.
//! Still every change emitted exactly once, each object's events in order: a change made and
//! notified after the read is the webhook's alone (the pass, seeing a record newer than its
//! page, takes the normal path and finds nothing to do); a silent one is the next pass's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{id, notify, objects, pipeline, put, settings, zaak};
use crate::common::fixtures::TOKEN;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::{Klantcontact, Onderwerpobject};
use zaaklink::openklant::{ExpandedKlantcontact, OpenKlant, OpenKlantError, Page};
use zaaklink::resync::{Resync, Stop};
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::LinkStore;
use zaaklink::webhook::WebhookAuth;
use zaaklink::Zaaklink;

/// Open Klant where, just after list page 3 is read the first time (so what it returned is
/// already stale), objects change: some notified through the webhook, some silently.
struct ChangeAfterPage3 {
    inner: Arc<dyn OpenKlant>,
    ok: Arc<FakeOpenKlant>,
    webhook: (Zaaklink, WebhookAuth),
    done: AtomicBool,
}

impl ChangeAfterPage3 {
    async fn change(&self) {
        let s = objects(&self.ok);
        let (app, auth) = &self.webhook;
        // on page 3 (objects 7..4): 7 moved and notified, 4 no zaak any more and notified,
        // 6 moved silently, 5 deleted silently
        s.put(&self.ok, 7, Some(107));
        notify(app, auth, &s.notification(7, "update")).await;
        s.put(&self.ok, 4, None);
        notify(app, auth, &s.notification(4, "update")).await;
        s.put(&self.ok, 6, Some(106));
        self.ok.remove(&s.oo_url(5));
        // on page 4, not read yet: 1 moved silently; and 20 created silently (page 1)
        s.put(&self.ok, 1, Some(101));
        s.put(&self.ok, 20, Some(20));
    }
}

#[async_trait]
impl OpenKlant for ChangeAfterPage3 {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.inner.onderwerpobject(url).await
    }
    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.inner.klantcontact(url).await
    }
    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        self.inner.klantcontact_expanded(url).await
    }
    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        let read = self.inner.zaak_onderwerpobjecten(page, size).await;
        if page == 3 && !self.done.swap(true, Ordering::SeqCst) {
            self.change().await;
        }
        read
    }
}

/// (object, kind, zaak) of each event, in the order put.
fn events(sink: &MemorySink) -> Vec<(String, &'static str, String)> {
    sink.take()
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.json).unwrap();
            let oo = v["data"]["linkTo"].as_str().unwrap().rsplit('/').next().unwrap();
            let kind = if v["type"].as_str().unwrap().ends_with("ontkoppeld") {
                "ontkoppeld"
            } else {
                "gekoppeld"
            };
            (oo.to_string(), kind, v["subject"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_changed_between_a_page_read_ahead_and_its_work_are_emitted_exactly_once_in_order() {
    let ok = Arc::new(FakeOpenKlant::start(TOKEN).await.unwrap());
    for i in 0..16 {
        put(&ok, i, Some(i));
    }
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (mut app, _) = pipeline(&ok, store.clone(), sink.clone());
    // Pages of 4, newest first: 15..12, 11..8, 7..4, 3..0. Every link in place first.
    let first = Resync::new(&app, store.clone(), settings(4))
        .full_pass()
        .await
        .unwrap();
    assert_eq!(
        (&first.stop, first.run.emitted),
        (&Stop::PassDone, 16),
        "{first:?}"
    );
    sink.take();

    app.klant = Arc::new(ChangeAfterPage3 {
        inner: app.klant.clone(),
        ok: ok.clone(),
        webhook: pipeline(&ok, store.clone(), sink.clone()),
        done: AtomicBool::new(false),
    });
    let one = Resync::new(&app, store.clone(), settings(4))
        .full_pass()
        .await
        .unwrap();
    assert_eq!(one.stop, Stop::PassDone, "{one:?}");
    let mut got = events(&sink);
    let (ont, gek) = ("ontkoppeld", "gekoppeld");
    // the webhook's (7, 4), then the pass's (1, read after the change); nothing twice, and
    // nothing for 7 and 4 from the pass, whose page showed them as they were before
    let mut want = vec![
        (id("oo", 7), ont, zaak(7)),
        (id("oo", 7), gek, zaak(107)),
        (id("oo", 4), ont, zaak(4)),
        (id("oo", 1), ont, zaak(1)),
        (id("oo", 1), gek, zaak(101)),
    ];
    // the silent changes the stale page hid: the next pass's
    let two = Resync::new(&app, store.clone(), settings(4))
        .full_pass()
        .await
        .unwrap();
    assert_eq!(two.stop, Stop::PassDone, "{two:?}");
    got.extend(events(&sink));
    want.extend([
        (id("oo", 6), ont, zaak(6)),
        (id("oo", 6), gek, zaak(106)),
        (id("oo", 5), ont, zaak(5)),
        (id("oo", 20), gek, zaak(20)),
    ]);
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "every change exactly once, nothing else: {got:?}");
    // each object's ontkoppeld before its gekoppeld
    for i in [7, 1, 6] {
        let at = |kind: &str| got.iter().position(|(o, k, _)| *o == id("oo", i) && *k == kind);
        assert!(at(ont) < at(gek), "object {i}: {got:?}");
    }
    let three = Resync::new(&app, store.clone(), settings(4))
        .full_pass()
        .await
        .unwrap();
    assert_eq!((three.run.written, three.run.emitted), (0, 0), "{three:?}");
    for (i, z) in [
        (7, Some(107)),
        (6, Some(106)),
        (5, None),
        (4, None),
        (1, Some(101)),
        (20, Some(20)),
        (9, Some(9)),
    ] {
        let link = store.get(&id("oo", i)).await.unwrap().and_then(|r| r.link);
        assert_eq!(link.map(|l| l.zaak), z.map(zaak), "object {i}");
    }
}
