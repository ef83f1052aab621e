//! The two CloudEvents, shaped exactly as Open Klant documents them (DESIGN §4). Pure.

use chrono::{DateTime, SubsecRound, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde::Serialize;
use uuid::Uuid;

use crate::epoch::Stamp;
use crate::link::ZaakLink;
use crate::reconcile::EventKind;

/// Namespace of the deterministic event ids (UUIDv5 of "zaaklink" in the URL namespace).
pub fn id_namespace() -> Uuid {
    static NAMESPACE: std::sync::LazyLock<Uuid> = std::sync::LazyLock::new(|| {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            b"https://github.com/zaaklink/zaaklink/event-id",
        )
    });
    *NAMESPACE
}

/// The event id for one transition: UUIDv5 of the store's epoch + onderwerpobject uuid +
/// state version + type (epoch 0, the in-memory store, leaves the epoch out). A retried put
/// carries the same id (CloudEvents: same source + id = duplicate); a restored links table
/// has another epoch, so its transitions never repeat an id ([`crate::epoch`]).
pub fn event_id(epoch: u64, onderwerpobject: &str, version: u64, kind: EventKind) -> String {
    let name = match epoch {
        0 => format!("{onderwerpobject}/{version}/{}", kind.event_type()),
        e => format!("{e}/{onderwerpobject}/{version}/{}", kind.event_type()),
    };
    Uuid::new_v5(&id_namespace(), name.as_bytes()).to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    zaak: String,
    link_to: &'a str,
    label: &'a str,
    link_object_type: &'static str,
}

/// An event ready for the outbox: its id, its type and its CloudEvent JSON (structured mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    pub kind: EventKind,
    pub json: String,
}

impl OutboxEvent {
    /// Rebuild from the stored CloudEvent JSON (the outbox keeps only id -> JSON).
    pub fn from_json(id: &str, json: &str) -> Result<Self, String> {
        /// Only the type is needed: skip the rest instead of building a whole `Value`.
        #[derive(serde::Deserialize)]
        struct TypeOnly<'a> {
            #[serde(rename = "type", borrow)]
            ty: Option<std::borrow::Cow<'a, str>>,
        }
        let t: TypeOnly = serde_json::from_str(json).map_err(|e| format!("pending event {id}: {e}"))?;
        let kind =
            t.ty.as_deref()
                .and_then(EventKind::from_event_type)
                .ok_or_else(|| format!("pending event {id}: unknown or missing type"))?;
        Ok(OutboxEvent {
            id: id.to_string(),
            kind,
            json: json.to_string(),
        })
    }

    pub fn event_type(&self) -> &'static str {
        self.kind.event_type()
    }
}

/// The CloudEvents extension attribute (CloudEvents "sequence" extension) that carries an
/// event's place in its onderwerpobject's gap-free sequence of transitions (1, 2, 3, …), as
/// the string of the integer. It rides on the bus only: `deliver` strips it before the POST
/// (see [`POSTED_ATTRIBUTES`]).
pub const SEQUENCE_ATTRIBUTE: &str = "sequence";

/// The attributes of the documented CloudEvent shape: exactly these reach Open Zaak.
pub const POSTED_ATTRIBUTES: [&str; 8] = [
    "specversion",
    "type",
    "source",
    "subject",
    "id",
    "time",
    "datacontenttype",
    "data",
];

/// The outbox JSON as it is POSTed: only the [`POSTED_ATTRIBUTES`] (zaaklink's bus-only
/// extensions such as [`SEQUENCE_ATTRIBUTE`] removed), key order kept. Not JSON: unchanged.
pub fn posted_json(json: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(mut m) => {
            m.retain(|k, _| POSTED_ATTRIBUTES.contains(&k.as_str()));
            serde_json::to_string(&m).unwrap_or_else(|_| json.to_owned())
        }
        Err(_) => json.to_owned(),
    }
}

/// Build the CloudEvent for `kind` about `link`; `seq` > 0 is added as the
/// [`SEQUENCE_ATTRIBUTE`] extension (0: none, as before sequences existed).
pub fn build(
    kind: EventKind,
    link: &ZaakLink,
    source: &str,
    id: &str,
    observed: DateTime<Utc>,
    seq: u64,
) -> Event {
    let data = Payload {
        zaak: format!("urn:uuid:{}", link.zaak),
        link_to: &link.link_to,
        label: &link.label,
        link_object_type: "Onderwerpobject",
    };
    let mut builder = EventBuilderV10::new()
        .id(id)
        .ty(kind.event_type())
        .source(source)
        .subject(link.zaak.as_str())
        .time(observed.trunc_subsecs(0))
        .data(
            "application/json",
            serde_json::to_value(data).expect("payload of strings serialises"),
        );
    if seq > 0 {
        builder = builder.extension(SEQUENCE_ATTRIBUTE, seq.to_string());
    }
    builder
        .build()
        .expect("id, type and source are set and non-empty")
}

/// Build the outbox entry (id + structured-mode JSON) for one transition; `stamp.seq` is its
/// place in the onderwerpobject's sequence of events ([`SEQUENCE_ATTRIBUTE`]).
pub fn outbox_event(
    kind: EventKind,
    link: &ZaakLink,
    source: &str,
    onderwerpobject: &str,
    stamp: Stamp,
    observed: DateTime<Utc>,
) -> OutboxEvent {
    let id = event_id(stamp.epoch, onderwerpobject, stamp.version, kind);
    let event = build(kind, link, source, &id, observed, stamp.seq);
    OutboxEvent {
        id,
        kind,
        json: serde_json::to_string(&event).expect("a CloudEvent serialises"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::Value;

    fn fixture_link() -> ZaakLink {
        ZaakLink {
            zaak: "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5".into(),
            label: "Mijn Klantcontact Onderwerp".into(),
            link_to: "http://open-klant.local:8000/klantinteracties/api/v1/onderwerpobjecten/5fee9673-216c-41e7-91d2-69a8d1526b9f".into(),
            klantcontact: "http://open-klant.local:8000/klantinteracties/api/v1/klantcontacten/3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a".into(),
            was_klantcontact: None,
        }
    }

    #[test]
    fn events_match_the_fixtures_except_id_and_time() {
        let t =
            Utc.with_ymd_and_hms(2025, 10, 10, 0, 0, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789);
        for (kind, fixture) in [
            (
                EventKind::Gekoppeld,
                include_str!("../tests/fixtures/cloudevent-zaak-gekoppeld.json"),
            ),
            (
                EventKind::Ontkoppeld,
                include_str!("../tests/fixtures/cloudevent-zaak-ontkoppeld.json"),
            ),
        ] {
            let ev = outbox_event(
                kind,
                &fixture_link(),
                "urn:nld:oin:01823288444:openklant",
                "5fee9673-216c-41e7-91d2-69a8d1526b9f",
                Stamp {
                    epoch: 0,
                    version: 1,
                    seq: 7,
                },
                t,
            );
            let mut got: Value = serde_json::from_str(&ev.json).unwrap();
            let mut want: Value = serde_json::from_str(fixture).unwrap();
            // the sequence extension rides along on the bus, as a string
            assert_eq!(got[SEQUENCE_ATTRIBUTE], "7");
            got.as_object_mut().unwrap().remove(SEQUENCE_ATTRIBUTE);
            // what remains is exactly the documented shape
            let mut keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            let mut posted = POSTED_ATTRIBUTES.to_vec();
            posted.sort();
            assert_eq!(keys, posted);
            assert_eq!(got["id"], Value::String(ev.id.clone()));
            // time is UTC, whole seconds, `Z`
            assert_eq!(got["time"], "2025-10-10T00:00:00Z");
            got["id"] = Value::Null;
            want["id"] = Value::Null;
            assert_eq!(got, want, "{kind:?}");
            assert_eq!(OutboxEvent::from_json(&ev.id, &ev.json).unwrap(), ev);
        }
    }

    #[test]
    fn posted_json_strips_the_sequence_only() {
        let ev = outbox_event(
            EventKind::Gekoppeld,
            &fixture_link(),
            "s",
            "u",
            stamp(1, 4),
            Utc::now(),
        );
        let posted: Value = serde_json::from_str(&posted_json(&ev.json)).unwrap();
        let mut want: Value = serde_json::from_str(&ev.json).unwrap();
        want.as_object_mut().unwrap().remove(SEQUENCE_ATTRIBUTE);
        assert_eq!(posted, want);
        assert!(posted_json(&ev.json).starts_with("{\"specversion\""));
    }

    #[test]
    fn seq_zero_adds_no_extension() {
        let ev = outbox_event(
            EventKind::Gekoppeld,
            &fixture_link(),
            "s",
            "u",
            stamp(1, 0),
            Utc::now(),
        );
        let got: Value = serde_json::from_str(&ev.json).unwrap();
        assert!(got.get(SEQUENCE_ATTRIBUTE).is_none(), "{got}");
    }

    fn stamp(version: u64, seq: u64) -> Stamp {
        Stamp {
            epoch: 0,
            version,
            seq,
        }
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = event_id(0, "u1", 1, EventKind::Gekoppeld);
        assert_eq!(a, event_id(0, "u1", 1, EventKind::Gekoppeld));
        assert_ne!(a, event_id(0, "u1", 2, EventKind::Gekoppeld));
        assert_ne!(a, event_id(0, "u1", 1, EventKind::Ontkoppeld));
        assert_ne!(a, event_id(0, "u2", 1, EventKind::Gekoppeld));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 5);
        // the same transition in a restored table (another epoch) has another id
        let restored = event_id(1_795_000_000_000, "u1", 1, EventKind::Gekoppeld);
        assert_ne!(a, restored);
        assert_ne!(
            restored,
            event_id(1_795_000_000_001, "u1", 1, EventKind::Gekoppeld)
        );
        assert_eq!(
            restored,
            event_id(1_795_000_000_000, "u1", 1, EventKind::Gekoppeld)
        );
    }

    #[test]
    fn pending_json_with_unknown_type_is_an_error() {
        assert!(OutboxEvent::from_json("x", r#"{"type":"other"}"#).is_err());
        assert!(OutboxEvent::from_json("x", "not json").is_err());
    }
}
