//! End to end through the real Lambda runtime interface: `cargo lambda watch --only-lambda-apis`
//! serves the Lambda Runtime API, the `bootstrap` binary cargo built for this test runs the real
//! `lambda_runtime` loop against it (no second compile of the crate inside the test), with moto
//! (DynamoDB + EventBridge → SQS) and a fake Open Klant behind it; the sample files under
//! `events/` are sent with `cargo lambda invoke --data-file`. The same for the `deliver`
//! binary: the sample SQS batch of `events/sqs/` through the Runtime API, against the fake
//! Open Zaak and moto's DynamoDB. Both check the metrics each invocation writes to stdout
//! (CloudWatch's embedded metric format).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;

const AUTH: &str = "Token demo-webhook-secret";
const TOKEN: &str = "e2e-token";
const SOURCE: &str = "urn:nld:oin:01823288444:openklant";
const OO: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";

fn cargo_lambda() -> Command {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cargo-lambda");
    let mut cmd = if venv.exists() {
        let mut c = Command::new(venv);
        c.arg("lambda");
        c
    } else {
        let mut c = Command::new("cargo");
        c.arg("lambda");
        c
    };
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn require_cargo_lambda() {
    let ok = cargo_lambda()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "cargo-lambda is not installed: run scripts/test (it installs cargo-lambda into .venv/) \
         or `pip install -c tools/requirements.txt cargo-lambda ziglang`"
    );
}

/// A child process stopped (with its process group) when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // The child leads its own group (`process_group(0)`), so its group id is its pid.
        // A direct killpg, not `kill -TERM -<pid>`: procps-ng 4.0.2's kill turns that
        // argument into kill(-2, SIGTERM), signalling a foreign process group.
        let pgid = self.0.id() as libc::pid_t;
        if pgid > 1 {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe { libc::killpg(pgid, libc::SIGTERM) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis` serves the functions under the name `_`.
const FUNCTION: &str = "_";

/// `cargo lambda invoke` of one event file; an invoke that gets no answer within 60 s (say,
/// the function died) is killed and reported instead of hanging the test.
fn invoke(port: u16, file: &Path) -> Result<Value, String> {
    let child = cargo_lambda()
        .args([
            "invoke",
            FUNCTION,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--data-file",
        ])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(common::ready_within()) {
        Ok(out) => out.map_err(|e| e.to_string())?,
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; pid is our own child's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            return Err(format!(
                "cargo lambda invoke {} got no answer within {} s",
                file.display(),
                common::ready_within().as_secs()
            ));
        }
    };
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Write the sample with the fake Open Klant's address in place of the sample host.
fn sample(ok: &FakeOpenKlant, dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(name);
    let text = ok.rewrite(&std::fs::read_to_string(&src).unwrap());
    let dst = dir.join(name.replace('/', "-"));
    std::fs::write(&dst, text).unwrap();
    dst
}

async fn item(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Option<Value> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key(
            "onderwerpobject",
            aws_sdk_dynamodb::types::AttributeValue::S(OO.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item.map(|i| serde_dynamo::from_item(i).unwrap())
}

/// `cargo lambda watch --only-lambda-apis` on a free port (stopped when the `Proc` drops).
fn start_watch(dir: &Path) -> (u16, Proc) {
    use std::os::unix::process::CommandExt;
    let port = common::cli::free_port();
    let log = std::fs::File::create(dir.join("watch.log")).unwrap();
    let mut cmd = cargo_lambda();
    cmd.args(["watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .process_group(0)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let watch = Proc(cmd.spawn().unwrap());
    // the function gives up at once if the Runtime API is not there yet
    common::cli::wait_listening(port, "cargo lambda watch", Some(&dir.join("watch.log")));
    (port, watch)
}

/// A binary of this very build run as the function, pointed at the emulated Runtime API, with
/// only `vars` (and PATH) in its environment; its output goes to `dir/function.log`.
fn start_function(binary: &str, port: u16, vars: &[(&str, &str)], dir: &Path) -> Proc {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(dir.join("function.log")).unwrap();
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.process_group(0).stdout(log.try_clone().unwrap()).stderr(log);
    Proc(cmd.spawn().unwrap())
}

/// The first invoke waits (up to [`common::ready_within`]) for the emulator and the function
/// to be up.
fn first_invoke(port: u16, file: &Path, dir: &Path) -> Value {
    let deadline = Instant::now() + common::ready_within();
    loop {
        match invoke(port, file) {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "the Runtime API emulator or the function never answered: {e}\n\
                     --- cargo lambda watch:\n{}\n--- function:\n{}",
                    std::fs::read_to_string(dir.join("watch.log")).unwrap_or_default(),
                    std::fs::read_to_string(dir.join("function.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn function_url_samples_through_cargo_lambda_watch() {
    require_cargo_lambda();
    let moto = common::Moto::start();
    let table = "zaaklink-e2e-links";
    let bus = "zaaklink-e2e-bus";
    moto.create_links_table(table).await;
    let queue = moto.create_bus_rule_queue(bus, SOURCE).await;
    let ddb = moto.dynamodb().await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let (port, _watch) = start_watch(dir.path());
    let api_root = ok.api_root();
    let _function = start_function(
        env!("CARGO_BIN_EXE_bootstrap"),
        port,
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("AWS_REGION", common::REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("LINKS_TABLE", table),
            ("EVENT_BUS_NAME", bus),
            ("ENABLE_CLOUD_EVENTS", "true"),
            ("NOTIFICATIONS_SOURCE", SOURCE),
            ("WEBHOOK_AUTH", AUTH),
            ("OPEN_KLANT_API_ROOT", &api_root),
            // the fake Open Klant is plain http: the Lambda refuses that without this
            ("ALLOW_PLAIN_HTTP", "true"),
            ("OPEN_KLANT_API_TOKEN", TOKEN),
            ("RUST_LOG", "info"),
            ("METRICS_NAMESPACE", METRICS_NAMESPACE),
        ],
        dir.path(),
    );

    // The first invoke waits for the emulator and the function to be up.
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let unauth = sample(&ok, dir.path(), "function-url/unauthenticated.json");
    let first = first_invoke(port, &unauth, dir.path());
    assert_eq!(first["statusCode"], 401, "{first}");
    assert_eq!(first["headers"]["content-type"], "application/problem+json");

    // (sample, Open Klant state to serve first, expected status, expected (type, zaak) events)
    type Step<'a> = (&'a str, Option<&'a str>, u16, Vec<(&'a str, &'a str)>);
    let steps: Vec<Step> = vec![
        ("function-url/missing-authorization.json", None, 401, vec![]),
        ("function-url/malformed.json", None, 400, vec![]),
        ("function-url/not-json.json", None, 400, vec![]),
        ("function-url/method-not-allowed.json", None, 405, vec![]),
        ("function-url/ignored-other-kanaal.json", None, 204, vec![]),
        (
            "function-url/link-created.json",
            None,
            204,
            vec![("zaak-gekoppeld", "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5")],
        ),
        ("function-url/duplicate-delivery.json", None, 204, vec![]),
        (
            "function-url/relinked.json",
            Some(samples::ZAAK_B),
            204,
            vec![
                ("zaak-ontkoppeld", "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5"),
                ("zaak-gekoppeld", "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"),
            ],
        ),
        (
            "function-url/changed-to-non-zaak.json",
            Some(samples::BESLUIT),
            204,
            vec![("zaak-ontkoppeld", "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f")],
        ),
        (
            "apigw-rest/link-created.json",
            Some(samples::ZAAK_A),
            204,
            vec![("zaak-gekoppeld", "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5")],
        ),
        (
            "function-url/klantcontact-deleted.json",
            None,
            204,
            vec![("zaak-ontkoppeld", "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5")],
        ),
        ("function-url/deleted.json", None, 204, vec![]),
    ];
    let mut version = 0;
    let mut events_put = 0;
    for (file, state, status, want) in steps {
        if let Some(s) = state {
            ok.put(s);
        }
        if file.contains("klantcontact-deleted") {
            ok.remove(samples::KLANTCONTACT_URL);
            ok.remove(samples::OO_URL);
        }
        let resp = invoke(port, &sample(&ok, dir.path(), file)).unwrap();
        assert_eq!(resp["statusCode"], status, "{file}: {resp}");
        let got: Vec<Value> = moto.receive_all(&queue).await;
        events_put += got.len() as u64;
        let summary: Vec<(String, String)> = got
            .iter()
            .map(|m| {
                assert_eq!(m["source"], SOURCE, "EventBridge Source");
                assert_eq!(
                    m["detail-type"], m["detail"]["type"],
                    "DetailType = CloudEvent type"
                );
                (
                    m["detail"]["type"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("nl.overheid.zaken.")
                        .to_string(),
                    m["detail"]["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(summary, want, "{file}");
        for m in &got {
            let e = &m["detail"];
            assert_eq!(e["specversion"], "1.0");
            assert_eq!(e["datacontenttype"], "application/json");
            assert_eq!(
                e["data"]["linkTo"],
                format!("{}onderwerpobjecten/{OO}", ok.api_root())
            );
            assert_eq!(e["data"]["label"], "Mijn Klantcontact Onderwerp");
        }
        // the item after each step: outbox empty, version moves only on a change
        if let Some(it) = item(&ddb, table).await {
            assert!(
                it.get("pending")
                    .is_none_or(|p| p.as_object().unwrap().is_empty()),
                "{file}: {it}"
            );
            assert!(it.get("outbox").is_none(), "{file}: {it}");
            let v = it["version"].as_u64().unwrap();
            if want.is_empty() {
                assert_eq!(v, version, "{file}: nothing changed, nothing written");
            } else {
                assert!(v > version, "{file}");
            }
            version = v;
            let linked = it.get("zaak").and_then(Value::as_str);
            let expect = match file {
                "function-url/link-created.json"
                | "apigw-rest/link-created.json"
                | "function-url/duplicate-delivery.json" => Some("a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5"),
                "function-url/relinked.json" => Some("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"),
                _ => None,
            };
            assert_eq!(linked, expect, "{file}: {it}");
        } else {
            assert!(version == 0, "{file}: the item disappeared");
        }
    }

    // the scheduled sweep runs through the same function
    let sweep = sample(&ok, dir.path(), "schedule/sweep.json");
    let resp = invoke(port, &sweep).unwrap();
    assert_eq!(resp["job"], "sweep", "{resp}");

    // Every invocation flushed its metrics to stdout (the function's log) in CloudWatch's
    // embedded metric format, before answering.
    let log = std::fs::read_to_string(dir.path().join("function.log")).unwrap();
    let (totals, lags) = emf(&log);
    assert!(lags.is_empty());
    let unauthorized = totals
        .get("Notifications/Outcome=unauthorized")
        .copied()
        .unwrap_or(0);
    // (the first invoke may be repeated while the emulator starts)
    assert!(unauthorized >= 2, "{totals:?}\n{log}");
    let mut rest = totals.clone();
    rest.remove("Notifications/Outcome=unauthorized");
    let want = counts(&[
        ("Notifications/Outcome=handled", 7),
        ("Notifications/Outcome=ignored", 1),
        ("Notifications/Outcome=rejected", 3),
        ("EventsPut", events_put),
    ]);
    assert_eq!(rest, want, "{log}");
}

const METRICS_NAMESPACE: &str = "zaaklink/e2e";

/// The sums of the counters in the EMF documents among `log`'s lines, by `Name` or
/// `Name/Outcome=<value>`, and the `DeliveryLag` values; each document checked for its
/// namespace, request id and units.
fn emf(log: &str) -> (BTreeMap<String, u64>, Vec<f64>) {
    let (mut totals, mut lags) = (BTreeMap::new(), Vec::new());
    for line in log.lines().filter(|l| l.contains("\"_aws\"")) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let cwm = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cwm["Namespace"], METRICS_NAMESPACE, "{line}");
        assert!(doc["requestId"].as_str().is_some_and(|r| !r.is_empty()), "{line}");
        let outcome = doc["Outcome"]
            .as_str()
            .map(|o| format!("/Outcome={o}"))
            .unwrap_or_default();
        for m in cwm["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            if name == "DeliveryLag" {
                assert_eq!(m["Unit"], "Milliseconds", "{line}");
                lags.extend(doc[name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()));
                continue;
            }
            assert_eq!(m["Unit"], "Count", "{line}");
            *totals.entry(format!("{name}{outcome}")).or_insert(0) += doc[name].as_u64().unwrap();
        }
    }
    (totals, lags)
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// An SQS batch (as the event source mapping sends it) of EventBridge events carrying these
/// CloudEvents, written to `dir/name`.
fn sqs_batch(dir: &Path, name: &str, cloudevents: &[Value]) -> PathBuf {
    let mut batch = SqsEvent::default();
    for (i, ce) in cloudevents.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("{name}-{i}"));
        m.receipt_handle = Some(format!("rh-{name}-{i}"));
        m.attributes.insert("ApproximateReceiveCount".into(), "1".into());
        let envelope = serde_json::json!({"version": "0", "id": format!("{name}-{i}"),
            "detail-type": ce["type"], "source": ce["source"], "detail": ce});
        m.body = Some(envelope.to_string());
        batch.records.push(m);
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(&batch).unwrap()).unwrap();
    path
}

/// The `deliver` binary of this build on the Runtime API of `cargo lambda watch`, with moto's
/// DynamoDB for its delivery state and the fake Open Zaak (plain http, so ALLOW_PLAIN_HTTP).
struct DeliverE2e {
    moto: common::Moto,
    oz: FakeOpenZaak,
    table: &'static str,
    port: u16,
    _watch: Proc,
    _function: Proc,
}

const OZ_CLIENT: &str = "zaaklink-e2e";
const OZ_SECRET: &str = "e2e-open-zaak-secret";

impl DeliverE2e {
    async fn start(dir: &Path) -> DeliverE2e {
        require_cargo_lambda();
        let moto = common::Moto::start();
        let table = "zaaklink-e2e-deliveries";
        zaaklink::deliver::log::dynamodb::create_table(&moto.dynamodb().await, table)
            .await
            .unwrap();
        let oz = FakeOpenZaak::start(OZ_CLIENT, OZ_SECRET).await.unwrap();
        let (port, watch) = start_watch(dir);
        let function = start_function(
            env!("CARGO_BIN_EXE_deliver"),
            port,
            &[
                ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
                ("AWS_REGION", common::REGION),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("OPEN_ZAAK_ROOT", oz.base.as_str()),
                // the fake Open Zaak is plain http: the Lambda refuses that without this
                ("ALLOW_PLAIN_HTTP", "true"),
                ("OPEN_ZAAK_CLIENT_ID", OZ_CLIENT),
                ("OPEN_ZAAK_SECRET", OZ_SECRET),
                ("DELIVERIES_TABLE", table),
                ("RUST_LOG", "info"),
                ("METRICS_NAMESPACE", METRICS_NAMESPACE),
            ],
            dir,
        );
        DeliverE2e {
            moto,
            oz,
            table,
            port,
            _watch: watch,
            _function: function,
        }
    }
}

/// The `deliver` binary through the real runtime loop: each invocation (an SQS batch) flushes
/// its metrics — delivered with its lag, retried, parked — before answering.
#[tokio::test(flavor = "multi_thread")]
async fn deliver_binary_writes_its_metrics_per_invocation() {
    use zaaklink::cloudevent::outbox_event;
    use zaaklink::link::ZaakLink;
    use zaaklink::reconcile::EventKind;

    let dir = tempfile::tempdir().unwrap();
    let e2e = DeliverE2e::start(dir.path()).await;
    let (oz, port) = (&e2e.oz, e2e.port);
    let function_log = || std::fs::read_to_string(dir.path().join("function.log")).unwrap_or_default();

    // An empty batch until the emulator and the function are up: it records nothing.
    let empty = sqs_batch(dir.path(), "empty", &[]);
    let deadline = Instant::now() + common::ready_within();
    while let Err(e) = invoke(port, &empty) {
        assert!(
            Instant::now() < deadline,
            "the function never answered: {e}\n{}",
            function_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(emf(&function_log()).0, counts(&[]), "{}", function_log());

    let event = |oo: &str| {
        let link = ZaakLink {
            zaak: "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5".into(),
            label: "Onderwerp".into(),
            link_to: format!("http://ok.local/klantinteracties/api/v1/onderwerpobjecten/{oo}"),
            klantcontact: "http://ok.local/klantinteracties/api/v1/klantcontacten/1".into(),
            was_klantcontact: None,
        };
        let written = chrono::Utc::now() - chrono::Duration::seconds(30);
        let stamp = zaaklink::epoch::Stamp {
            epoch: 0,
            version: 1,
            seq: 1,
        };
        let e = outbox_event(EventKind::Gekoppeld, &link, SOURCE, oo, stamp, written);
        serde_json::from_str::<Value>(&e.json).unwrap()
    };
    let resp = invoke(port, &sqs_batch(dir.path(), "delivered", &[event("oo-1")])).unwrap();
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    let (totals, lags) = emf(&function_log());
    assert_eq!(
        totals,
        counts(&[("Deliveries/Outcome=delivered", 1)]),
        "{}",
        function_log()
    );
    assert_eq!(lags.len(), 1);
    assert!((30_000.0..90_000.0).contains(&lags[0]), "lag {lags:?}");

    oz.fail_next(1, 503);
    let resp = invoke(port, &sqs_batch(dir.path(), "retried", &[event("oo-2")])).unwrap();
    assert_eq!(resp["batchItemFailures"].as_array().unwrap().len(), 1, "{resp}");
    oz.fail_next(1, 400);
    let resp = invoke(port, &sqs_batch(dir.path(), "parked", &[event("oo-3")])).unwrap();
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    let (totals, lags) = emf(&function_log());
    assert_eq!(
        totals,
        counts(&[
            ("Deliveries/Outcome=delivered", 1),
            ("Deliveries/Outcome=retried", 1),
            ("Deliveries/Outcome=parked", 1),
        ]),
        "{}",
        function_log()
    );
    assert_eq!(lags.len(), 1);
}

/// The Lambda refuses a plain-http Open Klant root unless ALLOW_PLAIN_HTTP=true: the same
/// function without it stops at startup, naming the setting and the fix.
#[test]
fn bootstrap_refuses_a_plain_http_open_klant_root_at_startup() {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_REGION", common::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        // nothing listens there: the function must stop before it reaches any AWS API
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("LINKS_TABLE", "t")
        .env("WEBHOOK_AUTH", AUTH)
        .env("OPEN_KLANT_API_TOKEN", TOKEN)
        .env(
            "OPEN_KLANT_API_ROOT",
            "http://127.0.0.1:8000/klantinteracties/api/v1/",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("OPEN_KLANT_API_ROOT"), "{log}");
    assert!(log.contains("ALLOW_PLAIN_HTTP=true"), "{log}");
}

/// `events/sqs/zaak-gekoppeld.json` (an SQS batch as the delivery queue's event source mapping
/// hands it over: the EventBridge event of a zaak-gekoppeld CloudEvent) through the real
/// `deliver` binary: Open Zaak receives the event once, as a ZaakObject, and the same message
/// again (SQS is at least once) POSTs nothing.
#[tokio::test(flavor = "multi_thread")]
async fn deliver_sqs_sample_through_cargo_lambda_watch() {
    let dir = tempfile::tempdir().unwrap();
    let e2e = DeliverE2e::start(dir.path()).await;
    let (oz, port, table) = (&e2e.oz, e2e.port, e2e.table);
    let ddb = e2e.moto.dynamodb().await;

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/sqs/zaak-gekoppeld.json");
    let batch: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let envelope: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().unwrap()).unwrap();
    let cloudevent = &envelope["detail"];
    assert_eq!(envelope["detail-type"], cloudevent["type"]);
    assert_eq!(cloudevent["type"], "nl.overheid.zaken.zaak-gekoppeld");
    let link_to = cloudevent["data"]["linkTo"].as_str().unwrap();
    let zaak = cloudevent["data"]["zaak"].as_str().unwrap();

    let resp = first_invoke(port, &file, dir.path());
    assert_eq!(resp, serde_json::json!({"batchItemFailures": []}));
    let log = || std::fs::read_to_string(dir.path().join("function.log")).unwrap_or_default();
    assert_eq!(
        oz.posts(),
        vec![(202, cloudevent["id"].as_str().unwrap().to_string())],
        "{}",
        log()
    );
    let objects = oz.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0].object, link_to);
    assert_eq!(objects[0].zaak, oz.zaak_url(zaak.trim_start_matches("urn:uuid:")));
    assert_eq!(objects[0].relatieomschrijving, cloudevent["data"]["label"]);
    assert_eq!(objects[0].object_type_overige, "Onderwerpobject");

    // the delivery state: place 1 of this onderwerpobject applied
    let item = ddb
        .get_item()
        .table_name(table)
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("object:{link_to}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the delivery state of the onderwerpobject");
    assert_eq!(
        item.get("applied"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::N("1".into())),
        "{item:?}"
    );

    // SQS delivers at least once: the same message again is skipped, nothing is POSTed
    let again = invoke(port, &file).unwrap();
    assert_eq!(again, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(oz.posts().len(), 1, "{}", log());
    assert_eq!(oz.objects().len(), 1);
}

/// Issue 17 on the Lambda: the `bootstrap` binary of this build runs its real `lambda_runtime`
/// loop against a Runtime API served by the test (`common::runtime_api`, no cargo-lambda
/// needed), with moto's DynamoDB and EventBridge → SQS behind it. Function URL requests carry
/// both CloudEvent kinds (`application/cloudevents+json`) and the classic form; repeated,
/// stale and hostile ones included. What reaches the bus and the item after each step is
/// checked; refused input changes neither.
#[tokio::test(flavor = "multi_thread")]
async fn cloudevents_through_the_bootstrap_runtime_loop_on_moto() {
    use std::os::unix::process::CommandExt;
    let moto = common::Moto::start();
    let table = "zaaklink-ce-links";
    let bus = "zaaklink-ce-bus";
    moto.create_links_table(table).await;
    let queue = moto.create_bus_rule_queue(bus, SOURCE).await;
    let ddb = moto.dynamodb().await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let dir = tempfile::tempdir().unwrap();
    let api = common::runtime_api::RuntimeApi::start().await;
    let root = ok.api_root();
    let log = std::fs::File::create(dir.path().join("function.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "zaaklink-ce")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", common::REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("LINKS_TABLE", table),
        ("EVENT_BUS_NAME", bus),
        ("ENABLE_CLOUD_EVENTS", "true"),
        ("NOTIFICATIONS_SOURCE", SOURCE),
        ("WEBHOOK_AUTH", AUTH),
        ("OPEN_KLANT_API_ROOT", root.as_str()),
        ("ALLOW_PLAIN_HTTP", "true"),
        ("OPEN_KLANT_API_TOKEN", TOKEN),
        ("RUST_LOG", "info"),
    ] {
        cmd.env(k, v);
    }
    cmd.process_group(0).stdout(log.try_clone().unwrap()).stderr(log);
    let _function = Proc(cmd.spawn().unwrap());

    let request = |file: &str| -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(file);
        serde_json::from_str(&ok.rewrite(&std::fs::read_to_string(path).unwrap())).unwrap()
    };
    // the request with its CloudEvent body edited
    let edited = |file: &str, edit: &dyn Fn(&mut Value)| -> Value {
        let mut req = request(file);
        let mut body: Value = serde_json::from_str(req["body"].as_str().unwrap()).unwrap();
        edit(&mut body);
        req["body"] = body.to_string().into();
        req
    };
    let (a, b) = (
        "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5",
        "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
    );
    let unauthenticated = {
        let mut r = request("function-url/ce-zaak-gekoppeld.json");
        r["headers"]["authorization"] = "Token wrong".into();
        r
    };
    let forged = edited("function-url/ce-zaak-gekoppeld.json", &|e| {
        e["data"]["label"] = "vervalst".into();
        e["data"]["zaak"] = format!("urn:uuid:{b}").into();
    });
    let other_host = edited("function-url/ce-zaak-ontkoppeld.json", &|e| {
        let url = e["data"]["linkTo"]
            .as_str()
            .unwrap()
            .replace("127.0.0.1", "localhost");
        e["data"]["linkTo"] = url.into();
    });

    // (what, request, Open Klant change first, status, events (type, zaak), zaak stored after)
    type Step<'a> = (
        &'a str,
        Value,
        Option<&'a str>,
        u16,
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
    );
    let steps: Vec<Step> = vec![
        (
            "hint gekoppeld, forged content",
            forged,
            None,
            204,
            vec![("zaak-gekoppeld", a)],
            Some(a),
        ),
        (
            "the same hint again",
            request("function-url/ce-zaak-gekoppeld.json"),
            None,
            204,
            vec![],
            Some(a),
        ),
        (
            "transformed klantcontact create",
            request("function-url/ce-klantcontact-create.json"),
            None,
            204,
            vec![],
            Some(a),
        ),
        (
            "classic create",
            request("function-url/link-created.json"),
            None,
            204,
            vec![],
            Some(a),
        ),
        (
            "hint ontkoppeld after a relink",
            request("function-url/ce-zaak-ontkoppeld.json"),
            Some("relink"),
            204,
            vec![("zaak-ontkoppeld", a), ("zaak-gekoppeld", b)],
            Some(b),
        ),
        (
            "stale hint gekoppeld(A)",
            request("function-url/ce-zaak-gekoppeld.json"),
            None,
            204,
            vec![],
            Some(b),
        ),
        (
            "hostile linkTo",
            request("function-url/ce-hostile-linkto-outside-root.json"),
            None,
            400,
            vec![],
            Some(b),
        ),
        ("linkTo on another host", other_host, None, 400, vec![], Some(b)),
        ("unauthenticated", unauthenticated, None, 401, vec![], Some(b)),
        (
            "batch",
            request("function-url/ce-batch.json"),
            None,
            415,
            vec![],
            Some(b),
        ),
        (
            "other type",
            request("function-url/ce-ignored-other-type.json"),
            None,
            204,
            vec![],
            Some(b),
        ),
        (
            "hint ontkoppeld after a delete",
            request("function-url/ce-zaak-ontkoppeld.json"),
            Some("delete"),
            204,
            vec![("zaak-ontkoppeld", b)],
            None,
        ),
        (
            "the same hint again",
            request("function-url/ce-zaak-ontkoppeld.json"),
            None,
            204,
            vec![],
            None,
        ),
    ];
    let mut version = 0;
    for (what, req, change, status, want, zaak) in steps {
        match change {
            Some("relink") => ok.put(samples::ZAAK_B),
            Some(_) => ok.remove(&ok.rewrite(samples::OO_URL)),
            None => {}
        }
        let gets = ok.requests().len();
        let resp = api.invoke(req).await.unwrap_or_else(|e| {
            panic!(
                "{what}: {e}\n{}",
                std::fs::read_to_string(dir.path().join("function.log")).unwrap_or_default()
            )
        });
        assert_eq!(resp["statusCode"], status, "{what}: {resp}");
        if status != 204 || what == "other type" {
            assert_eq!(ok.requests().len(), gets, "{what}: nothing read");
        }
        let got: Vec<(String, String)> = moto
            .receive_all(&queue)
            .await
            .iter()
            .map(|m| {
                let e = &m["detail"];
                assert_eq!(e["source"], SOURCE, "{what}");
                assert_eq!(e["data"]["label"], "Mijn Klantcontact Onderwerp", "{what}");
                assert_eq!(
                    e["data"]["linkTo"],
                    format!("{}onderwerpobjecten/{OO}", ok.api_root())
                );
                (
                    e["type"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("nl.overheid.zaken.")
                        .to_string(),
                    e["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|(t, z)| (t.to_string(), z.to_string())).collect();
        assert_eq!(got, want, "{what}");
        let it = item(&ddb, table).await.expect("the item");
        let v = it["version"].as_u64().unwrap();
        if want.is_empty() {
            assert_eq!(v, version, "{what}: nothing changed, nothing written");
        } else {
            assert!(v > version, "{what}");
        }
        version = v;
        assert_eq!(it.get("zaak").and_then(Value::as_str), zaak, "{what}: {it}");
        assert!(
            it.get("pending")
                .is_none_or(|p| p.as_object().unwrap().is_empty()),
            "{what}: {it}"
        );
    }
}
