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

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::deliver::jwt::verify_hs256;
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
    /// POSTs to /events being answered now, and the most at once (issue 24: a burst side by side)
    in_flight: usize,
    max_in_flight: usize,
    /// every applied event in the order applied: (type, object, zaak url)
    applied: Vec<(String, String, String)>,
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
            .route("/events", post(events::events))
            .route("/zaken/api/v1/zaakobjecten", get(list::zaakobjecten))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeOpenZaak { base, inner, task })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("fake Open Zaak lock"))
    }
}

mod controls;
mod events;
mod list;

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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    inner.clients.iter().any(|(id, secret)| {
        verify_hs256::<ZgwClaims>(token, secret.as_bytes())
            .is_ok_and(|claims| &claims.client_id == id && claims.iat + 3600 >= now)
    })
}

fn down(inner: &Inner) -> bool {
    inner.outage_until.is_some_and(|t| Instant::now() < t)
}
