//! How long until a change is on the bus (issue 17), per change kind and per mode, measured
//! with real timers: the fake Open Klant over HTTP with a real one's latency (30 ms a GET,
//! 0.2 ms per listed object, as benches/resync.rs), the in-memory store, and a sink that
//! notes when each event arrives. N zaak onderwerpobjecten (100,000) over K klantcontacten are
//! first stored as a pass leaves them (fake latency off for that); then each path is timed
//! from its trigger to the event on the sink:
//!
//! - a notification / a hint (Open Klant's own cloud event, modelled as what it triggers: the
//!   pipeline reconciling that onderwerpobject — the classic onderwerpobject notification's
//!   call) for create, relink, delete; a klantcontact delete notification (the cascade);
//! - a head poll that finds one new object; an idle head poll (requests counted);
//! - a pass over the N objects: idle (time, requests), and with one silent relink and one
//!   silent delete (time from the pass's start until each is on the sink);
//! - a silent delete while a pass is under way (it has read the object's page): from the next
//!   head poll to the ontkoppeld (the poll's list look, issue 24).
//!
//! The waits that are not zaaklink's work (Open Notificaties' delivery, the poll period, the
//! pass period) are not measured here; scripts/bench-latency states them and adds them up.
//! Sizes: ZAAKLINK_BENCH_LATENCY_OBJECTS (100000), _KLANTCONTACTEN (20000), _REPEAT (5),
//! ZAAKLINK_BENCH_RESYNC_GET_MS (30), _LIST_US_PER_OBJECT (200). One JSON object on stdout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::resync::{HeadPoll, Resync, ResyncSettings};
use zaaklink::sink::{EventSink, SinkError};
use zaaklink::store::memory::MemoryStore;
use zaaklink::webhook::{self, WebhookAuth};
use zaaklink::Zaaklink;

const TOKEN: &str = "bench-token";
const AUTH: &str = "Token bench-webhook";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn uuid(kind: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("latency/{kind}/{i}").as_bytes(),
    )
    .to_string()
}

/// Notes when each event arrived: (linkTo, type, when).
#[derive(Default)]
struct Clocked {
    seen: Mutex<Vec<(String, String, Instant)>>,
}

#[async_trait]
impl EventSink for Clocked {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap();
        for e in events {
            let v: Value = serde_json::from_str(&e.json).expect("an event is JSON");
            seen.push((
                v["data"]["linkTo"].as_str().unwrap_or_default().to_string(),
                v["type"].as_str().unwrap_or_default().to_string(),
                now,
            ));
        }
        Ok(())
    }
}

impl Clocked {
    /// When the first event of `kind` (…gekoppeld / …ontkoppeld) for `link_to` arrived.
    fn when(&self, link_to: &str, kind: &str) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(l, t, _)| l == link_to && t.ends_with(kind))
            .map(|(_, _, at)| *at)
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

struct Scene {
    root: String,
}

impl Scene {
    fn oo_url(&self, i: usize) -> String {
        format!("{}onderwerpobjecten/{}", self.root, uuid("oo", i))
    }
    fn kc_url(&self, k: usize) -> String {
        format!("{}klantcontacten/{}", self.root, uuid("kc", k))
    }
    fn object(&self, i: usize, zaak: usize, kc: usize) -> Value {
        json!({"uuid": uuid("oo", i), "url": self.oo_url(i),
            "klantcontact": {"uuid": uuid("kc", kc), "url": self.kc_url(kc)}, "wasKlantcontact": null,
            "onderwerpobjectidentificator": {"objectId": uuid("zaak", zaak), "codeObjecttype": "zaak",
                "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}})
    }
    fn klantcontact(&self, k: usize, objects: &[usize]) -> Value {
        json!({"uuid": uuid("kc", k), "url": self.kc_url(k), "nummer": format!("{k}"),
            "onderwerp": format!("Onderwerp {k}"),
            "gingOverOnderwerpobjecten": objects.iter().map(|i| json!({"uuid": uuid("oo", *i), "url": self.oo_url(*i)})).collect::<Vec<_>>()})
    }
    fn notification(&self, resource: &str, url: &str, hoofd: &str, actie: &str) -> String {
        json!({"kanaal": "klantcontacten", "hoofdObject": hoofd, "resource": resource,
            "resourceUrl": url, "actie": actie, "aanmaakdatum": "2026-12-03T09:00:00Z", "kenmerken": {}})
        .to_string()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run());
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and maximum of the samples, in ms.
fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    json!({"median_ms": v[v.len() / 2], "max_ms": v[v.len() - 1], "n": v.len()})
}

async fn post(app: &Zaaklink, auth: &WebhookAuth, body: &str) {
    let a = webhook::handle(
        app,
        auth,
        webhook::Request {
            method: "POST",
            authorization: Some(AUTH.as_bytes()),
            content_type: Some(b"application/json"),
            body: body.as_bytes(),
        },
    )
    .await;
    assert!(a.status < 300, "{a:?}");
}

async fn run() -> Value {
    let n = env("ZAAKLINK_BENCH_LATENCY_OBJECTS", 100_000) as usize;
    let kcs = env("ZAAKLINK_BENCH_LATENCY_KLANTCONTACTEN", 20_000) as usize;
    let repeat = env("ZAAKLINK_BENCH_LATENCY_REPEAT", 5) as usize;
    let get_ms = env("ZAAKLINK_BENCH_RESYNC_GET_MS", 30);
    let list_us = env("ZAAKLINK_BENCH_RESYNC_LIST_US_PER_OBJECT", 200);
    let ok = FakeOpenKlant::start(TOKEN)
        .await
        .expect("start the fake Open Klant");
    let scene = Scene { root: ok.api_root() };
    let mut by_kc: Vec<Vec<usize>> = vec![Vec::new(); kcs];
    for i in 0..n {
        by_kc[i % kcs].push(i);
    }
    ok.put_values((0..kcs).map(|k| scene.klantcontact(k, &by_kc[k])));
    ok.put_values((0..n).map(|i| scene.object(i, i, i % kcs)));

    let cfg = CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: "urn:bench".into(),
        webhook_auth: Some(AUTH.into()),
        open_klant_api_root: Some(ok.api_root()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "30000".into(),
    }
    .validate()
    .expect("bench settings");
    let sink = Arc::new(Clocked::default());
    let store = Arc::new(MemoryStore::default());
    let app = Zaaklink {
        klant: Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            cfg.open_klant_timeout,
        )),
        store: store.clone(),
        sink: sink.clone(),
        settings: cfg.settings,
    };
    let auth = cfg.webhook_auth;
    let defaults = zaaklink::config::ResyncArgs::default()
        .validate()
        .expect("default resync settings");
    let resync = Resync::new(
        &app,
        store.clone(),
        ResyncSettings {
            concurrency: 16,
            ..defaults.clone()
        },
    );
    eprintln!("latency bench: storing {n} links (a first pass, fake latency off)");
    let t = Instant::now();
    resync.full_pass().await.expect("the first pass");
    eprintln!("latency bench: stored in {:.1} s", t.elapsed().as_secs_f64());
    sink.clear();
    // From here on, a real Open Klant's latency, and the shipped resync settings.
    ok.delay(Some(Duration::from_millis(get_ms)));
    ok.delay_per_listed(Some(Duration::from_micros(list_us)));
    let resync = Resync::new(&app, store.clone(), defaults.clone());
    let head = HeadPoll::new(&resync);
    let next = std::cell::Cell::new(n);
    let fresh = || {
        let i = next.get();
        next.set(i + 1);
        i
    };
    // Every measured change uses a klantcontact of its own (index ≥ kcs), so that a label
    // read is one GET, as for a contact just made.
    let put_new = |i: usize, zaak: usize| {
        ok.put_values([scene.klantcontact(kcs + i, &[i]), scene.object(i, zaak, kcs + i)]);
    };
    let wait_for = |link_to: String, kind: &'static str, since: Instant| {
        let sink = sink.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                if let Some(at) = sink.when(&link_to, kind) {
                    return ms(at.saturating_duration_since(since));
                }
                assert!(Instant::now() < deadline, "no {kind} for {link_to}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };

    // The head poll's baseline, then an idle poll: one request.
    head.poll().await.expect("baseline poll");
    let before = ok.requests().len();
    let mut idle_poll = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        let r = head.poll().await.expect("idle poll");
        idle_poll.push(ms(t.elapsed()));
        assert_eq!(r.new, 0);
    }
    let idle_poll_requests = (ok.requests().len() - before) as f64 / repeat as f64;

    // Notifications and hints: the webhook path, from the request to the event on the sink.
    let (mut hint_create, mut hint_relink, mut hint_delete, mut kc_delete, mut poll_create) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat {
        // create (hint / notification about the onderwerpobject)
        let i = fresh();
        put_new(i, i);
        let url = scene.oo_url(i);
        let t = Instant::now();
        post(
            &app,
            &auth,
            &scene.notification("onderwerpobject", &url, &scene.kc_url(kcs + i), "create"),
        )
        .await;
        hint_create.push(wait_for(url.clone(), "zaak-gekoppeld", t).await);
        // relink to another zaak
        ok.put_values([scene.object(i, i + 1, kcs + i)]);
        let t = Instant::now();
        post(
            &app,
            &auth,
            &scene.notification("onderwerpobject", &url, &scene.kc_url(kcs + i), "update"),
        )
        .await;
        let a = wait_for(url.clone(), "zaak-ontkoppeld", t).await;
        hint_relink.push(a.max(wait_for(url.clone(), "zaak-gekoppeld", t).await));
        sink.clear();
        // delete: a hint only says "look" (the reconcile GETs the object and finds it gone)
        ok.remove(&url);
        let t = Instant::now();
        post(
            &app,
            &auth,
            &scene.notification("onderwerpobject", &url, &scene.kc_url(kcs + i), "update"),
        )
        .await;
        hint_delete.push(wait_for(url.clone(), "zaak-ontkoppeld", t).await);
        sink.clear();
        // klantcontact delete: a new contact with its object, then both gone (the cascade)
        let j = fresh();
        put_new(j, j);
        post(
            &app,
            &auth,
            &scene.notification(
                "onderwerpobject",
                &scene.oo_url(j),
                &scene.kc_url(kcs + j),
                "create",
            ),
        )
        .await;
        sink.clear();
        ok.remove(&scene.oo_url(j));
        ok.remove(&scene.kc_url(kcs + j));
        let t = Instant::now();
        post(
            &app,
            &auth,
            &scene.notification(
                "klantcontact",
                &scene.kc_url(kcs + j),
                &scene.kc_url(kcs + j),
                "destroy",
            ),
        )
        .await;
        kc_delete.push(wait_for(scene.oo_url(j), "zaak-ontkoppeld", t).await);
        sink.clear();
        // head poll: a silent create, found by the next poll
        let k = fresh();
        put_new(k, k);
        let t = Instant::now();
        let r = head.poll().await.expect("poll");
        assert_eq!(r.new, 1, "{r:?}");
        poll_create.push(wait_for(scene.oo_url(k), "zaak-gekoppeld", t).await);
        sink.clear();
    }
    // Keep the head in step with the deletes above (their count drops ask for a pass).
    head.poll().await.expect("poll");

    // The pass: idle, then with a silent relink and a silent delete in the middle of the list.
    let before = ok.requests().len();
    let t = Instant::now();
    let r = resync.run(None, true).await.expect("idle pass");
    let idle_pass_s = t.elapsed().as_secs_f64();
    let idle_pass_requests = ok.requests().len() - before;
    assert_eq!(r.run.emitted, 0, "an idle pass emits nothing: {r:?}");
    let (relinked, deleted) = (n / 2, n / 2 + 1);
    ok.put_values([scene.object(relinked, relinked + 1, relinked % kcs)]);
    ok.remove(&scene.oo_url(deleted));
    // The head poll sees the count drop and asks for the pass.
    let t = Instant::now();
    let r = head.poll().await.expect("poll");
    let poll_saw_delete = r.pass_due;
    resync.run(None, true).await.expect("the pass");
    let pass_s = t.elapsed().as_secs_f64();
    let pass_relink = wait_for(scene.oo_url(relinked), "zaak-gekoppeld", t).await;
    let pass_delete = wait_for(scene.oo_url(deleted), "zaak-ontkoppeld", t).await;
    head.poll().await.expect("poll");

    // A silent delete while a pass is under way (issue 24): the pass has read the object's
    // page already, so it cannot find it, and the pass asked for starts only after it. The
    // next head poll sees the count drop and looks itself (the list look: the list's uuids,
    // then the stored links it did not show). From that poll to the ontkoppeld.
    let busy = Resync::new(&app, store.clone(), defaults.clone());
    let from = ok.requests().len();
    let under_way = {
        let busy = busy.clone();
        tokio::spawn(async move { busy.run(None, true).await })
    };
    while !ok.requests()[from..]
        .iter()
        .any(|r| r.contains("onderwerpobjecten?") && r.ends_with("&page=2"))
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // On the pass's first page (500 newest), below the head page (100 newest).
    let gone = n.saturating_sub(300);
    ok.remove(&scene.oo_url(gone));
    let t = Instant::now();
    let r = head.poll().await.expect("poll");
    assert!(r.pass_due && r.emitted == 1, "the poll's own look: {r:?}");
    let during_pass_delete = wait_for(scene.oo_url(gone), "zaak-ontkoppeld", t).await;
    busy.stop();
    let _ = under_way.await.expect("the pass task");
    json!({
        "objects": n, "klantcontacten": kcs, "get_ms": get_ms, "list_us_per_object": list_us,
        "resync_interval_s": defaults.interval.as_secs(), "resync_page_size": defaults.page_size,
        "head_page_size": zaaklink::resync::head::HEAD_PAGE_SIZE,
        "hint_create": stats(hint_create), "hint_relink": stats(hint_relink),
        "hint_delete": stats(hint_delete), "klantcontact_delete": stats(kc_delete),
        "poll_create": stats(poll_create), "idle_poll": stats(idle_poll),
        "idle_poll_requests": idle_poll_requests,
        "idle_pass_s": idle_pass_s, "idle_pass_requests": idle_pass_requests,
        "poll_saw_delete": poll_saw_delete,
        "pass_with_changes_s": pass_s,
        "pass_relink_ms": pass_relink, "pass_delete_ms": pass_delete,
        "during_pass_delete_ms": during_pass_delete,
    })
}
