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
//! - `GET /zaken/api/v1/zaakobjecten?zaak=<zaak url>&object=<url>&objectType=<type>`: the
//!   ZaakObjects of a zaak, an object and/or a type (same JWT rule; 403 when reads are
//!   refused: no `zaken.lezen`), paginated as Open Zaak 1.30 (`page`, `pageSize` 100 by
//!   default and at most 500, oldest first, `next`/`previous` links, 404 past the last page).
//!
//! Tests can damage it as a caseworker or a restore would: delete ZaakObjects, duplicate one
//! (Open Zaak accepts an identical second one), add strays and unrelated ones; and make one
//! page of the list fail.
//!
//! Faults can be injected: 5xx answers, lost answers after the event was applied (never
//! answered; the connection dropped; answered only after a delay, past the client's
//! timeout), slow answers, an outage window, refused reads. ZaakObjects can be pre-filled
//! (relations made before zaaklink: onboarding, a restore).

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
    drop_after_apply: usize,
    late_after_apply: Vec<Duration>,
    refuse_reads: bool,
    read_delay: Option<Duration>,
    /// GETs of /zaakobjecten answered (any status)
    reads: usize,
    /// list pages (the `page` number of an unfiltered list) answered with this status
    failing_pages: HashMap<u32, u16>,
    /// added to a zaakobjecten answer per ZaakObject in it (a real one's list speed)
    per_listed: Option<Duration>,
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
    /// The next `n` POSTs are applied, then the connection is dropped without an answer.
    pub fn drop_after_apply(&self, n: usize) {
        self.with(|s| s.drop_after_apply += n);
    }
    /// The next `n` POSTs are applied, then answered 202 only after `after` (past a shorter
    /// client timeout the answer is lost).
    pub fn answer_late_after_apply(&self, n: usize, after: Duration) {
        self.with(|s| s.late_after_apply.extend(std::iter::repeat_n(after, n)));
    }
    /// Reads of zaakobjecten are answered 403 (an Applicatie without `zaken.lezen`).
    pub fn refuse_reads(&self, on: bool) {
        self.with(|s| s.refuse_reads = on);
    }
    /// Every zaakobjecten read is answered this late (None: at once).
    pub fn set_read_delay(&self, d: Option<Duration>) {
        self.with(|s| s.read_delay = d);
    }
    /// GETs of zaakobjecten answered so far.
    pub fn reads(&self) -> usize {
        self.with(|s| s.reads)
    }
    /// A ZaakObject made outside zaaklink (by hand, by Open Klant's own emitter, or delivered
    /// before a restore): `object` related to zaak `zaak_uuid`.
    pub fn insert_object(&self, zaak_uuid: &str, object: &str, label: &str) {
        self.with(|s| {
            s.next_id += 1;
            let n = s.next_id;
            let zaak = format!("{}/zaken/api/v1/zaken/{zaak_uuid}", s.base);
            s.objects.push(ZaakObject {
                uuid: format!("00000000-0000-4000-8000-{n:012}"),
                zaak,
                object: object.to_owned(),
                object_type_overige: "Onderwerpobject".into(),
                relatieomschrijving: label.to_owned(),
            });
        })
    }
    /// Delete every ZaakObject whose `object` is `object` (a caseworker's delete); how many.
    pub fn delete_objects(&self, object: &str) -> usize {
        self.with(|s| {
            let before = s.objects.len();
            s.objects.retain(|o| o.object != object);
            before - s.objects.len()
        })
    }
    /// Add an identical second ZaakObject beside the first one of `object` (Open Zaak accepts
    /// a second POST of the same relation); false when there is none.
    pub fn duplicate(&self, object: &str) -> bool {
        self.with(|s| {
            let Some(mut copy) = s.objects.iter().find(|o| o.object == object).cloned() else {
                return false;
            };
            s.next_id += 1;
            copy.uuid = format!("00000000-0000-4000-8000-{:012}", s.next_id);
            s.objects.push(copy);
            true
        })
    }
    /// Add this much latency to a zaakobjecten answer per ZaakObject in it (benchmarks).
    pub fn delay_per_listed(&self, d: Option<Duration>) {
        self.with(|s| s.per_listed = d);
    }
    /// Page `page` of the unfiltered list answers `status` (None: behaves again).
    pub fn fail_list_page(&self, page: u32, status: Option<u16>) {
        self.with(|s| match status {
            Some(st) => {
                s.failing_pages.insert(page, st);
            }
            None => {
                s.failing_pages.remove(&page);
            }
        })
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
    let (status, id, lost) = {
        let mut s = inner.lock().expect("lock");
        let (status, id, lost) = handle_event(&mut s, &headers, &body);
        s.posts.push((status, id.clone()));
        (status, id, lost)
    };
    match lost {
        Lost::No => {}
        Lost::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Lost::Late(d) => tokio::time::sleep(d).await,
        // Unwinding ends the connection's task: the socket closes with no answer at all.
        // (`resume_unwind` skips the panic hook: nothing is printed.)
        Lost::Drop => std::panic::resume_unwind(Box::new("fake Open Zaak drops the connection")),
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

/// How the answer to an applied event is lost (a fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    No,
    Hang,
    Drop,
    Late(Duration),
}

/// (status, event id, how the answer is lost)
fn handle_event(s: &mut Inner, headers: &HeaderMap, body: &[u8]) -> (u16, String, Lost) {
    if down(s) {
        return (503, String::new(), Lost::No);
    }
    if let Some(status) = (!s.fail_next.is_empty()).then(|| s.fail_next.remove(0)) {
        return (status, String::new(), Lost::No);
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/cloudevents+json") {
        return (415, String::new(), Lost::No);
    }
    if !authorized(s, headers) {
        return (403, String::new(), Lost::No);
    }
    let Ok(ev) = serde_json::from_slice::<Value>(body) else {
        return (400, String::new(), Lost::No);
    };
    let id = ev.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let ty = ev.get("type").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || ev.get("specversion").and_then(Value::as_str).is_none() || ty.is_empty() {
        return (400, id, Lost::No);
    }
    let hang = if s.hang_after_apply > 0 {
        s.hang_after_apply -= 1;
        Lost::Hang
    } else if s.drop_after_apply > 0 {
        s.drop_after_apply -= 1;
        Lost::Drop
    } else if !s.late_after_apply.is_empty() {
        Lost::Late(s.late_after_apply.remove(0))
    } else {
        Lost::No
    };
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
    let delay = inner.lock().expect("lock").read_delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (response, wait) = list(&inner, &headers, &q);
    if let Some(w) = wait {
        tokio::time::sleep(w).await;
    }
    response
}

/// The answer to a zaakobjecten GET, and how long to wait before giving it.
fn list(
    inner: &Mutex<Inner>,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> (Response, Option<Duration>) {
    let mut s = inner.lock().expect("lock");
    s.reads += 1;
    if down(&s) {
        return (answer(503, "down"), None);
    }
    if !authorized(&s, &headers) {
        return (
            answer(
                403,
                "Authentication credentials were not provided or are invalid.",
            ),
            None,
        );
    }
    if s.refuse_reads {
        // as Open Zaak answers an Applicatie without zaken.lezen
        return (
            answer(403, "U heeft geen toestemming om deze actie uit te voeren."),
            None,
        );
    }
    let page: u32 = match q.get("page").map(|p| p.parse::<u32>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => return (answer(404, "Ongeldige pagina."), None),
    };
    if q.keys().all(|k| k == "page" || k == "pageSize") {
        if let Some(&status) = s.failing_pages.get(&page) {
            return (answer(status, "injected failure"), None);
        }
    }
    let size = q
        .get("pageSize")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(100)
        .min(500);
    let matching: Vec<&ZaakObject> = s
        .objects
        .iter()
        .filter(|o| q.get("zaak").is_none_or(|z| *z == o.zaak))
        .filter(|o| q.get("object").is_none_or(|x| *x == o.object))
        .filter(|_| q.get("objectType").is_none_or(|t| t == "overige"))
        .collect();
    let count = matching.len();
    let start = (page as usize - 1) * size;
    if start >= count && page > 1 {
        return (answer(404, "Ongeldige pagina."), None);
    }
    let link = |p: u32| {
        let mut pairs: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.push(("page".into(), p.to_string()));
        pairs.sort();
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}/zaken/api/v1/zaakobjecten?{qs}", s.base)
    };
    let next = (start + size < count).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    let results: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(size)
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
    let wait = s.per_listed.map(|d| d * results.len() as u32);
    (
        axum::Json(json!({"count": count, "next": next, "previous": previous, "results": results}))
            .into_response(),
        wait,
    )
}
