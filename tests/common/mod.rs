//! Test harness shared by the integration tests that need AWS: a private moto server
//! (DynamoDB, EventBridge, SQS, ... on one local port) and helpers to set up the links table,
//! an event bus whose events land in an SQS queue, and to read that queue back.
//!
//! ```ignore
//! mod common;
//! let moto = common::Moto::start();                 // fresh state, killed on drop
//! let cfg = moto.sdk_config().await;                // region, test credentials, endpoint
//! moto.create_links_table("links").await;
//! let queue = moto.create_bus_rule_queue("bus", "urn:test").await;
//! // ... put events on "bus" with Source "urn:test" ...
//! let bodies = moto.receive_all(&queue).await;      // EventBridge envelopes; CloudEvent = ["detail"]
//! ```
//!
//! moto_server is looked up on PATH, then in `<repo>/.venv/bin/`. `scripts/test` installs it
//! there (`python3 -m venv .venv && .venv/bin/pip install -c tools/requirements.txt "moto[server]"`). A missing
//! moto_server fails the test with that hint: AWS tests are never skipped silently.
#![allow(dead_code)]

pub mod cli;
pub mod faulty;
pub mod fixtures;
pub mod history;
pub mod runtime_api;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;

/// The region every test client uses.
pub const REGION: &str = "eu-west-1";
/// The two CloudEvent types zaaklink emits (the rule of [`Moto::create_bus_rule_queue`]
/// matches both).
pub const EVENT_TYPES: [&str; 2] = [
    "nl.overheid.zaken.zaak-gekoppeld",
    "nl.overheid.zaken.zaak-ontkoppeld",
];

/// A running moto server on 127.0.0.1; killed when dropped. Each one has its own, empty
/// state, so tests that start their own never see each other's tables, buses or queues.
pub struct Moto {
    /// `http://127.0.0.1:<port>`: pass as endpoint URL (or `AWS_ENDPOINT_URL`).
    pub endpoint: String,
    /// Where the server's output goes.
    pub log: PathBuf,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` on PATH or in `<repo>/.venv/bin/`.
pub fn find_moto_server() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"));
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    // A pyenv shim (`#!/usr/bin/env bash`) is not moto's console script: skip it, since the
    // launcher needs moto's own Python interpreter.
    on_path
        .chain(std::iter::once(venv))
        .find(|p| p.is_file() && python_script(p))
}

/// Whether the script's `#!` line names a Python interpreter.
fn python_script(script: &Path) -> bool {
    std::fs::read_to_string(script)
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.starts_with("#!") && l.contains("python"))
        })
        .unwrap_or(false)
}

/// The Python interpreter of a console script (its `#!` line), e.g. `.venv/bin/python3`.
fn interpreter_of(script: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(script).unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()));
    let words: Vec<&str> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    match words.as_slice() {
        [python] => PathBuf::from(python),
        // `#!/usr/bin/env python3`
        [env, python] if env.ends_with("/env") => PathBuf::from(python),
        _ => panic!(
            "{} does not start with a #!<python> line: reinstall moto with scripts/test",
            script.display()
        ),
    }
}

/// The port in werkzeug's " * Running on http://127.0.0.1:PORT" line, once it is logged.
fn logged_port(log: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(log).ok()?;
    let rest = &text[text.find("Running on http://127.0.0.1:")? + "Running on http://127.0.0.1:".len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

impl Moto {
    /// Start a fresh moto server and wait (≤ 10 s) until it answers. moto binds port 0
    /// itself and the port is read from its log, so parallel tests (and other processes)
    /// can never race for a port. Panics with the fix when moto_server is not installed
    /// (in CI too: never skipped).
    pub fn start() -> Moto {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let Some(bin) = find_moto_server() else {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "moto_server was not found on PATH nor in {}/.venv/bin{}: run scripts/test, which installs it \
                 (or by hand: python3 -m venv .venv && .venv/bin/pip install -c tools/requirements.txt \"moto[server]\")",
                env!("CARGO_MANIFEST_DIR"),
                if ci { " (CI=true: the CI script must install it)" } else { "" }
            );
        };
        let logs = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(logs).expect("create the test tmp dir under target/");
        let log = logs.join(format!(
            "moto-{}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        let out = std::fs::File::create(&log).expect("create the moto log file");
        let err = out.try_clone().expect("clone the moto log file handle");
        // moto_server's own interpreter runs the launcher that makes DynamoDB writes atomic
        // (tests/common/moto_atomic.py says why).
        let python = interpreter_of(&bin);
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/moto_atomic.py");
        let mut child = Command::new(&python)
            .arg(&launcher)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python.display(), launcher.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let fail = |child: &mut Child, why: String| -> ! {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "moto_server {why}; log {}:\n{}",
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                fail(&mut child, format!("exited ({status})"));
            }
            if let Some(port) = logged_port(&log).filter(|p| answers(*p)) {
                return Moto {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    log,
                    child,
                };
            }
            if Instant::now() > deadline {
                fail(&mut child, "did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SDK config for this server: region eu-west-1, static test credentials, the moto
    /// endpoint, latest behaviour version, the SDK's default retry config.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk_config().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config().await)
    }

    /// Create the links table (its three GSIs) as the stack does.
    pub async fn create_links_table(&self, name: &str) {
        zaaklink::store::dynamodb::create_table(&self.dynamodb().await, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Create event bus `bus`, an SQS queue, and a rule on the bus matching
    /// `source: [source]` and both zaaklink event types, targeting the queue (moto delivers
    /// matching events to it). Returns the queue URL.
    pub async fn create_bus_rule_queue(&self, bus: &str, source: &str) -> String {
        let eb = self.eventbridge().await;
        let sqs = self.sqs().await;
        eb.create_event_bus()
            .name(bus)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateEventBus {bus}: {}", dec(&e)));
        let queue = format!("{bus}-events");
        let url = sqs
            .create_queue()
            .queue_name(&queue)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateQueue {queue}: {}", dec(&e)))
            .queue_url
            .expect("CreateQueue returns the queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetQueueAttributes {queue}: {}", dec(&e)))
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("the queue has an ARN");
        let pattern = serde_json::json!({"source": [source], "detail-type": EVENT_TYPES});
        let rule = format!("{bus}-to-queue");
        eb.put_rule()
            .name(&rule)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRule {rule}: {}", dec(&e)));
        let out = eb
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("id and arn are set"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutTargets {rule}: {}", dec(&e)));
        assert_eq!(out.failed_entry_count, 0, "PutTargets {rule}: {out:?}");
        url
    }

    /// Every message in the queue, oldest first, as JSON (for EventBridge targets: the
    /// envelope, with the CloudEvent as `detail`). Long-polls until a poll of ~1 s brings
    /// nothing more; received messages are deleted.
    pub async fn receive_all(&self, queue_url: &str) -> Vec<Value> {
        let sqs = self.sqs().await;
        let mut bodies = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ReceiveMessage {queue_url}: {}", dec(&e)));
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                let body = m.body.as_deref().unwrap_or_default();
                bodies.push(
                    serde_json::from_str(body)
                        .unwrap_or_else(|e| panic!("SQS body is not JSON ({e}): {body}")),
                );
                if let Some(h) = m.receipt_handle {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("DeleteMessage: {}", dec(&e)));
                }
            }
        }
    }
}

/// Whether an HTTP server answers on 127.0.0.1:port (moto answers `GET /` with 200/404).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(s.read(&mut buf), Ok(n) if n >= 5 && buf.starts_with(b"HTTP/"))
}

fn dec<E: std::error::Error>(e: &E) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}
