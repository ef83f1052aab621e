//! `zaaklink audit` end to end through the CLI, against the fake Open Klant and the fake Open
//! Zaak (which lists zaakobjecten as Open Zaak 1.30 does: paginated, 404 past the end): every
//! kind of difference found exactly, `--repair` mending through the outbox and the Open Zaak
//! sink so that a second audit is equal, unrelated ZaakObjects never touched, malformed ones
//! reported and never repaired, a change on its way not reported, a side that cannot be read
//! (403 without zaken.lezen, a page failing halfway, Open Klant down) exit 2 with nothing
//! repaired. DESIGN §9.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use common::fixtures::{Scene, AUTH, TOKEN};
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;

const CLIENT: &str = "zaaklink-audit";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";

struct World {
    ok: FakeOpenKlant,
    oz: FakeOpenZaak,
    scene: Scene,
    _dir: tempfile::TempDir,
    state: PathBuf,
}

/// Objects 1..=n in Open Klant, object i linking zaak i % 3.
async fn world(n: usize) -> World {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let oz = FakeOpenZaak::start(CLIENT, SECRET).await.unwrap();
    let scene = Scene {
        suite: "audit",
        root: ok.api_root(),
    };
    for i in 1..=n {
        scene.put(&ok, i, Some(i % 3));
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    World {
        ok,
        oz,
        scene,
        _dir: dir,
        state,
    }
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl World {
    /// `zaaklink <sub>` on the state file, Open Zaak as the sink (pages of 3 on both sides).
    async fn cli(&self, sub: &str, args: &[&str]) -> Ran {
        let mut cmd = common::cli::zaaklink_cli(sub, &self.state, &self.ok.api_root(), AUTH, TOKEN);
        cmd.args(["--sink", &self.oz.base, "--resync-page-size", "3"])
            .args(args)
            .env("OPEN_ZAAK_CLIENT_ID", CLIENT)
            .env("OPEN_ZAAK_SECRET", SECRET)
            .env("ZAAKLINK_AUDIT_SETTLE", "0s");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn audit(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let r = self.cli("audit", &all).await;
        (r.code, r.json())
    }

    async fn resync(&self) {
        let r = self.cli("resync", &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// (object, zaak uuid, label) of every ZaakObject in Open Zaak, sorted.
    fn relations(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self
            .oz
            .objects()
            .into_iter()
            .map(|o| {
                (
                    o.object,
                    o.zaak.rsplit('/').next().unwrap().to_owned(),
                    o.relatieomschrijving,
                )
            })
            .collect();
        v.sort();
        v
    }
}

fn counts(report: &Value) -> [u64; 5] {
    ["missing", "stray", "duplicated", "malformed", "labelDifferent"]
        .map(|k| report["differences"][k]["count"].as_u64().unwrap_or(99))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_is_found_repaired_through_the_outbox_and_the_second_audit_is_equal() {
    let w = world(6).await;
    w.resync().await;
    assert_eq!(w.oz.objects().len(), 6);
    let (code, r) = w.audit(&[]).await;
    assert_eq!((code, r["result"].as_str()), (0, Some("equal")), "{r}");
    assert_eq!(r["sides"]["openKlantLinked"], 6);
    assert_eq!(r["sides"]["openZaakRelations"], 6);

    // The damage: a caseworker deletes one, adds a stray on a wrong zaak, duplicates one;
    // object 4 is deleted in Open Klant (nobody told zaaklink); two unrelated ZaakObjects.
    assert_eq!(w.oz.delete_objects(&w.scene.oo_url(1)), 1);
    w.oz.insert_object(&w.scene.zaak(99), &w.scene.oo_url(2), "Onderwerp 2 - (2)");
    assert!(w.oz.duplicate(&w.scene.oo_url(3)));
    w.ok.remove(&w.scene.oo_url(4));
    w.oz.insert_object(&w.scene.zaak(1), &w.scene.kc_url(1), "een klantcontact");
    w.oz.insert_object(
        &w.scene.zaak(1),
        "https://objecten.example.nl/api/v2/objects/1",
        "elders",
    );
    let before = w.relations();

    let text = w.cli("audit", &["--format", "text"]).await;
    assert_eq!(text.code, 1, "{}\n{}", text.stdout, text.stderr);
    for want in [
        "missing in Open Zaak: 1",
        "in Open Zaak but gone from Open Klant or linked to another zaak there: 2",
        "duplicated in Open Zaak (the same object twice on one zaak): 1",
        &w.scene.oo_url(1),
        &w.oz.zaak_url(&w.scene.zaak(99)),
    ] {
        assert!(text.stdout.contains(want), "{want}:\n{}", text.stdout);
    }
    let (code, r) = w.audit(&[]).await;
    assert_eq!(code, 1, "{r}");
    assert_eq!(counts(&r), [1, 2, 1, 0, 0], "{r}");
    assert_eq!(
        (r["counted"].as_u64(), r["remaining"].as_u64()),
        (Some(4), Some(4))
    );
    let missing = &r["differences"]["missing"]["examples"][0];
    assert_eq!(missing["onderwerpobject"], w.scene.id("oo", 1));
    assert_eq!(missing["openKlant"]["zaak"], w.scene.zaak(1));
    assert_eq!(missing["openKlant"]["url"], w.scene.oo_url(1));
    let dup = &r["differences"]["duplicated"]["examples"][0];
    assert_eq!(dup["openZaak"].as_array().unwrap().len(), 2);
    assert!(dup["openZaak"][0]["url"]
        .as_str()
        .unwrap()
        .contains("/zaken/api/v1/zaakobjecten/"));
    // reporting changed nothing
    assert_eq!(w.relations(), before);

    let (code, r) = w.audit(&["--repair"]).await;
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["repairs"]["objects"], 4, "{r}");
    assert_eq!(r["repairs"]["differences"], 4, "{r}");
    assert_eq!(r["remaining"], 0);

    let (code, r) = w.audit(&[]).await;
    assert_eq!((code, counts(&r)), (0, [0; 5]), "{r}");
    let mut want: Vec<(String, String, String)> = [1, 2, 3, 5, 6]
        .map(|i| {
            (
                w.scene.oo_url(i),
                w.scene.zaak(i % 3),
                format!("Onderwerp {i} - ({i})"),
            )
        })
        .into_iter()
        .chain([
            (w.scene.kc_url(1), w.scene.zaak(1), "een klantcontact".to_owned()),
            (
                "https://objecten.example.nl/api/v2/objects/1".to_owned(),
                w.scene.zaak(1),
                "elders".to_owned(),
            ),
        ])
        .collect();
    want.sort();
    assert_eq!(
        w.relations(),
        want,
        "one relation per object, the unrelated ones untouched"
    );
    assert!(
        w.oz.dropped().is_empty(),
        "every correcting event was applied: {:?}",
        w.oz.dropped()
    );

    // A relation made earlier with another label (Open Zaak keeps the first): reported, not
    // counted, left alone by --repair; --repair-labels replaces it.
    assert_eq!(w.oz.delete_objects(&w.scene.oo_url(5)), 1);
    w.oz.insert_object(&w.scene.zaak(2), &w.scene.oo_url(5), "Oude naam");
    let (code, r) = w.audit(&["--repair"]).await;
    assert_eq!((code, counts(&r)), (0, [0, 0, 0, 0, 1]), "{r}");
    assert_eq!(
        r["repairs"]["objects"], 0,
        "labels are left alone without --repair-labels"
    );
    let label = &r["differences"]["labelDifferent"]["examples"][0];
    assert_eq!(label["openKlant"]["label"], "Onderwerp 5 - (5)");
    assert_eq!(label["openZaak"][0]["label"], "Oude naam");
    let (code, r) = w.audit(&["--repair", "--repair-labels"]).await;
    assert_eq!((code, r["repairs"]["objects"].as_u64()), (0, Some(1)), "{r}");
    let (code, r) = w.audit(&[]).await;
    assert_eq!((code, counts(&r)), (0, [0; 5]), "{r}");
    assert!(w
        .relations()
        .contains(&(w.scene.oo_url(5), w.scene.zaak(2), "Onderwerp 5 - (5)".into())));

    // A malformed object under Open Klant's onderwerpobjecten: its own kind, never repaired.
    let bad = format!("{}onderwerpobjecten/geen-uuid", w.ok.api_root());
    w.oz.insert_object(&w.scene.zaak(1), &bad, "kapot");
    let (code, r) = w.audit(&["--repair"]).await;
    assert_eq!((code, counts(&r)), (1, [0, 0, 0, 1, 0]), "{r}");
    assert_eq!(r["remaining"], 1);
    assert_eq!(
        r["differences"]["malformed"]["examples"][0]["openZaak"][0]["object"],
        bad
    );
    assert!(w.relations().iter().any(|(o, _, _)| *o == bad));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_side_that_cannot_be_read_exits_2_and_repairs_nothing() {
    let w = world(7).await;
    w.resync().await;
    assert_eq!(w.oz.delete_objects(&w.scene.oo_url(1)), 1);
    let posts = w.oz.posts().len();

    // No zaken.lezen: 403 names the scope and the Applicatie.
    w.oz.refuse_reads(true);
    let r = w.cli("audit", &["--repair"]).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for want in [
        "Open Zaak could not be read",
        "zaken.lezen",
        CLIENT,
        "nothing was compared or repaired",
    ] {
        assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
    }
    assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET));
    let (code, j) = w.audit(&["--repair"]).await;
    assert_eq!(
        (code, j["result"].as_str(), j["error"]["side"].as_str()),
        (2, Some("unreadable"), Some("openZaak"))
    );
    w.oz.refuse_reads(false);

    // The second page of Open Zaak's list fails (retried, then given up): exit 2.
    w.oz.fail_list_page(2, Some(500));
    let (code, j) = w.audit(&["--repair"]).await;
    assert_eq!((code, j["error"]["side"].as_str()), (2, Some("openZaak")), "{j}");
    assert!(j["error"]["message"].as_str().unwrap().contains("500"), "{j}");
    w.oz.fail_list_page(2, None);

    // Open Klant down.
    w.ok.fail_with(Some(503));
    let (code, j) = w.audit(&["--repair"]).await;
    assert_eq!((code, j["error"]["side"].as_str()), (2, Some("openKlant")), "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Open Klant could not be read"),
        "{j}"
    );
    w.ok.fail_with(None);

    assert_eq!(
        w.oz.posts().len(),
        posts,
        "nothing was repaired from a partial read"
    );
    assert_eq!(w.oz.objects().len(), 6);

    // Open Zaak unreachable altogether.
    let r = {
        let mut cmd = common::cli::zaaklink_cli("audit", &w.state, &w.ok.api_root(), AUTH, TOKEN);
        cmd.args(["--format", "json", "--open-zaak", "http://127.0.0.1:9"])
            .env("OPEN_ZAAK_CLIENT_ID", CLIENT)
            .env("OPEN_ZAAK_SECRET", SECRET);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    assert_eq!(r.status.code(), Some(2));
    let j: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(j["error"]["side"], "openZaak", "{j}");

    // Readable again: the same audit repairs.
    let (code, j) = w.audit(&["--repair"]).await;
    assert_eq!((code, j["repairs"]["objects"].as_u64()), (0, Some(1)), "{j}");
    assert_eq!(w.oz.objects().len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_its_way_is_not_reported() {
    let w = world(3).await;
    w.resync().await;
    // Object 4 appears; the resync writes its gekoppeld to the outbox, but Open Zaak is down
    // so it stays there (pending).
    w.scene.put(&w.ok, 4, Some(1));
    w.oz.outage_for(Duration::from_secs(3600));
    let r = w.cli("resync", &[]).await;
    assert_ne!(r.code, 0, "the put failed: {}", r.stderr);
    w.oz.outage_for(Duration::ZERO);
    assert_eq!(w.oz.objects().len(), 3);

    let (code, j) = w.audit(&["--repair"]).await;
    assert_eq!((code, counts(&j)), (0, [0; 5]), "pending, not missing: {j}");
    assert_eq!(j["settling"]["pending"], 1, "{j}");
    assert_eq!(j["repairs"]["objects"], 0);

    // The sweep puts it; then it is simply equal.
    let r = w.cli("sweep", &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (code, j) = w.audit(&[]).await;
    assert_eq!((code, j["settling"]["pending"].as_u64()), (0, Some(0)), "{j}");
    assert_eq!(w.oz.objects().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_that_stop_the_audit_exit_2_naming_the_fix() {
    let w = world(1).await;
    for (args, env, want) in [
        (vec!["--sink", "stdout"], vec![], "OPEN_ZAAK_CLIENT_ID"),
        (
            vec!["--sink", "stdout"],
            vec![("OPEN_ZAAK_CLIENT_ID", CLIENT), ("OPEN_ZAAK_SECRET", SECRET)],
            "--open-zaak / OPEN_ZAAK_ROOT",
        ),
        (
            vec!["--repair", "--open-zaak", "http://127.0.0.1:9"],
            vec![
                ("OPEN_ZAAK_CLIENT_ID", CLIENT),
                ("OPEN_ZAAK_SECRET", SECRET),
                ("ENABLE_CLOUD_EVENTS", "false"),
            ],
            "ENABLE_CLOUD_EVENTS",
        ),
    ] {
        let mut cmd = common::cli::zaaklink_cli("audit", &w.state, &w.ok.api_root(), AUTH, TOKEN);
        cmd.args(&args).envs(env.iter().copied());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{want}: {stderr}");
    }
}

/// `serve --audit-every`: the scheduled audit finds a deleted ZaakObject and mends it
/// through the outbox (`--audit-repair` is on by default).
#[tokio::test(flavor = "multi_thread")]
async fn serve_audits_on_a_schedule_and_repairs() {
    let w = world(3).await;
    w.resync().await;
    assert_eq!(w.oz.delete_objects(&w.scene.oo_url(2)), 1);
    let port = common::cli::free_port();
    let log = w.state.with_extension("serve.log");
    let mut cmd = common::cli::zaaklink_cli("serve", &w.state, &w.ok.api_root(), AUTH, TOKEN);
    cmd.args(["--sink", &w.oz.base, "--listen", &format!("127.0.0.1:{port}")])
        .env("OPEN_ZAAK_CLIENT_ID", CLIENT)
        .env("OPEN_ZAAK_SECRET", SECRET)
        .env("ZAAKLINK_RESYNC_EVERY", "off")
        .env("ZAAKLINK_HEAD_POLL_EVERY", "off")
        .env("ZAAKLINK_AUDIT_EVERY", "1s")
        .env("ZAAKLINK_AUDIT_SETTLE", "0s")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    common::cli::wait_listening(port, "zaaklink serve", Some(&log));
    let deadline = std::time::Instant::now() + common::ready_within();
    while w.oz.objects().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "not repaired:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("audit: mended through the outbox"), "{logged}");
    assert!(w
        .relations()
        .contains(&(w.scene.oo_url(2), w.scene.zaak(2), "Onderwerp 2 - (2)".into())));
}

/// Open Zaak's answers are bounded: a page over 8 MiB or no page at all is a failed read
/// naming Open Zaak; a `next` link is never followed (only page numbers under the configured
/// root are asked); a 404 ends the list.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_or_huge_answers_of_open_zaak_are_bounded() {
    use std::sync::{Arc, Mutex};
    use zaaklink::audit::{HttpZaakObjecten, ZaakObjecten, ZaakObjectenError};
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = asked.clone();
    let app = axum::Router::new().route(
        "/{mode}/zaken/api/v1/zaakobjecten",
        axum::routing::get(
            move |axum::extract::Path(mode): axum::extract::Path<String>, uri: axum::http::Uri| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(uri.to_string());
                    let page2 = uri.query().unwrap_or("").contains("page=2");
                    let (status, body): (u16, String) = match (mode.as_str(), page2) {
                        ("huge", _) => (200, format!("{{\"results\": [\"{}\"]}}", "x".repeat(9 << 20))),
                        ("garbage", _) => (200, "<html>not a page</html>".to_owned()),
                        ("next", false) => (
                            200,
                            r#"{"count": 3, "next": "http://evil.example/steal", "results": [{"url": "u1", "zaak": "z", "object": "o", "relatieomschrijving": "l"}]}"#.to_owned(),
                        ),
                        _ => (404, r#"{"detail": "Ongeldige pagina."}"#.to_owned()),
                    };
                    (axum::http::StatusCode::from_u16(status).unwrap(), body)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let reader = |mode: &str| {
        HttpZaakObjecten::new(
            &format!("{base}/{mode}"),
            zaaklink::deliver::OpenZaakCredentials::new(CLIENT, SECRET),
            Duration::from_secs(30),
        )
        .unwrap()
    };
    for mode in ["huge", "garbage"] {
        match reader(mode).page(1, 500).await {
            Err(ZaakObjectenError::Failed { reason, .. }) => {
                assert!(
                    reason.contains("8388608 bytes") || reason.contains("no page"),
                    "{mode}: {reason}"
                )
            }
            other => panic!("{mode}: {other:?}"),
        }
    }
    let r = reader("next");
    let p = r.page(1, 500).await.unwrap().unwrap();
    assert_eq!(p.results.len(), 1);
    assert!(r.page(2, 500).await.unwrap().is_none(), "404 past the last page");
    assert!(asked.lock().unwrap().iter().all(|u| !u.contains("evil")));
    assert!(asked.lock().unwrap().iter().any(|u| u.contains("pageSize=500")));
}
