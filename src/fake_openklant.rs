//! A small Open Klant (klantinteracties API v1) served over real HTTP on 127.0.0.1, holding
//! whatever objects it is given. `zaaklink demo` runs against it, and so do the tests: the
//! HTTP adapter, URL guard, auth header and status handling are exercised for real.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The host the sample files under `events/` and `tests/fixtures` use.
pub const SAMPLE_BASE: &str = "http://127.0.0.1:8000";
pub const API_PATH: &str = "/klantinteracties/api/v1/";

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Value>,
    token: String,
    requests: Vec<String>,
    fail_status: Option<u16>,
    delay: Option<Duration>,
    page_size: usize,
    base: String,
}

/// A running fake; dropped = stopped.
pub struct FakeOpenKlant {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenKlant {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(inner): State<Arc<Mutex<Inner>>>, uri: Uri, headers: HeaderMap) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (fail, delay, expected) = {
        let mut s = inner.lock().unwrap();
        s.requests.push(path_and_query.clone());
        (s.fail_status, s.delay, format!("Token {}", s.token))
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(status) = fail {
        return (StatusCode::from_u16(status).unwrap(), "injected failure").into_response();
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"detail": "Ongeldige token."})),
        )
            .into_response();
    }
    let s = inner.lock().unwrap();
    let path = uri.path().to_string();
    if path == format!("{API_PATH}onderwerpobjecten") || path == format!("{API_PATH}onderwerpobjecten/") {
        return list(&s, uri.query().unwrap_or(""), &path).into_response();
    }
    match s.objects.get(&path) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "Niet gevonden."})),
        )
            .into_response(),
    }
}

fn list(s: &Inner, query: &str, path: &str) -> axum::Json<Value> {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let filter = params.get("onderwerpobjectidentificatorCodeObjecttype");
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all: Vec<&Value> = s
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{API_PATH}onderwerpobjecten/")))
        .map(|(_, v)| v)
        .filter(|v| {
            filter.is_none_or(|f| {
                v["onderwerpobjectidentificator"]["codeObjecttype"].as_str() == Some(f.as_str())
            })
        })
        .collect();
    let size = s.page_size.max(1);
    let results: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|v| (*v).clone())
        .collect();
    let next = (page * size < all.len()).then(|| {
        let mut q = params.clone();
        q.insert("page".into(), (page + 1).to_string());
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("{}{path}?{qs}", s.base)
    });
    axum::Json(json!({"count": all.len(), "next": next, "previous": null, "results": results}))
}

impl FakeOpenKlant {
    /// Start on a free 127.0.0.1 port; requests must carry `Authorization: Token <token>`.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        Self::start_at("127.0.0.1:0".parse().expect("a socket address"), token).await
    }

    /// Start on the given address (`zaaklink fake-open-klant`).
    pub async fn start_at(addr: std::net::SocketAddr, token: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            page_size: 2,
            base: base.clone(),
            ..Default::default()
        }));
        let app = axum::Router::new().fallback(serve).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeOpenKlant { base, inner, task })
    }

    /// `OPEN_KLANT_API_ROOT` for this fake.
    pub fn api_root(&self) -> String {
        format!("{}{API_PATH}", self.base)
    }

    /// Sample text with the sample host replaced by this fake's address.
    pub fn rewrite(&self, sample: &str) -> String {
        sample.replace(SAMPLE_BASE, &self.base)
    }

    /// Serve `object` (sample JSON; its `url` says where) from now on.
    pub fn put(&self, sample_json: &str) {
        let v: Value = serde_json::from_str(&self.rewrite(sample_json)).expect("sample object is JSON");
        let url = v["url"].as_str().expect("sample object has a url").to_string();
        let path = url::Url::parse(&url)
            .expect("sample url parses")
            .path()
            .to_string();
        self.inner.lock().unwrap().objects.insert(path, v);
    }

    /// Stop serving the object at this (sample or real) URL: 404 from now on.
    pub fn remove(&self, url: &str) {
        let path = url::Url::parse(&self.rewrite(url))
            .expect("url parses")
            .path()
            .to_string();
        self.inner.lock().unwrap().objects.remove(&path);
    }

    /// Answer every request with this status (None = behave).
    pub fn fail_with(&self, status: Option<u16>) {
        self.inner.lock().unwrap().fail_status = status;
    }

    /// Wait this long before answering.
    pub fn delay(&self, d: Option<Duration>) {
        self.inner.lock().unwrap().delay = d;
    }

    /// Requests seen so far (path and query), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }
}
