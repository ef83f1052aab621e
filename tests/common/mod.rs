//! Test harness shared by the integration tests that need AWS: a fresh AWS account on the
//! test binary's shared moto server (DynamoDB, EventBridge, SQS, ... on one local port; one
//! server per test binary and module of tests/it/, not per test) and helpers to set up the links table,
//! an event bus whose events land in an SQS queue, and to read that queue back.
//!
//! ```ignore
//! mod common;
//! let moto = common::Moto::start();                 // a fresh, empty account
//! let cfg = moto.sdk_config().await;                // region, test credentials, endpoint
//! moto.create_links_table("links").await;
//! let queue = moto.create_bus_rule_queue("bus", "urn:test").await;
//! // ... put events on "bus" with Source "urn:test" ...
//! let bodies = moto.receive_all(&queue).await;      // EventBridge envelopes; CloudEvent = ["detail"]
//! ```
//!
//! moto_server is looked up in `<repo>/.venv/bin/`, then on PATH. `scripts/test` installs it
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
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use serde_json::Value;

/// The region every test client uses.
pub const REGION: &str = "eu-west-1";
/// The two CloudEvent types zaaklink emits (the rule of [`Moto::create_bus_rule_queue`]
/// matches both).
pub const EVENT_TYPES: [&str; 2] = [
    "nl.overheid.zaken.zaak-gekoppeld",
    "nl.overheid.zaken.zaak-ontkoppeld",
];

/// How long a test waits for a server or process it started (moto, `zaaklink serve`, a
/// Lambda function under `cargo lambda watch`, ...) to answer: minutes, not seconds, so that
/// the suite holds on a machine that is busy (docs/TESTING.md, "Testing on a busy machine").
/// `ZAAKLINK_TEST_READY_SECS` overrides it.
pub fn ready_within() -> Duration {
    std::env::var("ZAAKLINK_TEST_READY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(180))
}

/// How long the shared moto server of a test binary outlives the last test process that
/// uses it (nextest starts the binary's next test meanwhile; after the last one it stops).
const LINGER_SECS: u32 = 15;

/// A moto account of its own on the test binary's shared moto server (127.0.0.1). Each
/// [`Moto::start`] gets a fresh, empty AWS account, so tests never see each other's tables,
/// buses or queues even though they share one server. Dropping it does nothing: the server
/// stops by itself once no test process that uses it is alive.
pub struct Moto {
    /// `http://127.0.0.1:<port>/_account/<account id>`: pass as endpoint URL (or
    /// `AWS_ENDPOINT_URL`), with any credentials (e.g. `test`/`test`); the path selects this
    /// handle's account.
    pub endpoint: String,
    /// Where the server's output goes (shared by the tests of the binary).
    pub log: PathBuf,
    /// The AWS account id of this handle (in ARNs moto hands out).
    pub account: String,
}

/// `moto_server` in `<repo>/.venv/bin/` (where scripts/test installs the pinned version) or
/// else on PATH: the first that is a Python console script (a pyenv shim, a shell script,
/// is passed over: the tests run its Python, see [`interpreter_of`]).
pub fn find_moto_server() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"));
    std::iter::once(venv)
        .chain(on_path)
        .find(|p| p.is_file() && python_of(p).is_some())
}

/// The interpreter named by a script's `#!` line when it is a Python.
fn python_of(script: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(script).ok()?;
    let words: Vec<&str> = text
        .lines()
        .next()?
        .strip_prefix("#!")?
        .split_whitespace()
        .collect();
    let python = match words.as_slice() {
        [python] => *python,
        // `#!/usr/bin/env python3`
        [env, python] if env.ends_with("/env") => *python,
        _ => return None,
    };
    Path::new(python)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        .then(|| PathBuf::from(python))
}

/// The Python interpreter of a console script (its `#!` line), e.g. `.venv/bin/python3`.
fn interpreter_of(script: &Path) -> PathBuf {
    python_of(script).unwrap_or_else(|| {
        panic!(
            "{} does not start with a #!<python> line: reinstall moto with scripts/test",
            script.display()
        )
    })
}

/// The module of the test this process runs, when it runs one (nextest: `<binary> --exact
/// serve::name …`): the tests of one module of tests/it/ share a moto server, as they did as
/// a binary of their own, so one module's load never queues another's calls behind it.
fn test_module() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--exact" {
            return args
                .next()
                .and_then(|t| t.split_once("::").map(|(m, _)| m.to_string()));
        }
    }
    None
}

impl Moto {
    /// A fresh, empty AWS account on this test binary's shared moto server, started if no
    /// server runs yet, and waited for (≤ [`ready_within`]). Panics with the fix when
    /// moto_server is not installed (in CI too: never skipped).
    ///
    /// nextest runs every test in a process of its own, so the server is shared across
    /// processes: its files live in `<target>/tmp/moto-shared/<test binary>-<module>/`, and every step
    /// runs under the `lock` file there. `current` names the running server's directory, which
    /// holds its `port` ("PORT PID", written by the server), `moto.log`, the account counter
    /// and `clients/<pid>` of every test process that uses it. The server
    /// (tests/common/moto_atomic.py `--shared`) stops [`LINGER_SECS`] after the last of
    /// those processes has exited, so nothing outlives the test run.
    pub fn start() -> Moto {
        let Some(bin) = find_moto_server() else {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "moto_server was not found on PATH nor in {}/.venv/bin{}: run scripts/test, which installs it \
                 (or by hand: python3 -m venv .venv && .venv/bin/pip install -c tools/requirements.txt \"moto[server]\")",
                env!("CARGO_MANIFEST_DIR"),
                if ci { " (CI=true: the CI script must install it)" } else { "" }
            );
        };
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let binary = match test_module() {
            Some(module) => format!("{binary}-{module}"),
            None => binary,
        };
        let home = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("moto-shared")
            .join(binary);
        std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        let _lock = lock(&home.join("lock"));
        let server = match running_server(&home) {
            Some(dir) => dir,
            None => start_server(&bin, &home),
        };
        let accounts = server.join("accounts");
        let n: u64 = std::fs::read_to_string(&accounts)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
            + 1;
        std::fs::write(&accounts, n.to_string()).expect("write the moto account counter");
        let port = read_port(&server).expect("the running server's port file").0;
        let account = format!("{:012}", 200_000_000_000 + n);
        Moto {
            endpoint: format!("http://127.0.0.1:{port}/_account/{account}"),
            log: server.join("moto.log"),
            account,
        }
    }

    /// SDK config for this server: region eu-west-1, static test credentials, the moto
    /// endpoint, latest behaviour version, the SDK's default retry config.
    pub async fn sdk_config(&self) -> SdkConfig {
        zaaklink::aws::config_loader()
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

    /// An SSM SecureString parameter (`PutParameter`, through zaaklink's own AWS JSON call).
    pub async fn put_secure_parameter(&self, name: &str, value: &str) {
        let body = serde_json::json!({"Name": name, "Value": value, "Type": "SecureString"});
        let sdk = self.sdk_config().await;
        zaaklink::aws_json::call(
            &reqwest::Client::new(),
            &sdk,
            &zaaklink::aws_json::SSM,
            "PutParameter",
            &body,
        )
        .await
        .unwrap_or_else(|e| panic!("PutParameter {name}: {e}"));
    }

    /// A Secrets Manager secret with a `SecretString` (`CreateSecret`).
    pub async fn create_secret(&self, name: &str, value: &str) {
        let body = serde_json::json!({"Name": name, "SecretString": value});
        let sdk = self.sdk_config().await;
        let sm = &zaaklink::aws_json::SECRETS_MANAGER;
        zaaklink::aws_json::call(&reqwest::Client::new(), &sdk, sm, "CreateSecret", &body)
            .await
            .unwrap_or_else(|e| panic!("CreateSecret {name}: {e}"));
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

/// Holds an exclusive lock on `path` (created if missing) until dropped.
fn lock(path: &Path) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let deadline = Instant::now() + 2 * ready_within();
    loop {
        match file.try_lock() {
            Ok(()) => return file,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!(
                "cannot lock {} ({e}): another test process holds it while it starts moto; \
                 if none runs, delete the file",
                path.display()
            ),
        }
    }
}

/// "PORT PID" from a server directory's `port` file.
fn read_port(server: &Path) -> Option<(u16, u32)> {
    let text = std::fs::read_to_string(server.join("port")).ok()?;
    let mut words = text.split_whitespace();
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// This process's start time (`/proc/self/stat` field 22): with the pid it names this test
/// process even after the pid is reused. Empty where there is no /proc.
fn own_start_time() -> String {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(19).map(str::to_owned))
        })
        .unwrap_or_default()
}

/// Registers this test process as a client of the server in `server` (idempotent).
fn register(server: &Path) {
    let clients = server.join("clients");
    std::fs::create_dir_all(&clients).expect("create the moto clients directory");
    std::fs::write(clients.join(std::process::id().to_string()), own_start_time())
        .expect("register with the shared moto server");
}

/// The directory of the binary's running shared server, with this process registered as
/// its client, or None when none runs (or it does not answer). Called under the lock.
fn running_server(home: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(home.join("current")).ok()?;
    let dir = home.join(name.trim());
    let (port, _pid) = read_port(&dir)?;
    // registered first: under the lock the server cannot decide to stop, and once this
    // process is registered it will not
    register(&dir);
    if answers(port) {
        Some(dir)
    } else {
        let _ = std::fs::remove_file(home.join("current"));
        None
    }
}

/// Starts the binary's shared server, registered with this process as its first client,
/// and waits until it answers. Called under the lock.
fn start_server(bin: &Path, home: &Path) -> PathBuf {
    use std::os::unix::process::CommandExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{}-{nanos}", std::process::id());
    // the directories of servers that have stopped (they remove their port file on the way)
    for old in std::fs::read_dir(home).into_iter().flatten().flatten() {
        if old.path().is_dir() && !old.path().join("port").exists() {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let dir = home.join(&name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    register(&dir);
    let log = dir.join("moto.log");
    let out = std::fs::File::create(&log).expect("create the moto log file");
    let err = out.try_clone().expect("clone the moto log file handle");
    // moto_server's own interpreter runs the launcher that makes DynamoDB writes atomic and
    // serves one account per test (tests/common/moto_atomic.py says why and how)
    let python = interpreter_of(bin);
    let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/moto_atomic.py");
    let mut child = Command::new(&python)
        .arg(&launcher)
        .arg("--shared")
        .arg(&dir)
        .args(["--linger", &LINGER_SECS.to_string()])
        .env("NO_COLOR", "1")
        .env_remove("MOTO_ACCOUNT_ID")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // its own process group: it outlives this test process (nextest signals the
        // test's group when it times out a test), and stops by itself (see Moto::start)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python.display(), launcher.display()));
    let within = ready_within();
    let spawned = Instant::now();
    let deadline = spawned + within;
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
        if read_port(&dir).is_some_and(|(port, _)| answers(port)) {
            std::fs::write(home.join("current"), &name).expect("write the current moto server's name");
            // one line per server start (when, which binary, how long it took to answer)
            if let Ok(mut starts) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(home.with_file_name("starts.log"))
            {
                use std::io::Write;
                let binary = home.file_name().unwrap_or_default().to_string_lossy();
                let _ = writeln!(starts, "{nanos} {binary} {} ms", spawned.elapsed().as_millis());
            }
            return dir;
        }
        if Instant::now() > deadline {
            fail(
                &mut child,
                format!(
                    "did not answer within {} s (ZAAKLINK_TEST_READY_SECS sets the limit)",
                    within.as_secs()
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether an HTTP server answers on 127.0.0.1:port (moto answers `GET /` with 200/404).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
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
