//! What a listed onderwerpobject needs, from the list page and its stored record alone (pure):
//! most need nothing; only a link that is new or moved needs its klantcontact's label.

use crate::link::{self, Onderwerpobject};
use crate::store::LinkRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The stored link is what the list shows: nothing to read, nothing to write.
    Unchanged,
    /// A link that is new or moved (other zaak, other klantcontact or other
    /// `wasKlantcontact`): read the label of this klantcontact (after the record), then write.
    NeedsLabel { klantcontact: String },
    /// The object no longer links a zaak: write without a link.
    Drop,
    /// The record still has events in its outbox: the normal path finishes them first.
    Normal,
}

/// The step for `o` given its stored record (None = never stored).
pub fn step(o: &Onderwerpobject, record: Option<&LinkRecord>) -> Step {
    if record.is_some_and(|r| !r.pending.is_empty()) {
        return Step::Normal;
    }
    let stored = record.and_then(|r| r.link.as_ref());
    let kc = o.klantcontact.as_ref().map(|k| k.url.as_str());
    let was = o.was_klantcontact.as_ref().and_then(link::ref_uuid);
    match (link::linked_zaak(o), kc, stored) {
        (Some(z), Some(kc), Some(l)) if l.zaak == z && l.klantcontact == kc && l.was_klantcontact == was => {
            Step::Unchanged
        }
        (Some(_), Some(kc), _) => Step::NeedsLabel {
            klantcontact: kc.to_string(),
        },
        (_, _, Some(_)) => Step::Drop,
        (_, _, None) => Step::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Identificator, ObjectRef, ZaakLink};

    fn object(zaak: Option<&str>, kc: &str) -> Onderwerpobject {
        Onderwerpobject {
            uuid: "u".into(),
            url: "http://ok/onderwerpobjecten/u".into(),
            klantcontact: Some(ObjectRef {
                uuid: String::new(),
                url: kc.into(),
            }),
            was_klantcontact: None,
            onderwerpobjectidentificator: Some(Identificator {
                object_id: zaak.unwrap_or("b1").into(),
                code_objecttype: if zaak.is_some() { "zaak" } else { "besluit" }.into(),
                code_register: String::new(),
                code_soort_object_id: "uuid".into(),
            }),
        }
    }

    fn record(zaak: Option<&str>, kc: &str, pending: bool) -> LinkRecord {
        let mut r = LinkRecord::absent("u");
        r.version = 1;
        r.link = zaak.map(|z| ZaakLink {
            zaak: z.into(),
            label: "L".into(),
            link_to: "http://ok/onderwerpobjecten/u".into(),
            klantcontact: kc.into(),
            was_klantcontact: None,
        });
        if pending {
            r.pending.insert("e".into(), "{}".into());
        }
        r
    }

    fn with_was(mut o: Onderwerpobject, uuid: &str) -> Onderwerpobject {
        o.was_klantcontact = Some(ObjectRef {
            uuid: uuid.into(),
            url: format!("http://ok/klantcontacten/{uuid}"),
        });
        o
    }

    fn with_stored_was(mut r: LinkRecord, uuid: &str) -> LinkRecord {
        r.link.as_mut().unwrap().was_klantcontact = Some(uuid.into());
        r
    }

    #[test]
    fn step_table() {
        let needs = |kc: &str| Step::NeedsLabel {
            klantcontact: kc.into(),
        };
        let cases: Vec<(&str, Onderwerpobject, Option<LinkRecord>, Step)> = vec![
            (
                "same link",
                object(Some("z1"), "kc1"),
                Some(record(Some("z1"), "kc1", false)),
                Step::Unchanged,
            ),
            ("silent create", object(Some("z1"), "kc1"), None, needs("kc1")),
            (
                "after a tombstone",
                object(Some("z1"), "kc1"),
                Some(record(None, "", false)),
                needs("kc1"),
            ),
            (
                "other zaak",
                object(Some("z2"), "kc1"),
                Some(record(Some("z1"), "kc1", false)),
                needs("kc1"),
            ),
            (
                "other klantcontact",
                object(Some("z1"), "kc2"),
                Some(record(Some("z1"), "kc1", false)),
                needs("kc2"),
            ),
            (
                "no zaak any more",
                object(None, "kc1"),
                Some(record(Some("z1"), "kc1", false)),
                Step::Drop,
            ),
            ("never a zaak", object(None, "kc1"), None, Step::Unchanged),
            (
                "wasKlantcontact set (or stored before it was kept)",
                with_was(object(Some("z1"), "kc1"), "KC0"),
                Some(record(Some("z1"), "kc1", false)),
                needs("kc1"),
            ),
            (
                "same wasKlantcontact",
                with_was(object(Some("z1"), "kc1"), "KC0"),
                Some(with_stored_was(record(Some("z1"), "kc1", false), "kc0")),
                Step::Unchanged,
            ),
            (
                "wasKlantcontact gone",
                object(Some("z1"), "kc1"),
                Some(with_stored_was(record(Some("z1"), "kc1", false), "kc0")),
                needs("kc1"),
            ),
            (
                "outbox pending",
                object(Some("z1"), "kc1"),
                Some(record(Some("z1"), "kc1", true)),
                Step::Normal,
            ),
        ];
        for (name, o, r, want) in cases {
            assert_eq!(step(&o, r.as_ref()), want, "{name}");
        }
    }
}
