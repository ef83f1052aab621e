//! The Lambda binaries at trace level never print a secret: `bootstrap` (webhook secret and
//! Open Klant token read from SSM on moto as deployed, or from the environment) and `deliver`
//! (Open Zaak credentials from Secrets Manager on moto), each run as a process against a
//! Runtime API served by the test (`common::runtime_api`), through good requests and
//! failures: wrong Authorization, Open Klant 401/500/slow/unreachable, Open Zaak 401/500,
//! and user info (`user:password@`) in OPEN_KLANT_API_ROOT and OPEN_ZAAK_ROOT. Everything the
//! processes print and every answer is searched for every form of every secret.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;

use crate::common::{self, runtime_api::RuntimeApi};

const WEBHOOK_SECRET: &str = "Lw5-LAMBDAHOOK-q2Rt8nVz";
const TOKEN: &str = "Lt6-LAMBDATOKEN-x4Kp9mWs";
const OZ_SECRET: &str = "Lz7-OPENZAAKSECRET-c3Jh5bQn";
const OK_USERINFO: &str = "Lu8-KLANTUSERINFO-v6Yd2fGe";
const OZ_USERINFO: &str = "Lv9-ZAAKUSERINFO-p8Nc4tHa";
const SOURCE: &str = "urn:nld:oin:01823288444:openklant";

fn auth() -> String {
    format!("Token {WEBHOOK_SECRET}")
}

fn assert_clean(what: &str, text: &str) {
    let auth = auth();
    let ok_header = format!("Token {TOKEN}");
    let forbidden = super::forms(
        &[WEBHOOK_SECRET, TOKEN, OZ_SECRET, OK_USERINFO, OZ_USERINFO],
        &[auth.as_str(), ok_header.as_str()],
    );
    for f in forbidden {
        assert!(
            !text.contains(&f),
            "{what} contains the secret form {f:?}:\n{text}"
        );
    }
}

/// A function process, stopped with its process group when the test ends (a direct
/// `killpg`, never the `kill` command).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let pgid = self.0.id() as libc::pid_t;
        if pgid > 1 {
            // SAFETY: killpg has no memory-safety preconditions; the group is our child's.
            unsafe { libc::killpg(pgid, libc::SIGTERM) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with a Lambda-like environment (nothing inherited but PATH), its output in `log`.
fn function(binary: &str, api: &str, log: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "zaaklink-test")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", common::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        // the fakes are plain http: the Lambda functions refuse that without this
        .env("ALLOW_PLAIN_HTTP", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let f = std::fs::File::create(log).unwrap();
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f);
    cmd
}

/// A process that must fail at startup: its exit, within [`common::ready_within`].
fn fails_to_start(mut cmd: Command) -> std::process::ExitStatus {
    let mut p = Proc(cmd.spawn().unwrap());
    let deadline = Instant::now() + common::ready_within();
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the function did not stop at its config error"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Function URL request of `file` (with `base` in place of the sample host).
fn request(ok_base: &str, file: &str, authorization: Option<&str>) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(file);
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("http://127.0.0.1:8000", ok_base);
    let mut ev: Value = serde_json::from_str(&text).unwrap();
    let headers = ev["headers"].as_object_mut().unwrap();
    headers.remove("authorization");
    if let Some(a) = authorization {
        headers.insert("authorization".into(), a.into());
    }
    ev
}

fn status(answer: &Result<Value, Value>) -> u16 {
    answer.as_ref().expect("an HTTP answer")["statusCode"]
        .as_u64()
        .unwrap() as u16
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_at_trace_level_never_prints_a_secret() {
    let moto = common::Moto::start();
    moto.create_links_table("links").await;
    let queue = moto.create_bus_rule_queue("bus", SOURCE).await;
    for (name, value) in [
        ("/zaaklink/webhook-auth", auth()),
        ("/zaaklink/open-klant-token", TOKEN.into()),
    ] {
        moto.put_secure_parameter(name, &value).await;
    }
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_bootstrap");
    let aws = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("LINKS_TABLE", "links"),
        ("EVENT_BUS_NAME", "bus"),
        ("ENABLE_CLOUD_EVENTS", "true"),
        ("NOTIFICATIONS_SOURCE", SOURCE),
        ("OPEN_KLANT_TIMEOUT_MS", "400"),
    ];
    let mut answers = Vec::new();

    // A: as deployed, both secrets by name from SSM.
    let api = RuntimeApi::start().await;
    let root = ok.api_root();
    let mut env = aws.to_vec();
    env.extend([
        ("WEBHOOK_AUTH_SSM_PARAMETER", "/zaaklink/webhook-auth"),
        ("OPEN_KLANT_API_TOKEN_SSM_PARAMETER", "/zaaklink/open-klant-token"),
        ("OPEN_KLANT_API_ROOT", root.as_str()),
    ]);
    let log_a = dir.path().join("bootstrap-a.log");
    let a = Proc(function(bin, &api.address, &log_a, &env).spawn().unwrap());
    let auth = auth();
    let mut expect = |got: Result<Value, Value>, want: u16, what: &str| {
        assert_eq!(status(&got), want, "{what}: {got:?}");
        answers.push(got.unwrap().to_string());
    };
    expect(
        api.invoke(request(&ok.base, "function-url/link-created.json", Some(&auth)))
            .await,
        204,
        "good",
    );
    assert_eq!(
        moto.receive_all(&queue).await.len(),
        1,
        "the good notification emitted"
    );
    for wrong in [
        "Token wrong".to_string(),
        format!("Token {}", &WEBHOOK_SECRET[..WEBHOOK_SECRET.len() - 1]),
        format!("Bearer {WEBHOOK_SECRET}"),
        WEBHOOK_SECRET.to_string(),
    ] {
        expect(
            api.invoke(request(&ok.base, "function-url/link-created.json", Some(&wrong)))
                .await,
            401,
            "wrong",
        );
    }
    expect(
        api.invoke(request(&ok.base, "function-url/link-created.json", None))
            .await,
        401,
        "missing",
    );
    ok.put(samples::ZAAK_B);
    for (fail, what) in [(500, "Open Klant 500"), (401, "Open Klant 401")] {
        ok.fail_with(Some(fail));
        expect(
            api.invoke(request(&ok.base, "function-url/relinked.json", Some(&auth)))
                .await,
            502,
            what,
        );
    }
    ok.fail_with(None);
    ok.delay(Some(Duration::from_millis(1500)));
    expect(
        api.invoke(request(&ok.base, "function-url/relinked.json", Some(&auth)))
            .await,
        502,
        "slow",
    );
    ok.delay(None);
    let mut big = request(&ok.base, "function-url/link-created.json", Some(&auth));
    big["body"] = "x".repeat(70 * 1024).into();
    expect(api.invoke(big).await, 413, "too big");
    expect(
        api.invoke(request(&ok.base, "function-url/relinked.json", Some(&auth)))
            .await,
        204,
        "relink",
    );
    drop(a);

    // B: secrets in the environment, Open Klant unreachable (a closed port).
    let closed = format!("http://127.0.0.1:{}", common::cli::free_port());
    let closed_root = format!("{closed}/klantinteracties/api/v1/");
    let api = RuntimeApi::start().await;
    let mut env = aws.to_vec();
    env.extend([
        ("WEBHOOK_AUTH", auth.as_str()),
        ("OPEN_KLANT_API_TOKEN", TOKEN),
        ("OPEN_KLANT_API_ROOT", closed_root.as_str()),
    ]);
    let log_b = dir.path().join("bootstrap-b.log");
    let b = Proc(function(bin, &api.address, &log_b, &env).spawn().unwrap());
    let got = api
        .invoke(request(&closed, "function-url/link-created.json", Some(&auth)))
        .await;
    assert_eq!(status(&got), 502, "unreachable: {got:?}");
    let body = got.unwrap()["body"].as_str().unwrap().to_string();
    assert!(
        body.contains("could not be reached") && !body.contains("127.0.0.1"),
        "{body}"
    );
    answers.push(body);
    drop(b);

    // C: user info in OPEN_KLANT_API_ROOT stops the start, redacted.
    let userinfo_root = format!("http://zaaklink:{OK_USERINFO}@127.0.0.1:9/klantinteracties/api/v1/");
    let mut env = aws.to_vec();
    env.extend([
        ("WEBHOOK_AUTH", auth.as_str()),
        ("OPEN_KLANT_API_TOKEN", TOKEN),
        ("OPEN_KLANT_API_ROOT", userinfo_root.as_str()),
    ]);
    let log_c = dir.path().join("bootstrap-c.log");
    let api = RuntimeApi::start().await;
    let exit = fails_to_start(function(bin, &api.address, &log_c, &env));
    assert!(!exit.success());

    let (a, b, c) = (
        std::fs::read_to_string(&log_a).unwrap(),
        std::fs::read_to_string(&log_b).unwrap(),
        std::fs::read_to_string(&log_c).unwrap(),
    );
    assert!(a.contains("TRACE"), "trace logging is on");
    assert!(
        a.contains("Open Klant refused GET"),
        "the 401 is logged (without the token)"
    );
    assert!(b.contains("could not reach Open Klant"), "{b}");
    assert!(
        c.contains("OPEN_KLANT_API_ROOT") && c.contains("***@127.0.0.1:9"),
        "{c}"
    );
    assert_clean("bootstrap (SSM secrets)", &a);
    assert_clean("bootstrap (env secrets, Open Klant unreachable)", &b);
    assert_clean("bootstrap (user info in the root)", &c);
    assert_clean("answers", &answers.join("\n"));
}

/// An Open Zaak that answers every request with the status set last.
async fn open_zaak(status: Arc<AtomicU16>) -> String {
    let app = axum::Router::new().fallback(move || {
        let s = status.load(Ordering::SeqCst);
        async move {
            (
                axum::http::StatusCode::from_u16(s).unwrap(),
                "{\"detail\":\"fake\"}",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr.to_string()
}

/// An SQS batch of one delivery message holding `cloudevent` (as the EventBridge rule sends it).
fn sqs_event(queue_arn: &str, cloudevent: &Value) -> Value {
    let envelope = json!({"version": "0", "id": cloudevent["id"], "detail-type": cloudevent["type"],
        "source": cloudevent["source"], "detail": cloudevent});
    json!({"Records": [{
        "messageId": cloudevent["id"], "receiptHandle": "rh", "body": envelope.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
            "SenderId": "x", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": common::REGION,
    }]})
}

#[tokio::test(flavor = "multi_thread")]
async fn deliver_at_trace_level_never_prints_a_secret() {
    let moto = common::Moto::start();
    let sdk = moto.sdk_config().await;
    zaaklink::deliver::log::dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&sdk), "deliveries")
        .await
        .unwrap();
    let sqs = moto.sqs().await;
    let queue_url = sqs
        .create_queue()
        .queue_name("deliveries")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let parked = sqs
        .create_queue()
        .queue_name("parked")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    moto.create_secret(
        "zaaklink/open-zaak",
        &json!({"client_id": "zaaklink-test", "secret": OZ_SECRET}).to_string(),
    )
    .await;
    let status = Arc::new(AtomicU16::new(500));
    let oz = open_zaak(status.clone()).await;
    let root = format!("http://{oz}");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_deliver");
    let aws = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("DELIVERIES_TABLE", "deliveries"),
        ("PARKED_QUEUE_URL", parked.as_str()),
        ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "zaaklink/open-zaak"),
        ("OPEN_ZAAK_TIMEOUT_SECONDS", "2"),
    ];
    let mut env = aws.to_vec();
    env.push(("OPEN_ZAAK_ROOT", root.as_str()));
    let api = RuntimeApi::start().await;
    let log = dir.path().join("deliver.log");
    let p = Proc(function(bin, &api.address, &log, &env).spawn().unwrap());
    let fixture: Value =
        serde_json::from_str(include_str!("../../fixtures/cloudevent-zaak-gekoppeld.json")).unwrap();
    let mut answers = Vec::new();
    for (i, (answer, failed)) in [(500, true), (401, false), (202, false)].into_iter().enumerate() {
        status.store(answer, Ordering::SeqCst);
        let mut ev = fixture.clone();
        ev["id"] = format!("f347fd1f-dac1-4870-9dd0-f6c00edf4b{i:02}").into();
        let got = api.invoke(sqs_event(&arn, &ev)).await.expect("a batch answer");
        let failures = got["batchItemFailures"].as_array().map_or(0, Vec::len);
        assert_eq!(failures > 0, failed, "Open Zaak {answer}: {got}");
        answers.push(got.to_string());
    }
    drop(p);

    // OPEN_ZAAK_ROOT that is no http(s) URL, with user info: the start fails, redacted.
    let mut env = aws.to_vec();
    let bad_root = format!("ftp://zaaklink:{OZ_USERINFO}@zaken.example.nl/");
    env.push(("OPEN_ZAAK_ROOT", bad_root.as_str()));
    let log_bad = dir.path().join("deliver-bad-root.log");
    let api = RuntimeApi::start().await;
    assert!(!fails_to_start(function(bin, &api.address, &log_bad, &env)).success());
    // An http(s) OPEN_ZAAK_ROOT with user info: refused at startup with the fix (Open Zaak
    // takes a JWT), redacted.
    let mut env = aws.to_vec();
    let userinfo_root = format!("http://zaaklink:{OZ_USERINFO}@{oz}");
    env.push(("OPEN_ZAAK_ROOT", userinfo_root.as_str()));
    let log_userinfo = dir.path().join("deliver-userinfo-root.log");
    let api = RuntimeApi::start().await;
    assert!(!fails_to_start(function(bin, &api.address, &log_userinfo, &env)).success());
    let userinfo = std::fs::read_to_string(&log_userinfo).unwrap();
    assert!(
        userinfo.contains("OPEN_ZAAK_ROOT")
            && userinfo.contains("must not contain user info")
            && userinfo.contains("remove the user info")
            && userinfo.contains(&format!("http://***@{oz}")),
        "{userinfo}"
    );
    assert_clean("deliver (root with user info)", &userinfo);

    let (text, bad) = (
        std::fs::read_to_string(&log).unwrap(),
        std::fs::read_to_string(&log_bad).unwrap(),
    );
    assert!(text.contains("TRACE"), "trace logging is on");
    assert!(
        text.contains(&format!("http://{oz}/events")),
        "the events URL is logged: {text}"
    );
    assert!(text.contains("401") && text.contains("500"), "{text}");
    assert!(
        bad.contains("OPEN_ZAAK_ROOT") && bad.contains("ftp://***@zaken.example.nl"),
        "{bad}"
    );
    assert_clean("deliver", &text);
    assert_clean("deliver (bad root)", &bad);
    assert_clean("batch answers", &answers.join("\n"));
}
