//! A fake Open Zaak (test/demo tool, not production code) that behaves like Open Zaak 1.30
//! at its CloudEvents endpoint, served over real HTTP on 127.0.0.1:
//!
//! - `POST /events`: 415 unless `Content-Type` is exactly `application/cloudevents+json`;
//!   403 unless `Authorization: Bearer <jwt>` is HS256 signed with the secret of a known
//!   `client_id` and its `iat` is at most an hour old (one from the future is accepted, as the
//!   real one accepted an `iat` ten minutes ahead); 400 when the body is no CloudEvent;
//!   otherwise 202 `{"accepted": true, "eventId": "<id>"}` — also when it silently drops the event (label over 80 characters, an
//!   unknown zaak, a missing `linkObjectType`, a `linkTo` it cannot GET).
//!   `zaak-gekoppeld` creates a ZaakObject (objectType `overige`, `objectTypeOverige` =
//!   `linkObjectType`, `relatieomschrijving` = label, `object` = linkTo) — a repeat creates
//!   another; `zaak-ontkoppeld` deletes every ZaakObject of that zaak whose `object` is linkTo.
//! - `GET /zaken/api/v1/zaakobjecten?zaak=<zaak url>`: the ZaakObjects of a zaak (same JWT rule).
//!
//! Faults can be injected: 5xx answers, a timeout after the request arrived (the event is
//! applied, then the answer never comes), slow answers, an outage window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::deliver::ZgwClaims;

/// One ZaakObject as Open Zaak stores it (the fields zaaklink's events set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZaakObject {
    pub uuid: String,
    /// The zaak URL (`{base}/zaken/api/v1/zaken/<uuid>`).
    pub zaak: String,
    pub object: String,
    pub object_type_overige: String,
    pub relatieomschrijving: String,
}

/// Why an accepted event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    LabelTooLong,
    UnknownZaak,
    MissingLinkObjectType,
    LinkToUnreachable,
}

#[derive(Default)]
struct Inner {
    base: String,
    clients: HashMap<String, String>,
    /// `None`: every zaak exists.
    zaken: Option<Vec<String>>,
    link_to_unreachable: bool,
    objects: Vec<ZaakObject>,
    next_id: u64,
    /// every POST that reached /events: (status answered, event id)
    posts: Vec<(u16, String)>,
    dropped: Vec<(String, Drop)>,
    fail_next: Vec<u16>,
    hang_after_apply: usize,
    delay: Option<Duration>,
    outage_until: Option<Instant>,
}

/// A running fake; dropped = stopped.
pub struct FakeOpenZaak {
    /// `http://127.0.0.1:<port>`: the Open Zaak root (events go to `{base}/events`).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Drop for FakeOpenZaak {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOpenZaak {
    /// Serve on a free port of 127.0.0.1, knowing one Applicatie.
    pub async fn start(client_id: &str, secret: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            clients: HashMap::from([(client_id.to_owned(), secret.to_owned())]),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/events", post(events))
            .route("/zaken/api/v1/zaakobjecten", get(zaakobjecten))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeOpenZaak { base, inner, task })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("fake Open Zaak lock"))
    }

    /// Only these zaak uuids exist (events about others are dropped with 202).
    pub fn set_zaken(&self, uuids: &[&str]) {
        self.with(|s| s.zaken = Some(uuids.iter().map(|u| u.to_string()).collect()));
    }
    /// Open Zaak cannot GET `linkTo` (no Service with Open Klant's token): events are
    /// answered 202 and dropped.
    pub fn set_link_to_unreachable(&self, on: bool) {
        self.with(|s| s.link_to_unreachable = on);
    }
    /// The next `n` POSTs are answered `status` without being applied.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.with(|s| s.fail_next.extend(std::iter::repeat_n(status, n)));
    }
    /// The next `n` POSTs are applied, then never answered (the client times out).
    pub fn hang_after_apply(&self, n: usize) {
        self.with(|s| s.hang_after_apply += n);
    }
    /// Every answer is delayed this long (None: answer at once).
    pub fn set_delay(&self, d: Option<Duration>) {
        self.with(|s| s.delay = d);
    }
    /// Down (503 to everything) for `d` from now; `Duration::ZERO` ends an outage.
    pub fn outage_for(&self, d: Duration) {
        self.with(|s| s.outage_until = Some(Instant::now() + d));
    }
    pub fn objects(&self) -> Vec<ZaakObject> {
        self.with(|s| s.objects.clone())
    }
    /// Every POST that reached `/events`: (status answered, event id or "").
    pub fn posts(&self) -> Vec<(u16, String)> {
        self.with(|s| s.posts.clone())
    }
    pub fn dropped(&self) -> Vec<(String, Drop)> {
        self.with(|s| s.dropped.clone())
    }
    /// The zaak URL this fake uses for a zaak uuid.
    pub fn zaak_url(&self, uuid: &str) -> String {
        format!("{}/zaken/api/v1/zaken/{uuid}", self.base)
    }
}

fn answer(status: u16, detail: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(json!({"detail": detail}))).into_response()
}

/// The JWT rule: HS256, signed with a known client's secret, that client's id, fresh `iat`.
fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    inner.clients.iter().any(|(id, secret)| {
        jsonwebtoken::decode::<ZgwClaims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
            .is_ok_and(|d| &d.claims.client_id == id && d.claims.iat + 3600 >= now)
    })
}

fn down(inner: &Inner) -> bool {
    inner.outage_until.is_some_and(|t| Instant::now() < t)
}

async fn events(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = inner.lock().expect("lock").delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, id, hang) = {
        let mut s = inner.lock().expect("lock");
        let (status, id, hang) = handle_event(&mut s, &headers, &body);
        s.posts.push((status, id.clone()));
        (status, id, hang)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    match status {
        // as Open Zaak 1.30 answers (INTEROP.md), also for an event it then drops
        202 => (
            StatusCode::ACCEPTED,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"accepted": true, "eventId": id}).to_string(),
        )
            .into_response(),
        415 => answer(415, "Unsupported media type"),
        403 => answer(
            403,
            "Authentication credentials were not provided or are invalid.",
        ),
        400 => answer(400, "Invalid CloudEvent"),
        s => answer(s, "injected failure"),
    }
}

/// (status, event id, hang after applying)
fn handle_event(s: &mut Inner, headers: &HeaderMap, body: &[u8]) -> (u16, String, bool) {
    if down(s) {
        return (503, String::new(), false);
    }
    if let Some(status) = (!s.fail_next.is_empty()).then(|| s.fail_next.remove(0)) {
        return (status, String::new(), false);
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/cloudevents+json") {
        return (415, String::new(), false);
    }
    if !authorized(s, headers) {
        return (403, String::new(), false);
    }
    let Ok(ev) = serde_json::from_slice::<Value>(body) else {
        return (400, String::new(), false);
    };
    let id = ev.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let ty = ev.get("type").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || ev.get("specversion").and_then(Value::as_str).is_none() || ty.is_empty() {
        return (400, id, false);
    }
    let hang = s.hang_after_apply > 0;
    if hang {
        s.hang_after_apply -= 1;
    }
    let data = ev.get("data").cloned().unwrap_or(Value::Null);
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (zaak, link_to, label, lot) = (
        text("zaak"),
        text("linkTo"),
        text("label"),
        text("linkObjectType"),
    );
    let uuid = zaak
        .strip_prefix("urn:uuid:")
        .map(str::to_owned)
        .or_else(|| zaak.rsplit('/').find(|p| !p.is_empty()).map(str::to_owned))
        .unwrap_or_default();
    let drop = if s.zaken.as_ref().is_some_and(|z| !z.contains(&uuid)) || uuid.is_empty() {
        Some(Drop::UnknownZaak)
    } else if s.link_to_unreachable || link_to.is_empty() {
        Some(Drop::LinkToUnreachable)
    } else if ty == "nl.overheid.zaken.zaak-gekoppeld" && lot.is_empty() {
        Some(Drop::MissingLinkObjectType)
    } else if ty == "nl.overheid.zaken.zaak-gekoppeld" && label.chars().count() > 80 {
        Some(Drop::LabelTooLong)
    } else {
        None
    };
    if let Some(d) = drop {
        s.dropped.push((id.clone(), d));
        return (202, id, hang);
    }
    let zaak_url = format!("{}/zaken/api/v1/zaken/{uuid}", s.base);
    match ty {
        "nl.overheid.zaken.zaak-gekoppeld" => {
            s.next_id += 1;
            let n = s.next_id;
            s.objects.push(ZaakObject {
                uuid: format!("00000000-0000-4000-8000-{n:012}"),
                zaak: zaak_url,
                object: link_to,
                object_type_overige: lot,
                relatieomschrijving: label,
            });
        }
        "nl.overheid.zaken.zaak-ontkoppeld" => {
            s.objects.retain(|o| !(o.zaak == zaak_url && o.object == link_to));
        }
        _ => {}
    }
    (202, id, hang)
}

async fn zaakobjecten(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, uri: Uri) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let s = inner.lock().expect("lock");
    if down(&s) {
        return answer(503, "down");
    }
    if !authorized(&s, &headers) {
        return answer(
            403,
            "Authentication credentials were not provided or are invalid.",
        );
    }
    let results: Vec<Value> = s
        .objects
        .iter()
        .filter(|o| q.get("zaak").is_none_or(|z| *z == o.zaak))
        .map(|o| {
            json!({
                "url": format!("{}/zaken/api/v1/zaakobjecten/{}", s.base, o.uuid),
                "uuid": o.uuid,
                "zaak": o.zaak,
                "object": o.object,
                "objectType": "overige",
                "objectTypeOverige": o.object_type_overige,
                "relatieomschrijving": o.relatieomschrijving,
            })
        })
        .collect();
    axum::Json(json!({"count": results.len(), "next": null, "previous": null, "results": results}))
        .into_response()
}
