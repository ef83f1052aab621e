//! One CloudEvent as `deliver` sees it (pure): its id and type, the key and place that order
//! it among its onderwerpobject's events, the checks that refuse what Open Zaak would accept
//! with 202 and then silently drop, and the body that is POSTed (the documented shape only).

use serde_json::{Map, Value};

use crate::cloudevent::{POSTED_ATTRIBUTES, SEQUENCE_ATTRIBUTE};
use crate::reconcile::EventKind;

/// Open Zaak's `relatieomschrijving` holds at most this many characters; a longer label is
/// answered 202 and dropped.
pub const MAX_LABEL_CHARS: usize = 80;

/// Where an event stands in its onderwerpobject's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The delivery-state key: `object:<data.linkTo>` (the onderwerpobject URL, unique per
    /// onderwerpobject) for sequenced events; `event:<id>` for a legacy event without a
    /// `sequence`, which then only gets once-per-id (its own "object" with place 1).
    pub key: String,
    /// 1, 2, 3, … per onderwerpobject; 1 for a legacy event.
    pub seq: u64,
    /// Whether the event carried a `sequence` (false: written before the upgrade).
    pub ordered: bool,
}

/// A parsed CloudEvent, ready to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryEvent {
    pub id: String,
    /// `None` for a type zaaklink does not emit (refused as a silent drop).
    pub kind: Option<EventKind>,
    pub event_type: String,
    pub place: Place,
    /// `data.zaak` as sent (`urn:uuid:…` or a URL).
    pub zaak: String,
    /// `data.linkTo`.
    pub link_to: String,
    /// The `time` attribute (when the transition was written), if it is an RFC 3339 time.
    pub time: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The exact bytes POSTed: the CloudEvent with only the [`POSTED_ATTRIBUTES`], in the
    /// order they came, re-serialised compactly.
    pub body: Vec<u8>,
    /// Why Open Zaak would accept this event and drop it (`Some`: park, never POST).
    pub refusal: Option<String>,
}

/// Parses the CloudEvent (structured-mode JSON). `Err`: it is no CloudEvent at all
/// (not a JSON object, no `id`, no `specversion`, a `sequence` that is no positive integer).
pub fn parse(cloudevent: &Value) -> Result<DeliveryEvent, String> {
    let object = cloudevent.as_object().ok_or("not a JSON object")?;
    let id = match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err("missing or empty string \"id\"".into()),
    };
    if !matches!(object.get("specversion"), Some(Value::String(_))) {
        return Err(format!("event {id}: missing \"specversion\""));
    }
    let event_type = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let data = object.get("data").and_then(Value::as_object);
    let text = |name: &str| {
        data.and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (zaak, link_to, label, link_object_type) = (
        text("zaak"),
        text("linkTo"),
        text("label"),
        text("linkObjectType"),
    );

    let place = place(sequence(object, &id)?, &link_to, &id);

    let time = object
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let kind = EventKind::from_event_type(&event_type);
    let refusal = refusal(kind, &event_type, &zaak, &link_to, &label, &link_object_type);

    let posted: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| POSTED_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = serde_json::to_vec(&posted).map_err(|e| e.to_string())?;
    Ok(DeliveryEvent {
        id,
        kind,
        event_type,
        place,
        zaak,
        link_to,
        time,
        body,
        refusal,
    })
}

/// The event's `sequence` (absent or null: None). `Err`: one that is no positive integer.
fn sequence(object: &Map<String, Value>, id: &str) -> Result<Option<u64>, String> {
    Ok(match object.get(SEQUENCE_ATTRIBUTE) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("event {id}: \"sequence\" {s:?} is not a positive integer"))?,
        ),
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("event {id}: \"sequence\" {n} is not a positive integer"))?,
        ),
        Some(other) => {
            return Err(format!(
                "event {id}: \"sequence\" {other} is not a positive integer"
            ))
        }
    })
}

/// Where the event is applied in order: an event with a sequence and a `linkTo` at its
/// place in that object's order; any other on its own.
fn place(seq: Option<u64>, link_to: &str, id: &str) -> Place {
    match seq {
        Some(seq) if !link_to.is_empty() => Place {
            key: format!("object:{link_to}"),
            seq,
            ordered: true,
        },
        _ => Place {
            key: format!("event:{id}"),
            seq: 1,
            ordered: false,
        },
    }
}

/// The body of a `zaak-ontkoppeld` that removes the relation of `ev`'s `linkTo` to
/// `zaak_url` (a zaak as Open Zaak lists it): `ev`'s posted attributes with the type
/// `zaak-ontkoppeld`, that zaak (as `urn:uuid:<uuid>` when its last path segment is a
/// uuid, the URL otherwise) as `data.zaak` and `subject`, and an id derived from `ev`'s id
/// and the zaak (UUIDv5), so a repeat carries the same id.
pub fn correction(ev: &DeliveryEvent, zaak_url: &str) -> Result<Vec<u8>, String> {
    let mut body: Map<String, Value> = serde_json::from_slice(&ev.body).map_err(|e| e.to_string())?;
    let last = zaak_url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let (zaak, subject) = match uuid::Uuid::parse_str(last) {
        Ok(u) => (format!("urn:uuid:{u}"), u.to_string()),
        Err(_) => (zaak_url.to_owned(), zaak_url.to_owned()),
    };
    let id = uuid::Uuid::new_v5(
        &crate::cloudevent::id_namespace(),
        format!("{}/ontkoppeld/{zaak_url}", ev.id).as_bytes(),
    );
    body.insert("id".into(), Value::String(id.to_string()));
    body.insert(
        "type".into(),
        Value::String(EventKind::Ontkoppeld.event_type().to_owned()),
    );
    if body.contains_key("subject") {
        body.insert("subject".into(), Value::String(subject));
    }
    match body.get_mut("data").and_then(Value::as_object_mut) {
        Some(data) => {
            data.insert("zaak".into(), Value::String(zaak));
        }
        None => return Err(format!("event {}: no data object", ev.id)),
    }
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// What Open Zaak 1.30 answers 202 to and then drops, checked before any POST.
fn refusal(
    kind: Option<EventKind>,
    event_type: &str,
    zaak: &str,
    link_to: &str,
    label: &str,
    link_object_type: &str,
) -> Option<String> {
    if kind.is_none() {
        return Some(format!(
            "type {event_type:?} is neither zaak-gekoppeld nor zaak-ontkoppeld"
        ));
    }
    let is_url = |s: &str| {
        url::Url::parse(s)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
    };
    let zaak_ok = zaak
        .strip_prefix("urn:uuid:")
        .map(|u| uuid::Uuid::parse_str(u).is_ok())
        .unwrap_or_else(|| is_url(zaak));
    if !zaak_ok {
        return Some(format!(
            "data.zaak {zaak:?} is neither urn:uuid:<uuid> nor an http(s) URL: Open Zaak would answer 202 and drop it"
        ));
    }
    if !is_url(link_to) {
        return Some(format!(
            "data.linkTo {link_to:?} is not an http(s) URL: Open Zaak would answer 202 and drop it"
        ));
    }
    if link_object_type.trim().is_empty() {
        return Some(
            "data.linkObjectType is missing or empty: Open Zaak would answer 202 and drop it".into(),
        );
    }
    let chars = label.chars().count();
    if chars > MAX_LABEL_CHARS {
        return Some(format!(
            "data.label has {chars} characters, Open Zaak keeps at most {MAX_LABEL_CHARS} (relatieomschrijving): it would answer 202 and drop it; lower LABEL_MAX_CHARS"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: Option<Value>, data: Value) -> Value {
        let mut e = json!({
            "specversion": "1.0",
            "type": "nl.overheid.zaken.zaak-gekoppeld",
            "source": "urn:s",
            "subject": "z",
            "id": "e1",
            "time": "2025-10-10T00:00:00Z",
            "datacontenttype": "application/json",
            "data": data,
        });
        if let Some(s) = seq {
            e["sequence"] = s;
        }
        e
    }

    fn good_data() -> Value {
        json!({"zaak": "urn:uuid:a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "http://ok/oo/1",
               "label": "L", "linkObjectType": "Onderwerpobject"})
    }

    #[test]
    fn sequenced_events_are_keyed_by_link_to_and_stripped() {
        let e = parse(&event(Some(json!("12")), good_data())).unwrap();
        assert_eq!(
            e.place,
            Place {
                key: "object:http://ok/oo/1".into(),
                seq: 12,
                ordered: true
            }
        );
        assert_eq!(e.refusal, None);
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert!(body.get("sequence").is_none());
        let mut without = event(None, good_data());
        without.as_object_mut().unwrap().remove("sequence");
        assert_eq!(e.body, serde_json::to_vec(&without).unwrap());
        // a number is accepted too
        assert_eq!(parse(&event(Some(json!(3)), good_data())).unwrap().place.seq, 3);
    }

    #[test]
    fn a_correction_removes_the_other_zaak_with_its_own_stable_id() {
        let e = parse(&event(Some(json!("5")), good_data())).unwrap();
        let other = "https://oz/zaken/api/v1/zaken/c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
        let body: Value = serde_json::from_slice(&correction(&e, other).unwrap()).unwrap();
        assert_eq!(body["type"], "nl.overheid.zaken.zaak-ontkoppeld");
        assert_eq!(
            body["data"]["zaak"],
            "urn:uuid:c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
        );
        assert_eq!(body["subject"], "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f");
        assert_eq!(body["data"]["linkTo"], "http://ok/oo/1");
        assert!(body.get("sequence").is_none());
        assert_ne!(body["id"], "e1");
        assert_eq!(correction(&e, other).unwrap(), correction(&e, other).unwrap());
        let parsed = parse(&body).unwrap();
        assert_eq!(parsed.refusal, None, "Open Zaak would apply it");
        // a zaak URL without a uuid is sent as it is
        let body: Value = serde_json::from_slice(&correction(&e, "https://oz/zaken/x").unwrap()).unwrap();
        assert_eq!(body["data"]["zaak"], "https://oz/zaken/x");
    }

    #[test]
    fn legacy_events_are_once_per_id() {
        let e = parse(&event(None, good_data())).unwrap();
        assert_eq!(
            e.place,
            Place {
                key: "event:e1".into(),
                seq: 1,
                ordered: false
            }
        );
    }

    #[test]
    fn bad_sequences_and_non_events_are_errors() {
        for s in [json!("0"), json!("x"), json!(-1), json!(true)] {
            assert!(parse(&event(Some(s.clone()), good_data())).is_err(), "{s}");
        }
        assert!(parse(&json!([1])).is_err());
        assert!(parse(&json!({"id": "x"})).is_err());
        assert!(parse(&json!({"specversion": "1.0"})).is_err());
    }

    #[test]
    fn silent_drops_are_refused() {
        let long = "x".repeat(81);
        let ok80 = "é".repeat(80);
        let cases: Vec<(Value, bool)> = vec![
            (good_data(), false),
            (
                json!({"zaak": "https://oz/zaken/api/v1/zaken/1", "linkTo": "http://ok/oo/1", "label": ok80, "linkObjectType": "x"}),
                false,
            ),
            (
                json!({"zaak": "urn:uuid:a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "http://ok/oo/1", "label": long, "linkObjectType": "x"}),
                true,
            ),
            (
                json!({"zaak": "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "http://ok/oo/1", "label": "L", "linkObjectType": "x"}),
                true,
            ),
            (
                json!({"zaak": "urn:uuid:nope", "linkTo": "http://ok/oo/1", "label": "L", "linkObjectType": "x"}),
                true,
            ),
            (
                json!({"zaak": "urn:uuid:a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "http://ok/oo/1", "label": "L"}),
                true,
            ),
            (
                json!({"zaak": "urn:uuid:a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "http://ok/oo/1", "label": "L", "linkObjectType": " "}),
                true,
            ),
            (
                json!({"zaak": "urn:uuid:a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5", "linkTo": "oo/1", "label": "L", "linkObjectType": "x"}),
                true,
            ),
        ];
        for (data, refused) in cases {
            let e = parse(&event(Some(json!("1")), data.clone())).unwrap();
            assert_eq!(e.refusal.is_some(), refused, "{data}: {:?}", e.refusal);
        }
        let mut other = event(Some(json!("1")), good_data());
        other["type"] = json!("nl.other");
        assert!(parse(&other).unwrap().refusal.is_some());
    }
}
