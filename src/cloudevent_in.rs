//! CloudEvents in (DESIGN §1a): what the webhook body is — a classic notification or a
//! structured-mode CloudEvent 1.0 — and what a CloudEvent asks zaaklink to do, as the same
//! [`Intent`] a notification gives. Parsed with the CloudEvents SDK. Pure.
//!
//! Two kinds of CloudEvent reach zaaklink through Open Notificaties (≥ 1.14):
//! - a notification it transformed (`sendCloudevents` on a kanaal abonnement): `type` =
//!   `nl.overheid.{kanaal}.{resource}.{actie}`, `subject` = the uuid of the resource,
//!   `data` = kenmerken + `hoofdObject`; handled exactly like the notification it was;
//! - Open Klant's own `nl.overheid.zaken.zaak-gekoppeld` / `zaak-ontkoppeld`, passed through:
//!   a hint only. The onderwerpobject at `data.linkTo` is reconciled against Open Klant; nothing
//!   else of the event is used.
//!
//! Every other type is acknowledged and ignored without reading anything.

use cloudevents::{AttributesReader, Data, Event};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::notification::{self, InputError, Intent, Notification};
use crate::openklant::ApiRoot;
use crate::reconcile::EventKind;

/// The media type of a structured-mode CloudEvent (what Open Notificaties sends).
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// The media type of a CloudEvents batch: refused with 415 (Open Notificaties sends none).
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// A webhook body, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Notification(Notification),
    CloudEvent(Event),
}

/// Why a body is refused before anything is read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// 400: the body is not what its form requires.
    #[error(transparent)]
    Input(#[from] InputError),
    /// 415: a CloudEvents batch.
    #[error("a CloudEvents batch ({BATCH_CONTENT_TYPE}) is not accepted: send each event on its own, as {CONTENT_TYPE} (Open Notificaties does)")]
    Batch,
}

/// The media type of a `Content-Type` value: before any `;`, trimmed, lower case.
fn media_type(content_type: &[u8]) -> String {
    let end = content_type
        .iter()
        .position(|b| *b == b';')
        .unwrap_or(content_type.len());
    String::from_utf8_lossy(&content_type[..end])
        .trim()
        .to_ascii_lowercase()
}

/// Read a webhook body. A CloudEvent is recognised by its `Content-Type`
/// (`application/cloudevents+json`, any case, parameters allowed) or — whatever the content
/// type — by a JSON object with a `specversion` member and no `kanaal` (a notification always
/// has a `kanaal`, a CloudEvent never). Everything else is read as a notification.
pub fn parse(content_type: Option<&[u8]>, body: &[u8]) -> Result<Body, Refused> {
    let media = content_type.map(media_type).unwrap_or_default();
    if media == BATCH_CONTENT_TYPE {
        return Err(Refused::Batch);
    }
    let declared = media == CONTENT_TYPE;
    let obj = notification::json_object(body).map_err(|e| if declared { e.in_cloudevent() } else { e })?;
    if declared || (obj.contains_key("specversion") && !obj.contains_key("kanaal")) {
        Ok(Body::CloudEvent(from_object(obj)?))
    } else {
        Ok(Body::Notification(notification::from_object(obj)?))
    }
}

fn refuse(field: &str, problem: impl Into<String>) -> InputError {
    InputError::new(field, problem).in_cloudevent()
}

/// Validate a CloudEvent read as a JSON object: the required attributes (named in the
/// error), then the SDK's own checks.
pub fn from_object(obj: Map<String, Value>) -> Result<Event, InputError> {
    for name in ["specversion", "id", "source", "type"] {
        match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) => return Err(refuse(name, "is empty; CloudEvents 1.0 requires it")),
            None | Some(Value::Null) => return Err(refuse(name, "is missing; CloudEvents 1.0 requires it")),
            Some(_) => return Err(refuse(name, "must be a string")),
        }
    }
    if obj["specversion"] != "1.0" {
        return Err(refuse(
            "specversion",
            format!("is {}; zaaklink accepts CloudEvents 1.0", obj["specversion"]),
        ));
    }
    for name in ["subject", "time", "datacontenttype"] {
        if !matches!(obj.get(name), None | Some(Value::Null) | Some(Value::String(_))) {
            return Err(refuse(name, "must be a string"));
        }
    }
    if let Some(Value::String(t)) = obj.get("time") {
        chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| refuse("time", format!("is {t:?}, not an RFC 3339 timestamp")))?;
    }
    Event::deserialize(Value::Object(obj))
        .map_err(|e| refuse("body", format!("is not a valid CloudEvent ({e})")))
}

/// What the CloudEvent asks zaaklink to do; refuse (400) any URL outside the API root before
/// anything is fetched.
pub fn classify(ev: &Event, root: &ApiRoot) -> Result<Intent, InputError> {
    let ty = ev.ty();
    if EventKind::from_event_type(ty).is_some() {
        return hint(ev, root);
    }
    if let Some((kanaal, resource, actie)) = transformed(ty) {
        return notification_of(ev, kanaal, resource, actie, root);
    }
    Ok(Intent::Ignore(format!(
        "CloudEvent type {ty:?} is not about onderwerpobjecten"
    )))
}

/// Whether this is one of Open Klant's own `zaak-gekoppeld` / `zaak-ontkoppeld` (passed
/// through by Open Notificaties), which [`classify`] takes as a hint: while they arrive,
/// Open Klant's emitter is on (DESIGN §7a, "How often the pass runs").
pub fn from_open_klant(ev: &Event) -> bool {
    EventKind::from_event_type(ev.ty()).is_some()
}

/// `nl.overheid.{kanaal}.{resource}.{actie}`, as Open Notificaties names a notification it
/// turned into a CloudEvent.
fn transformed(ty: &str) -> Option<(&str, &str, &str)> {
    let mut parts = ty.strip_prefix("nl.overheid.")?.rsplitn(3, '.');
    let (actie, resource, kanaal) = (parts.next()?, parts.next()?, parts.next()?);
    [kanaal, resource, actie]
        .iter()
        .all(|p| !p.is_empty())
        .then_some((kanaal, resource, actie))
}

/// `data` as a JSON object.
fn data(ev: &Event) -> Result<&Map<String, Value>, InputError> {
    match ev.data() {
        Some(Data::Json(Value::Object(m))) => Ok(m),
        None | Some(Data::Json(Value::Null)) => Err(refuse("data", "is missing")),
        Some(_) => Err(refuse(
            "data",
            "must be a JSON object (datacontenttype application/json)",
        )),
    }
}

/// Open Klant's zaak-gekoppeld / zaak-ontkoppeld: reconcile the onderwerpobject at
/// `data.linkTo`. Whether it says gekoppeld or ontkoppeld does not matter: Open Klant is read.
fn hint(ev: &Event, root: &ApiRoot) -> Result<Intent, InputError> {
    let data = data(ev)?;
    match data.get("linkObjectType") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "Onderwerpobject" => {}
        Some(Value::String(t)) => {
            return Ok(Intent::Ignore(format!(
                "{} links a {t:?}, not an onderwerpobject",
                ev.ty()
            )))
        }
        Some(_) => return Err(refuse("data.linkObjectType", "must be a string")),
    }
    let link_to = match data.get("linkTo") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => {
            return Err(refuse("data.linkTo", "is missing; Open Klant always sends it"))
        }
        Some(_) => return Err(refuse("data.linkTo", "must be a string")),
    };
    let (url, uuid) = root.resource_uuid(link_to, "onderwerpobjecten").map_err(|e| {
        refuse(
            "data.linkTo",
            notification::refused_url(e.why, Some("onderwerpobjecten")),
        )
    })?;
    Ok(Intent::Onderwerpobject {
        uuid,
        url: url.to_string(),
        destroyed: false,
    })
}

/// A transformed notification, turned back into the [`Notification`] it was and classified by
/// the same rules. Its resourceUrl is rebuilt from the API root, the resource's collection and
/// the `subject`; for a klantcontact, `data.hoofdObject` (its own URL) must name the same one.
fn notification_of(
    ev: &Event,
    kanaal: &str,
    resource: &str,
    actie: &str,
    root: &ApiRoot,
) -> Result<Intent, InputError> {
    let collection = match (kanaal, resource) {
        (_, "onderwerpobject") => "onderwerpobjecten",
        ("klantcontacten", "klantcontact") => "klantcontacten",
        _ => {
            return Ok(Intent::Ignore(format!(
            "CloudEvent type {:?} (kanaal {kanaal:?} resource {resource:?}) is not about onderwerpobjecten",
            ev.ty()
        )))
        }
    };
    let mut kenmerken = data(ev)?.clone();
    let hoofd_object = match kenmerken.remove("hoofdObject") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => {
            return Err(refuse(
                "data.hoofdObject",
                "is missing; Open Notificaties always sends it",
            ))
        }
        Some(_) => return Err(refuse("data.hoofdObject", "must be a string")),
    };
    let subject = ev
        .subject()
        .ok_or_else(|| refuse("subject", "is missing; it names the resource's uuid"))?;
    let uuid = uuid::Uuid::try_parse(subject)
        .ok()
        .filter(|_| subject.len() == 36)
        .ok_or_else(|| {
            refuse(
                "subject",
                format!("is {subject:?}, not the hyphenated uuid of the {resource}"),
            )
        })?
        .to_string();
    if collection == "klantcontacten" {
        let named = root.resource_uuid(&hoofd_object, collection).map_err(|e| {
            refuse(
                "data.hoofdObject",
                notification::refused_url(e.why, Some("klantcontacten")),
            )
        })?;
        if named.1 != uuid {
            return Err(refuse(
                "subject",
                format!(
                    "is {subject:?} but data.hoofdObject names klantcontact {}",
                    named.1
                ),
            ));
        }
    }
    let n = Notification {
        kanaal: kanaal.to_string(),
        hoofd_object,
        resource: resource.to_string(),
        resource_url: format!("{}{collection}/{uuid}", root.as_str()),
        actie: actie.to_string(),
        aanmaakdatum: ev.time().map(|t| t.to_rfc3339()).unwrap_or_default(),
        kenmerken,
        source: Some(ev.source().to_string()),
    };
    notification::classify(&n, root).map_err(|e| {
        let field = match e.field.as_str() {
            "actie" => "type",
            "hoofdObject" => "data.hoofdObject",
            "resourceUrl" => "subject",
            other => other,
        };
        InputError::new(field, e.problem).in_cloudevent()
    })
}

#[cfg(test)]
mod tests;
