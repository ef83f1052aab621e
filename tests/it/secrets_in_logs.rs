//! No secret ever reaches a log or an answer.
//!
//! `zaaklink serve` runs as a process with `RUST_LOG=trace` and distinctive values for
//! WEBHOOK_AUTH and OPEN_KLANT_API_TOKEN, through a full scenario including failures (wrong
//! and near-miss Authorization, Open Klant 401 and 500, Open Klant slower than the timeout,
//! malformed bodies, a sink that refuses), plus startup configuration errors, `--help`,
//! `resync` and `sweep`, and `zaaklink demo`. Everything the processes print (stdout and
//! stderr) and every HTTP answer is searched for each secret, its token part, any 10-character
//! piece of it, its base64 (standard and URL-safe), hex, percent-encoded and SHA-256 forms.
//! The same outputs carry no metrics document (EMF is written by the Lambda functions only).
//! The Lambda binaries (`bootstrap`, `deliver`) get the same treatment in `lambda.rs`.

use crate::common;
#[path = "secrets_in_logs/lambda.rs"]
mod lambda;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::Digest;

use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;

const WEBHOOK_SECRET: &str = "Zq8-WEBHOOK-k7Pn2vXr4t";
const TOKEN: &str = "Tk3-OPENKLANT-m9Qw5yLb8s";

fn webhook_auth() -> String {
    format!("Token {WEBHOOK_SECRET}")
}

/// Every form of the secrets that must never appear.
fn forbidden() -> Vec<String> {
    let auth = webhook_auth();
    let ok_header = format!("Token {TOKEN}");
    forms(&[WEBHOOK_SECRET, TOKEN], &[auth.as_str(), ok_header.as_str()])
}

/// The forms of `distinct` secrets (also any 10-character piece of them) and of `whole`
/// values (header values that hold them).
pub(crate) fn forms(distinct: &[&str], whole: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for s in distinct.iter().chain(whole) {
        let b = s.as_bytes();
        v.push(s.to_string());
        v.push(base64::engine::general_purpose::STANDARD.encode(b));
        v.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(b));
        v.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b));
        v.push(b.iter().map(|c| format!("{c:02x}")).collect());
        v.push(b.iter().map(|c| format!("{c:02X}")).collect());
        v.push(url::form_urlencoded::byte_serialize(b).collect());
        v.push(s.replace(' ', "%20"));
        let digest = sha2::Sha256::digest(b);
        v.push(digest.iter().map(|c| format!("{c:02x}")).collect());
        v.push(format!("{:?}", digest.as_slice()));
    }
    // Any 10-character piece of the distinctive parts (a partial leak, e.g. a prefix).
    for s in distinct {
        for w in s.as_bytes().windows(10) {
            v.push(String::from_utf8(w.to_vec()).unwrap());
        }
    }
    v.sort();
    v.dedup();
    v
}

fn assert_clean(what: &str, text: &str) {
    // Metrics (EMF documents) are only for the Lambda functions' logs, never the CLI's output.
    assert!(
        !text.contains("CloudWatchMetrics"),
        "{what} contains an EMF metrics document:\n{text}"
    );
    for f in forbidden() {
        assert!(
            !text.contains(&f),
            "{what} contains the secret form {f:?}:\n{text}"
        );
    }
}

fn base_cmd(ok_root: &str, state: &Path, sub: &str) -> Command {
    let mut cmd = common::cli::zaaklink_cli(sub, state, ok_root, &webhook_auth(), TOKEN);
    cmd.env("OPEN_KLANT_TIMEOUT_MS", "400")
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1");
    cmd
}

struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(ok_root: &str, state: &Path, sink: &str, out: &Path, err: &Path) -> Serve {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = base_cmd(ok_root, state, "serve")
        .args(["--listen", &format!("127.0.0.1:{port}"), "--sink", sink])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + common::ready_within();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "zaaklink serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Serve {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    }
}

async fn post(url: &str, body: &str, auth: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// An event endpoint that refuses the first event (500) and accepts the rest.
async fn sink() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move || {
            let n = n.clone();
            async move {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::ACCEPTED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_at_trace_level_never_prints_a_secret() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("zaaklink.db");
    let (out, err) = (dir.path().join("out.log"), dir.path().join("err.log"));
    let events = sink().await;
    let serve = start(&ok.api_root(), &state, &events, &out, &err);
    let create = ok.rewrite(samples::CREATE);
    let auth = webhook_auth();
    let mut answers = Vec::new();
    let mut expect = |got: (u16, String), want: u16, what: &str| {
        assert_eq!(got.0, want, "{what}: {}", got.1);
        answers.push(got.1);
    };

    // The sink refuses the first event: 503, then the redelivery puts it.
    expect(post(&serve.url, &create, Some(&auth)).await, 503, "sink refuses");
    expect(post(&serve.url, &create, Some(&auth)).await, 204, "redelivery");
    // Wrong, near-miss and missing Authorization.
    let near_misses = [
        "Token wrong".to_string(),
        format!("Token {}", &WEBHOOK_SECRET[..WEBHOOK_SECRET.len() - 1]),
        format!("Bearer {WEBHOOK_SECRET}"),
        // (no trailing-space variant: HTTP strips optional white space around field values)
        WEBHOOK_SECRET.to_string(),
        auth.to_lowercase(),
    ];
    // (these values contain pieces of the secret themselves: they are only sent, never
    // printed by the test, and must not be printed by zaaklink)
    for a in &near_misses {
        expect(post(&serve.url, &create, Some(a)).await, 401, "near miss");
    }
    expect(post(&serve.url, &create, None).await, 401, "missing");
    // Open Klant refuses the token, fails, is slow.
    ok.put(samples::ZAAK_B);
    let update = ok.rewrite(samples::UPDATE);
    ok.fail_with(Some(401));
    expect(
        post(&serve.url, &update, Some(&auth)).await,
        502,
        "Open Klant 401",
    );
    ok.fail_with(Some(403));
    expect(
        post(&serve.url, &update, Some(&auth)).await,
        502,
        "Open Klant 403",
    );
    ok.fail_with(Some(500));
    expect(
        post(&serve.url, &update, Some(&auth)).await,
        502,
        "Open Klant 500",
    );
    ok.fail_with(None);
    ok.delay(Some(Duration::from_millis(1500)));
    expect(
        post(&serve.url, &update, Some(&auth)).await,
        502,
        "Open Klant timeout",
    );
    ok.delay(None);
    expect(post(&serve.url, &update, Some(&auth)).await, 204, "relink");
    // Malformed and hostile bodies.
    expect(
        post(&serve.url, "{\"kanaal\":", Some(&auth)).await,
        400,
        "malformed",
    );
    let evil = create.replace(&ok.base, "http://evil.example");
    expect(post(&serve.url, &evil, Some(&auth)).await, 400, "evil url");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    expect(post(&serve.url, &big, Some(&auth)).await, 413, "too big");
    ok.remove(&ok.rewrite(samples::OO_URL));
    expect(
        post(&serve.url, &ok.rewrite(samples::DESTROY), Some(&auth)).await,
        204,
        "destroy",
    );
    drop(serve);

    // Also `resync` and `sweep` with Open Klant refusing the token, at trace level.
    ok.fail_with(Some(401));
    let resync = base_cmd(&ok.api_root(), &state, "resync")
        .args(["--sink", "stdout"])
        .output()
        .unwrap();
    assert!(!resync.status.success());
    ok.fail_with(None);
    let sweep = base_cmd(&ok.api_root(), &state, "sweep")
        .args(["--sink", "stdout"])
        .output()
        .unwrap();
    assert!(sweep.status.success());

    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        stderr.contains("TRACE") || stderr.contains("\"level\":\"TRACE\""),
        "trace logging is on"
    );
    assert!(
        stderr.contains("Open Klant refused GET"),
        "the 401 is logged (without the token)"
    );
    assert_clean("serve stdout", &stdout);
    assert_clean("serve stderr", &stderr);
    assert_clean("HTTP answers", &answers.join("\n"));
    for (what, o) in [("resync", &resync), ("sweep", &sweep)] {
        assert_clean(&format!("{what} stdout"), &String::from_utf8_lossy(&o.stdout));
        assert_clean(&format!("{what} stderr"), &String::from_utf8_lossy(&o.stderr));
    }
    // The fake did get the token (so it was really sent), in the header only.
    assert!(!ok.requests().iter().any(|r| r.contains(TOKEN)), "never in a URL");
}

#[test]
fn startup_errors_and_help_never_print_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    let root = "http://127.0.0.1:9/klantinteracties/api/v1/";
    type Edit = fn(&mut Command);
    let cases: Vec<(&str, Edit)> = vec![
        ("root not a URL", |c| {
            c.env("OPEN_KLANT_API_ROOT", "not a url");
        }),
        ("root ftp", |c| {
            c.env("OPEN_KLANT_API_ROOT", "ftp://klant.example.nl/");
        }),
        ("no root", |c| {
            c.env_remove("OPEN_KLANT_API_ROOT");
        }),
        ("no token", |c| {
            c.env_remove("OPEN_KLANT_API_TOKEN");
        }),
        ("no webhook auth", |c| {
            c.env_remove("WEBHOOK_AUTH");
        }),
        ("bad enable", |c| {
            c.env("ENABLE_CLOUD_EVENTS", "maybe");
        }),
        ("bad label", |c| {
            c.env("LABEL_MAX_CHARS", "lots");
        }),
        ("bad timeout", |c| {
            c.env("OPEN_KLANT_TIMEOUT_MS", "0");
        }),
        ("bad sink", |c| {
            c.args(["--sink", "ftp://x"]);
        }),
        ("bad listen", |c| {
            c.args(["--listen", "nowhere"]);
        }),
        ("state is a folder", |c| {
            c.args(["--state", "/"]);
        }),
        ("unknown flag", |c| {
            c.arg("--no-such-flag");
        }),
    ];
    for (what, edit) in cases {
        let mut cmd = base_cmd(root, &state, "serve");
        edit(&mut cmd);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // A config that is valid after all would serve forever: stop it after a while (a
        // busy machine may take long to start it and let it fail).
        let deadline = Instant::now() + common::ready_within();
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        assert!(!o.status.success(), "{what}: startup should fail");
        assert_clean(&format!("{what} stdout"), &String::from_utf8_lossy(&o.stdout));
        assert_clean(&format!("{what} stderr"), &String::from_utf8_lossy(&o.stderr));
    }
    // Secrets given as flags, with a config error elsewhere.
    let o = base_cmd(root, &state, "serve")
        .env_remove("WEBHOOK_AUTH")
        .env_remove("OPEN_KLANT_API_TOKEN")
        .args([
            "--webhook-auth",
            &webhook_auth(),
            "--open-klant-api-token",
            TOKEN,
            "--label-max-chars",
            "lots",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("LABEL_MAX_CHARS"));
    assert_clean("flags stderr", &String::from_utf8_lossy(&o.stderr));
    // --help with the secrets in the environment (clap may show env values: hidden for these).
    for sub in ["serve", "resync", "sweep"] {
        let o = base_cmd(root, &state, sub).arg("--help").output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("WEBHOOK_AUTH"), "{text}");
        assert_clean(&format!("{sub} --help"), &text);
    }
}

#[test]
fn demo_never_prints_a_secret() {
    let o = Command::new(env!("CARGO_BIN_EXE_zaaklink"))
        .arg("demo")
        .env("RUST_LOG", "trace")
        .env("WEBHOOK_AUTH", webhook_auth())
        .env("OPEN_KLANT_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(err.contains("step 8"), "{err}");
    assert_clean("demo stdout", &out);
    assert_clean("demo stderr", &err);
    // The demo's own (public, sample) secrets are not printed either.
    for s in ["demo-webhook-secret", "demo-open-klant-token"] {
        assert!(!out.contains(s) && !err.contains(s), "the demo printed {s}");
    }
}

/// User info in a configured URL (`--sink`, OPEN_KLANT_API_ROOT) is printed as `***`
/// everywhere: startup errors, the ready line, the errors of a sink that cannot be reached
/// (the plain HTTP sink and the Open Zaak sink), and never in an answer.
#[tokio::test(flavor = "multi_thread")]
async fn user_info_in_urls_is_redacted() {
    const PASSWORD: &str = "Pw4-USERINFO-h7Gd3kLs";
    const OZ_SECRET: &str = "Oz5-OPENZAAK-r2Wq8jMx";
    let assert_redacted = |what: &str, text: &str| {
        for f in forms(&[PASSWORD, OZ_SECRET], &[]) {
            assert!(!text.contains(&f), "{what} contains {f:?}:\n{text}");
        }
        assert_clean(what, text);
    };
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let dir = tempfile::tempdir().unwrap();

    // Startup errors that show the value.
    let root = format!("http://zaaklink:{PASSWORD}@127.0.0.1:9/klantinteracties/api/v1/");
    let o = base_cmd(&root, &dir.path().join("a.db"), "serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("OPEN_KLANT_API_ROOT") && err.contains("http://***@127.0.0.1:9"),
        "{err}"
    );
    assert_redacted(
        "user info in the root",
        &format!("{err}{}", String::from_utf8_lossy(&o.stdout)),
    );
    let o = base_cmd(&ok.api_root(), &dir.path().join("b.db"), "serve")
        .args(["--sink", &format!("ftp://zaaklink:{PASSWORD}@sink.example.nl/")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("ftp://***@sink.example.nl/"), "{err}");
    assert_redacted("user info in a bad sink", &err);

    // The Open Zaak sink (OPEN_ZAAK_ROOT) with user info is refused at startup, naming the
    // fix: Open Zaak takes a JWT from the client id and secret, never `user:password@`.
    let closed = common::cli::free_port();
    let sink = format!("http://zaaklink:{PASSWORD}@127.0.0.1:{closed}/events");
    let o = base_cmd(&ok.api_root(), &dir.path().join("oz.db"), "serve")
        .env("OPEN_ZAAK_CLIENT_ID", "zaaklink")
        .env("OPEN_ZAAK_SECRET", OZ_SECRET)
        .args(["--sink", &sink])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("OPEN_ZAAK_ROOT")
            && err.contains("must not contain user info")
            && err.contains("remove the user info")
            && err.contains(&format!("http://***@127.0.0.1:{closed}")),
        "{err}"
    );
    assert_redacted("user info in the Open Zaak root", &err);

    // A sink with user info that cannot be reached: the plain HTTP sink (a generic endpoint
    // may take basic auth).
    for (i, open_zaak) in [false].into_iter().enumerate() {
        let (out, err) = (
            dir.path().join(format!("out{i}")),
            dir.path().join(format!("err{i}")),
        );
        let state = dir.path().join(format!("s{i}.db"));
        let mut cmd = base_cmd(&ok.api_root(), &state, "serve");
        if open_zaak {
            cmd.env("OPEN_ZAAK_CLIENT_ID", "zaaklink")
                .env("OPEN_ZAAK_SECRET", OZ_SECRET);
        }
        let port = common::cli::free_port();
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{port}"), "--sink", &sink])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        common::cli::wait_listening(port, "zaaklink serve", Some(&err));
        let serve = Serve {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        };
        let (status, body) = post(&serve.url, &ok.rewrite(samples::CREATE), Some(&webhook_auth())).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains("event sink did not accept") && !body.contains("127.0.0.1"),
            "{body}"
        );
        drop(serve);
        let log = format!(
            "{}{}",
            std::fs::read_to_string(&out).unwrap(),
            std::fs::read_to_string(&err).unwrap()
        );
        assert!(log.contains(&format!("http://***@127.0.0.1:{closed}")), "{log}");
        assert_redacted(
            if open_zaak { "Open Zaak sink" } else { "HTTP sink" },
            &format!("{log}{body}"),
        );
    }
}
