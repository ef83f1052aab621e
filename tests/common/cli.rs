//! Helpers for the tests that run the `zaaklink` binary as a process: a free port, waiting
//! for a listener, the CLI with a clean environment, and an HTTP sink that collects events.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `NOTIFICATIONS_SOURCE` every CLI test runs with.
pub const SOURCE: &str = "urn:nld:oin:01823288444:openklant";

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait (up to [`super::ready_within`], minutes) until something listens on
/// 127.0.0.1:`port`; on timeout, fail with `what` and the content of `log` (if any).
pub fn wait_listening(port: u16, what: &str, log: Option<&Path>) {
    let within = super::ready_within();
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {} s:\n{}",
            within.as_secs(),
            log.and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `zaaklink <sub> --state <state>` with only the settings it needs in its environment:
/// emission on with [`SOURCE`], the given webhook `auth`, Open Klant at `api_root` with
/// `token`, `RUST_LOG=info`, stdin closed. Callers add `--sink`, `--listen`, more env.
pub fn zaaklink_cli(sub: &str, state: &Path, api_root: &str, auth: &str, token: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zaaklink"));
    cmd.arg(sub)
        .arg("--state")
        .arg(state)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ENABLE_CLOUD_EVENTS", "true")
        .env("NOTIFICATIONS_SOURCE", SOURCE)
        .env("WEBHOOK_AUTH", auth)
        .env("OPEN_KLANT_API_ROOT", api_root)
        .env("OPEN_KLANT_API_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// An HTTP sink on 127.0.0.1 that answers 202 and keeps every CloudEvent POSTed to
/// `/events`: (its URL, what it received).
pub async fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}
