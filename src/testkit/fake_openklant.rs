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

/// A list's filters: (JSON pointer, value wanted).
type Filters = Vec<(&'static str, String)>;

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Value>,
    /// Creation order per path (Open Klant lists newest first), and its inverse.
    created: BTreeMap<String, u64>,
    order: BTreeMap<u64, String>,
    next_seq: u64,
    /// The last list's filters and the paths they match, newest first: a list page is then
    /// O(page), not a scan of every object (the benchmarks list 100,000). Dropped on every
    /// change.
    listed: Option<(Filters, Vec<String>)>,
    /// Extra latency of a list answer per object in it (a page of 500 is slower).
    per_listed: Option<Duration>,
    token: String,
    requests: Vec<String>,
    fail_status: Option<u16>,
    delay: Option<Duration>,
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
    let (fail, delay, expected, per_listed) = {
        let mut s = inner.lock().unwrap();
        s.requests.push(path_and_query.clone());
        (s.fail_status, s.delay, format!("Token {}", s.token), s.per_listed)
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
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("");
    if path == format!("{API_PATH}onderwerpobjecten") || path == format!("{API_PATH}onderwerpobjecten/") {
        let (status, body, listed) = {
            let mut s = inner.lock().unwrap();
            list(&mut s, query, &path)
        };
        if let Some(d) = per_listed {
            tokio::time::sleep(d * listed as u32).await;
        }
        return (status, axum::Json(body)).into_response();
    }
    let s = inner.lock().unwrap();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let is_kc = path.starts_with(&format!("{API_PATH}klantcontacten/"));
    for (k, v) in &params {
        // Open Klant: expand only on klantcontacten (and only known fields); nothing else.
        if !(is_kc && k == "expand" && v == "gingOverOnderwerpobjecten") {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"detail": format!("Onbekende query parameter: {k}")})),
            )
                .into_response();
        }
    }
    match s.objects.get(&path) {
        Some(v) if is_kc && !params.is_empty() => {
            let mut v = v.clone();
            let objects: Vec<Value> = v["gingOverOnderwerpobjecten"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r["url"].as_str())
                .filter_map(|u| url::Url::parse(u).ok())
                .filter_map(|u| s.objects.get(u.path()).cloned())
                .collect();
            v["_expand"] = json!({"gingOverOnderwerpobjecten": objects});
            axum::Json(v).into_response()
        }
        Some(v) => axum::Json(v.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "Niet gevonden."})),
        )
            .into_response(),
    }
}

/// The list as Open Klant serves it: only its documented filters (exact match, AND; any
/// other parameter is a 400), `pageSize` up to 500 (default 100, larger capped silently),
/// newest first, a page past the end is a 404. Returns status, body and objects listed.
fn list(s: &mut Inner, query: &str, path: &str) -> (StatusCode, Value, usize) {
    const FILTERS: [(&str, &str); 6] = [
        (
            "onderwerpobjectidentificatorCodeObjecttype",
            "/onderwerpobjectidentificator/codeObjecttype",
        ),
        (
            "onderwerpobjectidentificatorObjectId",
            "/onderwerpobjectidentificator/objectId",
        ),
        (
            "onderwerpobjectidentificatorCodeRegister",
            "/onderwerpobjectidentificator/codeRegister",
        ),
        (
            "onderwerpobjectidentificatorCodeSoortObjectId",
            "/onderwerpobjectidentificator/codeSoortObjectId",
        ),
        ("klantcontact__uuid", "/klantcontact/uuid"),
        ("wasKlantcontact__uuid", "/wasKlantcontact/uuid"),
    ];
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut filters = Vec::new();
    let mut page = 1usize;
    let mut size = 100usize;
    for (k, v) in &params {
        match k.as_str() {
            "page" => match v.parse::<usize>() {
                Ok(p) if p >= 1 => page = p,
                _ => return (StatusCode::NOT_FOUND, json!({"detail": "Ongeldige pagina."}), 0),
            },
            "pageSize" => size = v.parse::<usize>().unwrap_or(100).clamp(1, 500),
            other => match FILTERS.iter().find(|(name, _)| *name == other) {
                Some((_, pointer)) => filters.push((*pointer, v.clone())),
                None => {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({"detail": format!("Onbekende query parameter: {other}")}),
                        0,
                    )
                }
            },
        }
    }
    let start = (page - 1) * size;
    keep_matching(s, filters);
    let paths = &s.listed.as_ref().expect("just listed").1;
    let total = paths.len();
    if start >= total && page > 1 {
        return (StatusCode::NOT_FOUND, json!({"detail": "Ongeldige pagina."}), 0);
    }
    let results: Vec<Value> = paths[start.min(total)..(start + size).min(total)]
        .iter()
        .filter_map(|k| s.objects.get(k).cloned())
        .collect();
    let link = |p: usize| {
        let mut q: BTreeMap<String, String> = params.iter().cloned().collect();
        q.insert("page".into(), p.to_string());
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        format!("{}{path}?{qs}", s.base)
    };
    let next = (page * size < total).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    let n = results.len();
    (
        StatusCode::OK,
        json!({"count": total, "next": next, "previous": previous, "results": results}),
        n,
    )
}

/// Keep in `s.listed` the onderwerpobjecten these filters match, newest first: the last
/// list's when its filters were the same and nothing changed since, otherwise one scan.
fn keep_matching(s: &mut Inner, filters: Filters) {
    if s.listed.as_ref().is_none_or(|(f, _)| *f != filters) {
        let prefix = format!("{API_PATH}onderwerpobjecten/");
        let paths = s
            .order
            .values()
            .rev()
            .filter(|k| k.starts_with(&prefix))
            .filter(|k| {
                s.objects.get(*k).is_some_and(|v| {
                    filters.iter().all(|(pointer, want)| {
                        v.pointer(pointer).and_then(Value::as_str) == Some(want.as_str())
                    })
                })
            })
            .cloned()
            .collect();
        s.listed = Some((filters, paths));
    }
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
        let mut s = self.inner.lock().unwrap();
        if !s.created.contains_key(&path) {
            s.next_seq += 1;
            let seq = s.next_seq;
            s.created.insert(path.clone(), seq);
            s.order.insert(seq, path.clone());
        }
        s.objects.insert(path, v);
        s.listed = None;
    }

    /// Serve many objects at once (already with this fake's URLs): faster than [`Self::put`]
    /// for the big scenes of the benchmarks.
    pub fn put_values(&self, values: impl IntoIterator<Item = Value>) {
        let mut s = self.inner.lock().unwrap();
        for v in values {
            let url = v["url"].as_str().expect("object has a url").to_string();
            let path = url::Url::parse(&url).expect("url parses").path().to_string();
            if !s.created.contains_key(&path) {
                s.next_seq += 1;
                let seq = s.next_seq;
                s.created.insert(path.clone(), seq);
                s.order.insert(seq, path.clone());
            }
            s.objects.insert(path, v);
        }
        s.listed = None;
    }

    /// Take the next position in the list (Open Klant's `pk`, given when an insert starts)
    /// for an object whose transaction has not committed yet: it is not served until
    /// [`Self::commit_reserved`], and then lists below every object put after this call.
    pub fn reserve(&self) -> u64 {
        let mut s = self.inner.lock().unwrap();
        s.next_seq += 1;
        s.next_seq
    }

    /// The late commit: serve `sample_json` (a new object) at the position `seq` reserved
    /// earlier.
    pub fn commit_reserved(&self, seq: u64, sample_json: &str) {
        let v: Value = serde_json::from_str(&self.rewrite(sample_json)).expect("sample object is JSON");
        let url = v["url"].as_str().expect("sample object has a url").to_string();
        let path = url::Url::parse(&url)
            .expect("sample url parses")
            .path()
            .to_string();
        let mut s = self.inner.lock().unwrap();
        assert!(
            !s.created.contains_key(&path),
            "commit_reserved is for a new object"
        );
        s.created.insert(path.clone(), seq);
        s.order.insert(seq, path.clone());
        s.objects.insert(path, v);
        s.listed = None;
    }

    /// Add this much latency to a list answer per object in it.
    pub fn delay_per_listed(&self, d: Option<Duration>) {
        self.inner.lock().unwrap().per_listed = d;
    }

    /// Stop serving the object at this (sample or real) URL: 404 from now on.
    pub fn remove(&self, url: &str) {
        let path = url::Url::parse(&self.rewrite(url))
            .expect("url parses")
            .path()
            .to_string();
        let mut s = self.inner.lock().unwrap();
        s.objects.remove(&path);
        if let Some(seq) = s.created.remove(&path) {
            s.order.remove(&seq);
        }
        s.listed = None;
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
