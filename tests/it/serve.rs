//! `zaaklink serve` over real HTTP, as a real process, against a fake Open Klant served on
//! 127.0.0.1 from the sample objects, with events POSTed to a collector (or on stdout).

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use zaaklink::demo::samples::*;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::store::{LinkRecord, LinkStore};

const AUTH: &str = "Token serve-test-secret";
const TOKEN: &str = "serve-test-open-klant-token";
const SOURCE: &str = "urn:nld:oin:01823288444:openklant";
const OO: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
const ZAAK_A_ID: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
const ZAAK_B_ID: &str = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";

/// Collects what the HTTP sink POSTs: (content-type, body).
struct Collector {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let s = s.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    s.lock().unwrap().push((ct, body));
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Collector {
            url,
            seen,
            _task: task,
        }
    }

    /// The events received so far, parsed; asserts the exact structured-mode content type.
    fn take(&self) -> Vec<Value> {
        let got = std::mem::take(&mut *self.seen.lock().unwrap());
        got.into_iter()
            .map(|(ct, body)| {
                assert_eq!(ct, "application/cloudevents+json");
                serde_json::from_str(&body).unwrap()
            })
            .collect()
    }
}

struct Serve {
    child: Child,
    url: String,
    state: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(ok: &FakeOpenKlant, state: &Path, sink: &str, env: &[(&str, &str)]) -> Serve {
    let port = common::cli::free_port();
    let log_path = state.with_extension(format!("{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = common::cli::zaaklink_cli("serve", state, &ok.api_root(), AUTH, TOKEN);
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--sink", sink])
        .env("RUST_LOG", "debug")
        .stdout(if sink == "stdout" {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    common::cli::wait_listening(port, "zaaklink serve", Some(&log_path));
    Serve {
        child,
        url: format!("http://127.0.0.1:{port}/"),
        state: state.to_path_buf(),
    }
}

impl Serve {
    async fn post(&self, body: &str, auth: Option<&str>) -> (u16, String) {
        self.request("POST", body.as_bytes().to_vec(), auth).await
    }

    async fn request(&self, method: &str, body: Vec<u8>, auth: Option<&str>) -> (u16, String) {
        self.request_as(method, "application/json", body, auth).await
    }

    async fn request_as(
        &self,
        method: &str,
        content_type: &str,
        body: Vec<u8>,
        auth: Option<&str>,
    ) -> (u16, String) {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method.parse().unwrap(), &self.url)
            .header("content-type", content_type)
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// Stop the server and read its state file.
    async fn stop_and_read(mut self) -> Vec<LinkRecord> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        read_state(&self.state).await
    }
}

async fn read_state(path: &Path) -> Vec<LinkRecord> {
    let store = EmbeddedStore::open(path).unwrap();
    let mut out = Vec::new();
    for uuid in [OO, "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"] {
        if let Some(r) = store.get(uuid).await.unwrap() {
            out.push(r);
        }
    }
    out
}

fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("nl.overheid.zaken.")
                    .to_string(),
                e["subject"].as_str().unwrap().to_string(),
                e["data"]["label"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_shape(e: &Value, ok: &FakeOpenKlant) {
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "data",
            "datacontenttype",
            "id",
            "source",
            "specversion",
            "subject",
            "time",
            "type"
        ]
    );
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["source"], SOURCE);
    assert_eq!(e["datacontenttype"], "application/json");
    let zaak = e["subject"].as_str().unwrap();
    assert_eq!(e["data"]["zaak"], format!("urn:uuid:{zaak}"));
    assert_eq!(e["data"]["linkObjectType"], "Onderwerpobject");
    assert_eq!(
        e["data"]["linkTo"],
        format!("{}onderwerpobjecten/{OO}", ok.api_root()),
        "linkTo is the onderwerpobject url as Open Klant returned it"
    );
    let time = e["time"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "time {time}"
    );
    assert!(uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok());
}

fn kc_with_onderwerp(onderwerp: &str, nummer: &str) -> String {
    let mut v: Value = serde_json::from_str(KLANTCONTACT).unwrap();
    v["onderwerp"] = onderwerp.into();
    v["nummer"] = nummer.into();
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn life_cycle_create_relink_unlink_delete() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let col = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let born = chrono::Utc::now().timestamp_millis() as u64;
    let serve = start_serve(&ok, &dir.path().join("zaaklink.db"), &col.url, &[]);
    let rw = |s: &str| ok.rewrite(s);

    // create: the link appears
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    assert_eq!(serve.post(&rw(CREATE), Some(AUTH)).await.0, 204);
    let created = col.take();
    assert_eq!(
        summary(&created),
        [(
            "zaak-gekoppeld".into(),
            ZAAK_A_ID.into(),
            "Mijn Klantcontact Onderwerp".into()
        )]
    );
    assert_shape(&created[0], &ok);
    // the id of version 1's gekoppeld in the state file's epoch: the file's creation time
    // (unix ms), which lies between the test's start and now
    let id = |epoch| zaaklink::cloudevent::event_id(epoch, OO, 1, zaaklink::reconcile::EventKind::Gekoppeld);
    let now = chrono::Utc::now().timestamp_millis() as u64;
    assert!(
        (born..=now).any(|epoch| created[0]["id"] == id(epoch)),
        "{} is no id of this transition in an epoch between {born} and {now}",
        created[0]["id"]
    );

    // a duplicate delivery emits nothing
    assert_eq!(serve.post(&rw(CREATE), Some(AUTH)).await.0, 204);
    assert_eq!(col.take(), Vec::<Value>::new());

    // relink to zaak B, with a new klantcontact label meanwhile: the ontkoppeld repeats the
    // original gekoppeld's label and linkTo, the gekoppeld carries the new label
    ok.put(&kc_with_onderwerp("Nieuw onderwerp", "0042"));
    ok.put(ZAAK_B);
    assert_eq!(serve.post(&rw(UPDATE), Some(AUTH)).await.0, 204);
    let relinked = col.take();
    assert_eq!(
        summary(&relinked),
        [
            (
                "zaak-ontkoppeld".into(),
                ZAAK_A_ID.into(),
                "Mijn Klantcontact Onderwerp".into()
            ),
            (
                "zaak-gekoppeld".into(),
                ZAAK_B_ID.into(),
                "Nieuw onderwerp - (0042)".into()
            ),
        ]
    );
    assert_eq!(
        relinked[0]["data"], created[0]["data"],
        "ontkoppeld repeats the gekoppeld payload byte for byte"
    );
    relinked.iter().for_each(|e| assert_shape(e, &ok));

    // changed to a besluit: unlinked
    ok.put(BESLUIT);
    assert_eq!(serve.post(&rw(PARTIAL_UPDATE), Some(AUTH)).await.0, 204);
    let unlinked = col.take();
    assert_eq!(
        summary(&unlinked),
        [(
            "zaak-ontkoppeld".into(),
            ZAAK_B_ID.into(),
            "Nieuw onderwerp - (0042)".into()
        )]
    );
    assert_eq!(unlinked[0]["data"], relinked[1]["data"]);

    // back to zaak A, then deleted
    ok.put(ZAAK_A);
    assert_eq!(serve.post(&rw(UPDATE), Some(AUTH)).await.0, 204);
    let back = col.take();
    assert_eq!(summary(&back)[0].0, "zaak-gekoppeld");
    ok.remove(&format!("{}onderwerpobjecten/{OO}", ok.api_root()));
    let gets_before_destroy = ok.requests().len();
    assert_eq!(serve.post(&rw(DESTROY), Some(AUTH)).await.0, 204);
    assert_eq!(ok.requests().len(), gets_before_destroy, "a destroy needs no GET");
    let deleted = col.take();
    assert_eq!(
        summary(&deleted),
        [(
            "zaak-ontkoppeld".into(),
            ZAAK_A_ID.into(),
            "Nieuw onderwerp - (0042)".into()
        )]
    );
    assert_eq!(deleted[0]["data"], back[0]["data"]);

    // every id is distinct
    let all: Vec<&Value> = created
        .iter()
        .chain(&relinked)
        .chain(&unlinked)
        .chain(&back)
        .chain(&deleted)
        .collect();
    let ids: std::collections::HashSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());

    let state = serve.stop_and_read().await;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].link, None, "a tombstone remains");
    assert!(state[0].pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn klantcontact_destroy_looks_up_and_unlinks_every_stored_link() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let col = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = start_serve(&ok, &dir.path().join("zaaklink.db"), &col.url, &[]);
    // a second onderwerpobject of the same klantcontact, linked to zaak B
    let second_uuid = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let second = ZAAK_B.replace(OO, second_uuid);
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    ok.put(&second);
    assert_eq!(serve.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
    assert_eq!(
        serve
            .post(&ok.rewrite(&CREATE.replace(OO, second_uuid)), Some(AUTH))
            .await
            .0,
        204
    );
    assert_eq!(col.take().len(), 2);

    // Open Klant deletes the klantcontact and cascades, without notifying the objects
    ok.remove(&format!(
        "{}klantcontacten/3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a",
        ok.api_root()
    ));
    ok.remove(&format!("{}onderwerpobjecten/{OO}", ok.api_root()));
    ok.remove(&format!("{}onderwerpobjecten/{second_uuid}", ok.api_root()));
    let before = ok.requests().len();
    assert_eq!(serve.post(&ok.rewrite(KC_DESTROY), Some(AUTH)).await.0, 204);
    // Each candidate is looked up in Open Klant (404 = gone; issue 11): its GET and the
    // after-write look, nothing else.
    let gets = ok.requests()[before..].to_vec();
    assert_eq!(gets.len(), 4, "{gets:#?}");
    for uuid in [OO, second_uuid] {
        assert_eq!(
            gets.iter()
                .filter(|g| g.ends_with(&format!("onderwerpobjecten/{uuid}")))
                .count(),
            2,
            "{gets:#?}"
        );
    }
    let mut got = summary(&col.take());
    got.sort();
    assert_eq!(
        got,
        [
            (
                "zaak-ontkoppeld".into(),
                ZAAK_A_ID.into(),
                "Mijn Klantcontact Onderwerp".into()
            ),
            (
                "zaak-ontkoppeld".into(),
                ZAAK_B_ID.into(),
                "Mijn Klantcontact Onderwerp".into()
            ),
        ]
    );
    // a repeat of the destroy emits nothing more
    assert_eq!(serve.post(&ok.rewrite(KC_DESTROY), Some(AUTH)).await.0, 204);
    assert!(col.take().is_empty());
    let state = serve.stop_and_read().await;
    assert!(state.iter().all(|r| r.link.is_none() && r.pending.is_empty()));
    assert_eq!(state.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_and_ignored_requests_change_nothing() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    let col = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = start_serve(&ok, &dir.path().join("zaaklink.db"), &col.url, &[]);
    let create = ok.rewrite(CREATE);
    let problem = |body: &str| -> Value { serde_json::from_str(body).unwrap() };

    let (s, b) = serve.post(&create, None).await;
    assert_eq!((s, problem(&b)["field"].clone()), (401, "Authorization".into()));
    let (s, _) = serve.post(&create, Some("Token wrong")).await;
    assert_eq!(s, 401);
    let (s, _) = serve.post(&create, Some(&AUTH.to_lowercase())).await;
    assert_eq!(s, 401);
    let (s, b) = serve.post(&ok.rewrite(MALFORMED), Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "resourceUrl".into()));
    assert!(problem(&b)["detail"].as_str().unwrap().contains("resourceUrl"));
    let (s, b) = serve.post("{\"kanaal\":", Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "body".into()));
    let evil = create.replace(&ok.base, "http://169.254.169.254");
    let (s, b) = serve.post(&evil, Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "resourceUrl".into()));
    let (s, _) = serve.request("GET", vec![], Some(AUTH)).await;
    assert_eq!(s, 405);
    let (s, _) = serve
        .request("PUT", create.clone().into_bytes(), Some(AUTH))
        .await;
    assert_eq!(s, 405);
    let mut big: Value = serde_json::from_str(&create).unwrap();
    big["kenmerken"]["padding"] = "x".repeat(70 * 1024).into();
    let (s, b) = serve.post(&big.to_string(), Some(AUTH)).await;
    assert_eq!((s, problem(&b)["status"].clone()), (413, 413.into()));
    let (s, b) = serve.post(&ok.rewrite(IGNORED), Some(AUTH)).await;
    assert_eq!((s, b.as_str()), (204, ""));

    assert!(
        ok.requests().is_empty(),
        "nothing was fetched: {:?}",
        ok.requests()
    );
    assert!(col.take().is_empty(), "nothing was emitted");
    assert!(serve.stop_and_read().await.is_empty(), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn emission_off_tracks_state_but_emits_nothing() {
    for env in [
        [("ENABLE_CLOUD_EVENTS", "false"), ("NOTIFICATIONS_SOURCE", SOURCE)],
        [("ENABLE_CLOUD_EVENTS", "true"), ("NOTIFICATIONS_SOURCE", "")],
    ] {
        let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
        ok.put(KLANTCONTACT);
        ok.put(ZAAK_A);
        let col = Collector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let serve = start_serve(&ok, &dir.path().join("zaaklink.db"), &col.url, &env);
        assert_eq!(serve.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
        ok.put(ZAAK_B);
        assert_eq!(serve.post(&ok.rewrite(UPDATE), Some(AUTH)).await.0, 204);
        assert!(col.take().is_empty(), "{env:?}: nothing emitted");
        let state = serve.stop_and_read().await;
        let link = state[0].link.as_ref().expect("state is tracked");
        assert_eq!(link.zaak, ZAAK_B_ID);
        assert!(state[0].pending.is_empty());
        assert_eq!(state[0].version, 2);
        let log = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .unwrap();
        assert!(log.contains("events are not emitted"), "startup says why: {log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_survives_a_restart_and_stdout_sink_prints_json_lines() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let mut first = start_serve(&ok, &state, "stdout", &[]);
    assert_eq!(first.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
    let mut out = BufReader::new(first.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let gekoppeld: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(gekoppeld["type"], "nl.overheid.zaken.zaak-gekoppeld");
    drop(first);

    let mut second = start_serve(&ok, &state, "stdout", &[]);
    // the duplicate after the restart is still a duplicate
    assert_eq!(second.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
    ok.remove(&format!("{}onderwerpobjecten/{OO}", ok.api_root()));
    assert_eq!(second.post(&ok.rewrite(DESTROY), Some(AUTH)).await.0, 204);
    let mut out = BufReader::new(second.child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let ontkoppeld: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ontkoppeld["type"], "nl.overheid.zaken.zaak-ontkoppeld");
    assert_eq!(ontkoppeld["data"], gekoppeld["data"]);
    let records: BTreeMap<String, LinkRecord> = second
        .stop_and_read()
        .await
        .into_iter()
        .map(|r| (r.onderwerpobject.clone(), r))
        .collect();
    assert_eq!(records[OO].link, None);
}

#[test]
fn a_missing_setting_stops_startup_naming_it() {
    for (unset, name) in [
        ("WEBHOOK_AUTH", "WEBHOOK_AUTH"),
        ("OPEN_KLANT_API_ROOT", "OPEN_KLANT_API_ROOT"),
        ("OPEN_KLANT_API_TOKEN", "OPEN_KLANT_API_TOKEN"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zaaklink"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("s.db"))
            .env_clear()
            .env("WEBHOOK_AUTH", "Token x")
            .env(
                "OPEN_KLANT_API_ROOT",
                "http://127.0.0.1:9/klantinteracties/api/v1/",
            )
            .env("OPEN_KLANT_API_TOKEN", "t")
            .env_remove(unset);
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{unset}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zaaklink"))
        .args(["serve", "--sink", "ftp://x", "--label-max-chars", "80"])
        .env_clear()
        .env("WEBHOOK_AUTH", "Token x")
        .env(
            "OPEN_KLANT_API_ROOT",
            "http://127.0.0.1:9/klantinteracties/api/v1/",
        )
        .env("OPEN_KLANT_API_TOKEN", "t")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sink"));
}

/// `ZAAKLINK_DELIVER_CONCURRENCY` (issue 24) out of 1–64 stops startup naming it and the fix.
#[test]
fn an_invalid_deliver_concurrency_stops_startup_naming_it() {
    for bad in ["0", "65", "many"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_zaaklink"))
            .args(["serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("s.db"))
            .env_clear()
            .env("WEBHOOK_AUTH", "Token x")
            .env(
                "OPEN_KLANT_API_ROOT",
                "http://127.0.0.1:9/klantinteracties/api/v1/",
            )
            .env("OPEN_KLANT_API_TOKEN", "t")
            .env("ZAAKLINK_DELIVER_CONCURRENCY", bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ZAAKLINK_DELIVER_CONCURRENCY") && err.contains("from 1 to 64"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn demo_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_zaaklink"))
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("nl.overheid.zaken.")
        })
        .collect();
    assert_eq!(
        types,
        [
            "zaak-gekoppeld",
            "zaak-ontkoppeld",
            "zaak-gekoppeld",
            "zaak-ontkoppeld",
            "zaak-gekoppeld",
            "zaak-ontkoppeld"
        ]
    );
}

/// `serve --sink <Open Zaak>/events` with OPEN_ZAAK_CLIENT_ID / OPEN_ZAAK_SECRET feeds an
/// Open Zaak that requires a ZGW JWT (the fake answers 403 without one) — once per event.
#[tokio::test(flavor = "multi_thread")]
async fn serve_feeds_open_zaak_with_a_zgw_jwt_once_per_event() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let secret = "een-geheim-van-minstens-32-tekens-lang!";
    let oz = zaaklink::fake_openzaak::FakeOpenZaak::start("zaaklink-serve", secret)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = start_serve(
        &ok,
        &dir.path().join("zaaklink.db"),
        &format!("{}/events", oz.base),
        &[
            ("OPEN_ZAAK_CLIENT_ID", "zaaklink-serve"),
            ("OPEN_ZAAK_SECRET", secret),
        ],
    );
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    assert_eq!(serve.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
    assert_eq!(serve.post(&ok.rewrite(CREATE), Some(AUTH)).await.0, 204);
    assert_eq!(oz.posts(), vec![(202, oz.posts()[0].1.clone())]);
    let objects = oz.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].zaak, oz.zaak_url(ZAAK_A_ID));
    assert!(dir.path().join("zaaklink.db.deliveries").is_file());
    // the secret is in no log line
    drop(serve);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "log") {
            assert!(!std::fs::read_to_string(&p).unwrap().contains(secret));
        }
    }
}

/// Open Notificaties' CloudEvents (issue 17) over HTTP, as it POSTs them
/// (`application/cloudevents+json`, the abonnement's auth): its test notification, Open
/// Klant's own zaak-gekoppeld / zaak-ontkoppeld (hints: the truth is read, the content is never
/// forwarded), transformed klantcontact notifications and the classic form, stale, repeated
/// and hostile ones. Refused input changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn cloudevents_in_hints_transformed_and_classic_converge() {
    use zaaklink::demo::samples::ce;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let col = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = start_serve(&ok, &dir.path().join("zaaklink.db"), &col.url, &[]);
    let post_ce = |body: String, auth: Option<&'static str>| {
        let serve = &serve;
        async move {
            serve
                .request_as("POST", "application/cloudevents+json", body.into_bytes(), auth)
                .await
        }
    };
    let rw = |s: &str| ok.rewrite(s);
    let problem = |body: &str| -> Value { serde_json::from_str(body).unwrap() };

    // Saving the abonnement: the classic test notification, without then with the auth.
    assert_eq!(serve.post(TEST_CALLBACK, None).await.0, 401);
    assert_eq!(serve.post(TEST_CALLBACK, Some(AUTH)).await.0, 204);
    assert!(ok.requests().is_empty());

    // Open Klant's zaak-gekoppeld, with a forged label and zaak: zaaklink reads the
    // onderwerpobject and its klantcontact and emits its own event, with the truth.
    ok.put(KLANTCONTACT);
    ok.put(ZAAK_A);
    let mut forged: Value = serde_json::from_str(&rw(ce::GEKOPPELD)).unwrap();
    forged["data"]["label"] = "vervalst".into();
    forged["data"]["zaak"] = format!("urn:uuid:{ZAAK_B_ID}").into();
    forged["subject"] = ZAAK_B_ID.into();
    assert_eq!(post_ce(forged.to_string(), Some(AUTH)).await.0, 204);
    let created = col.take();
    assert_eq!(
        summary(&created),
        [(
            "zaak-gekoppeld".into(),
            ZAAK_A_ID.into(),
            "Mijn Klantcontact Onderwerp".into()
        )]
    );
    assert_shape(&created[0], &ok);
    assert_ne!(
        created[0]["id"], forged["id"],
        "zaaklink's own id, not the hint's"
    );

    // The same hint again (Open Notificaties retries with the same id), the transformed
    // klantcontact create and the classic notification: nothing new.
    assert_eq!(post_ce(rw(ce::GEKOPPELD), Some(AUTH)).await.0, 204);
    assert_eq!(post_ce(rw(ce::GEKOPPELD), Some(AUTH)).await.0, 204);
    assert_eq!(post_ce(rw(ce::KC_CREATE), Some(AUTH)).await.0, 204);
    assert_eq!(serve.post(&rw(CREATE), Some(AUTH)).await.0, 204);
    assert!(col.take().is_empty(), "repeats emit nothing");

    // Relinked to zaak B (Open Klant announces it with an ontkoppeld of A): zaaklink reads the
    // truth and emits ontkoppeld(A), gekoppeld(B).
    ok.put(ZAAK_B);
    assert_eq!(post_ce(rw(ce::ONTKOPPELD), Some(AUTH)).await.0, 204);
    assert_eq!(
        summary(&col.take()),
        [
            (
                "zaak-ontkoppeld".into(),
                ZAAK_A_ID.into(),
                "Mijn Klantcontact Onderwerp".into()
            ),
            (
                "zaak-gekoppeld".into(),
                ZAAK_B_ID.into(),
                "Mijn Klantcontact Onderwerp".into()
            ),
        ]
    );
    // Stale: the older gekoppeld(A) arrives after the relink; the truth is B, nothing changes.
    assert_eq!(post_ce(rw(ce::GEKOPPELD), Some(AUTH)).await.0, 204);
    assert!(col.take().is_empty(), "a stale hint emits nothing");

    // Hostile and refused: nothing is read, nothing emitted, nothing stored.
    let before = ok.requests().len();
    let (s, b) = post_ce(rw(ce::HOSTILE_LINK_TO), Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "data.linkTo".into()));
    assert!(problem(&b)["detail"]
        .as_str()
        .unwrap()
        .starts_with("invalid CloudEvent"));
    let (s, _) = post_ce(rw(ce::GEKOPPELD), None).await;
    assert_eq!(s, 401);
    let (s, _) = post_ce(rw(ce::GEKOPPELD), Some("Token wrong")).await;
    assert_eq!(s, 401);
    let mut wrong_version: Value = serde_json::from_str(&rw(ce::GEKOPPELD)).unwrap();
    wrong_version["specversion"] = "0.3".into();
    let (s, b) = post_ce(wrong_version.to_string(), Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "specversion".into()));
    let mut mismatch: Value = serde_json::from_str(&rw(ce::KC_DESTROY)).unwrap();
    mismatch["subject"] = OO.into();
    let (s, b) = post_ce(mismatch.to_string(), Some(AUTH)).await;
    assert_eq!((s, problem(&b)["field"].clone()), (400, "subject".into()));
    let mut big: Value = serde_json::from_str(&rw(ce::GEKOPPELD)).unwrap();
    big["data"]["opvulling"] = "x".repeat(70 * 1024).into();
    let (s, _) = post_ce(big.to_string(), Some(AUTH)).await;
    assert_eq!(s, 413);
    let (s, b) = serve
        .request_as(
            "POST",
            "application/cloudevents-batch+json",
            format!("[{}]", rw(ce::ONTKOPPELD)).into_bytes(),
            Some(AUTH),
        )
        .await;
    assert_eq!((s, problem(&b)["field"].clone()), (415, "Content-Type".into()));
    let (s, b) = post_ce(rw(ce::IGNORED), Some(AUTH)).await;
    assert_eq!((s, b.as_str()), (204, ""));
    assert_eq!(
        ok.requests().len(),
        before,
        "refused and ignored input reads nothing"
    );
    assert!(col.take().is_empty());

    // Deleted (Open Klant's ontkoppeld; a GET answers 404): exactly one ontkoppeld, also
    // when the hint comes again; the transformed klantcontact destroy finds nothing more.
    ok.remove(&format!("{}onderwerpobjecten/{OO}", ok.api_root()));
    assert_eq!(post_ce(rw(ce::ONTKOPPELD), Some(AUTH)).await.0, 204);
    assert_eq!(
        summary(&col.take()),
        [(
            "zaak-ontkoppeld".into(),
            ZAAK_B_ID.into(),
            "Mijn Klantcontact Onderwerp".into()
        )]
    );
    assert_eq!(post_ce(rw(ce::ONTKOPPELD), Some(AUTH)).await.0, 204);
    assert_eq!(post_ce(rw(ce::GEKOPPELD), Some(AUTH)).await.0, 204);
    ok.remove(samples_kc_url(&ok).as_str());
    assert_eq!(post_ce(rw(ce::KC_DESTROY), Some(AUTH)).await.0, 204);
    assert!(col.take().is_empty(), "one ontkoppeld, once");

    let state = serve.stop_and_read().await;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].link, None);
    assert!(state[0].pending.is_empty());
    // three changes (created, relinked, deleted), each a write and an outbox clear: nothing
    // else was written
    assert_eq!(state[0].version, 6, "{:?}", state[0]);
}

fn samples_kc_url(ok: &FakeOpenKlant) -> String {
    ok.rewrite(KLANTCONTACT_URL)
}
