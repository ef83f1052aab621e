//! `POST /events`: a CloudEvent applied to the ZaakObjects, or refused, dropped or its answer
//! lost as the test asked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{answer, authorized, down, Drop, Inner, ZaakObject};

/// Counts a POST to /events as in flight until its answer is sent (or its connection dropped).
struct InFlight(Arc<Mutex<Inner>>);

impl InFlight {
    fn start(inner: &Arc<Mutex<Inner>>) -> Self {
        let mut s = inner.lock().expect("lock");
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight(inner.clone())
    }
}

impl std::ops::Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.in_flight -= 1;
        }
    }
}

pub(super) async fn events(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight::start(&inner);
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
    let (ev, id) = match accepted(s, headers, body) {
        Ok(accepted) => accepted,
        Err((status, id)) => return (status, id, Lost::No),
    };
    let ty = ev.get("type").and_then(Value::as_str).unwrap_or("");
    let lost = next_lost(s);
    let data = ev.get("data").cloned().unwrap_or(Value::Null);
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let link = Link {
        zaak_uuid: zaak_uuid(&text("zaak")),
        link_to: text("linkTo"),
        label: text("label"),
        link_object_type: text("linkObjectType"),
    };
    if let Some(d) = drop_reason(s, ty, &link) {
        s.dropped.push((id.clone(), d));
        return (202, id, lost);
    }
    apply(s, ty, link);
    (202, id, lost)
}

/// The event of an acceptable request and its id, or the status (and id, when known) it is
/// refused with.
fn accepted(s: &mut Inner, headers: &HeaderMap, body: &[u8]) -> Result<(Value, String), (u16, String)> {
    if down(s) {
        return Err((503, String::new()));
    }
    if let Some(status) = (!s.fail_next.is_empty()).then(|| s.fail_next.remove(0)) {
        return Err((status, String::new()));
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/cloudevents+json") {
        return Err((415, String::new()));
    }
    if !authorized(s, headers) {
        return Err((403, String::new()));
    }
    let Ok(ev) = serde_json::from_slice::<Value>(body) else {
        return Err((400, String::new()));
    };
    let id = ev.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
    let ty = ev.get("type").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || ev.get("specversion").and_then(Value::as_str).is_none() || ty.is_empty() {
        return Err((400, id));
    }
    Ok((ev, id))
}

/// How the answer to this applied event is lost, as the test asked (one fault used up).
fn next_lost(s: &mut Inner) -> Lost {
    if s.hang_after_apply > 0 {
        s.hang_after_apply -= 1;
        Lost::Hang
    } else if s.drop_after_apply > 0 {
        s.drop_after_apply -= 1;
        Lost::Drop
    } else if !s.late_after_apply.is_empty() {
        Lost::Late(s.late_after_apply.remove(0))
    } else {
        Lost::No
    }
}

/// The fields of an event's `data` the fake acts on.
struct Link {
    zaak_uuid: String,
    link_to: String,
    label: String,
    link_object_type: String,
}

/// The zaak's uuid from its `urn:uuid:` or URL form ("" when there is none).
fn zaak_uuid(zaak: &str) -> String {
    zaak.strip_prefix("urn:uuid:")
        .map(str::to_owned)
        .or_else(|| zaak.rsplit('/').find(|p| !p.is_empty()).map(str::to_owned))
        .unwrap_or_default()
}

/// Why Open Zaak would accept this event and change nothing, if it would.
fn drop_reason(s: &Inner, ty: &str, link: &Link) -> Option<Drop> {
    let gekoppeld = ty == "nl.overheid.zaken.zaak-gekoppeld";
    if s.zaken.as_ref().is_some_and(|z| !z.contains(&link.zaak_uuid)) || link.zaak_uuid.is_empty() {
        Some(Drop::UnknownZaak)
    } else if s.link_to_unreachable || link.link_to.is_empty() {
        Some(Drop::LinkToUnreachable)
    } else if gekoppeld && link.link_object_type.is_empty() {
        Some(Drop::MissingLinkObjectType)
    } else if gekoppeld && link.label.chars().count() > 80 {
        Some(Drop::LabelTooLong)
    } else {
        None
    }
}

/// `zaak-gekoppeld` creates a ZaakObject, `zaak-ontkoppeld` deletes those of the zaak and object.
fn apply(s: &mut Inner, ty: &str, link: Link) {
    let zaak_url = format!("{}/zaken/api/v1/zaken/{}", s.base, link.zaak_uuid);
    s.applied
        .push((ty.to_owned(), link.link_to.clone(), zaak_url.clone()));
    match ty {
        "nl.overheid.zaken.zaak-gekoppeld" => {
            s.next_id += 1;
            let n = s.next_id;
            s.objects.push(ZaakObject {
                uuid: format!("00000000-0000-4000-8000-{n:012}"),
                zaak: zaak_url,
                object: link.link_to,
                object_type_overige: link.link_object_type,
                relatieomschrijving: link.label,
            });
        }
        "nl.overheid.zaken.zaak-ontkoppeld" => {
            s.objects
                .retain(|o| !(o.zaak == zaak_url && o.object == link.link_to));
        }
        _ => {}
    }
}
