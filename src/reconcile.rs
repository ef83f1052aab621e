//! The transition table of DESIGN §3: stored link x resolved link -> what to store and emit.

use crate::link::ZaakLink;

/// The two CloudEvent types zaaklink emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `nl.overheid.zaken.zaak-ontkoppeld`; sorts first: an unlink always precedes the
    /// link made in the same transition.
    Ontkoppeld,
    /// `nl.overheid.zaken.zaak-gekoppeld`
    Gekoppeld,
}

impl EventKind {
    pub const fn event_type(self) -> &'static str {
        match self {
            EventKind::Gekoppeld => "nl.overheid.zaken.zaak-gekoppeld",
            EventKind::Ontkoppeld => "nl.overheid.zaken.zaak-ontkoppeld",
        }
    }

    pub fn from_event_type(t: &str) -> Option<Self> {
        [EventKind::Gekoppeld, EventKind::Ontkoppeld]
            .into_iter()
            .find(|k| k.event_type() == t)
    }
}

/// One event to emit: its kind and the link whose payload it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub kind: EventKind,
    pub link: ZaakLink,
}

/// What reconciling one onderwerpobject asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to store, nothing to emit.
    Unchanged,
    /// Store `link` (None = no link any more) and emit `events`, in order.
    Write {
        link: Option<ZaakLink>,
        events: Vec<Transition>,
    },
}

/// DESIGN §3. `old` is the stored link, `new` the link Open Klant shows now.
pub fn reconcile(old: Option<&ZaakLink>, new: Option<&ZaakLink>) -> Plan {
    let gekoppeld = |l: &ZaakLink| Transition {
        kind: EventKind::Gekoppeld,
        link: l.clone(),
    };
    let ontkoppeld = |l: &ZaakLink| Transition {
        kind: EventKind::Ontkoppeld,
        link: l.clone(),
    };
    match (old, new) {
        (None, None) => Plan::Unchanged,
        (None, Some(n)) => Plan::Write {
            link: Some(n.clone()),
            events: vec![gekoppeld(n)],
        },
        (Some(o), None) => Plan::Write {
            link: None,
            events: vec![ontkoppeld(o)],
        },
        (Some(o), Some(n)) if o.zaak != n.zaak => Plan::Write {
            link: Some(n.clone()),
            events: vec![ontkoppeld(o), gekoppeld(n)],
        },
        (Some(o), Some(n)) => {
            // Same zaak: Open Zaak already has the relation (a second gekoppeld would
            // duplicate it). Refresh label and klantcontact, but keep the `linkTo` that was
            // announced: ontkoppeld must match it byte for byte.
            let refreshed = ZaakLink {
                zaak: o.zaak.clone(),
                label: n.label.clone(),
                link_to: o.link_to.clone(),
                klantcontact: n.klantcontact.clone(),
                was_klantcontact: n.was_klantcontact.clone(),
            };
            if &refreshed == o {
                Plan::Unchanged
            } else {
                Plan::Write {
                    link: Some(refreshed),
                    events: vec![],
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(zaak: &str, label: &str) -> ZaakLink {
        ZaakLink {
            zaak: zaak.into(),
            label: label.into(),
            link_to: "http://ok/onderwerpobjecten/1".into(),
            klantcontact: "http://ok/klantcontacten/k".into(),
            was_klantcontact: None,
        }
    }

    #[test]
    fn transition_table() {
        use EventKind::*;
        let z1 = link("z1", "L1");
        let z1_relabelled = link("z1", "L1 nieuw");
        let z2 = link("z2", "L2");
        let mut z1_other_url = link("z1", "L1");
        z1_other_url.link_to = "http://ok/onderwerpobjecten/1/".into();
        let mut z1_other_kc = link("z1", "L1");
        z1_other_kc.klantcontact = "http://ok/klantcontacten/k2".into();
        let mut z1_other_was = link("z1", "L1");
        z1_other_was.was_klantcontact = Some("k0".into());

        type Row<'a> = (
            &'a str,
            Option<&'a ZaakLink>,
            Option<&'a ZaakLink>,
            Option<Option<ZaakLink>>,
            Vec<(EventKind, &'a ZaakLink)>,
        );
        let rows: Vec<Row> = vec![
            ("none -> none", None, None, None, vec![]),
            (
                "none -> Z",
                None,
                Some(&z1),
                Some(Some(z1.clone())),
                vec![(Gekoppeld, &z1)],
            ),
            ("Z -> none", Some(&z1), None, Some(None), vec![(Ontkoppeld, &z1)]),
            (
                "Z1 -> Z2",
                Some(&z1),
                Some(&z2),
                Some(Some(z2.clone())),
                vec![(Ontkoppeld, &z1), (Gekoppeld, &z2)],
            ),
            ("Z -> Z identical", Some(&z1), Some(&z1), None, vec![]),
            (
                "Z -> Z new label",
                Some(&z1),
                Some(&z1_relabelled),
                Some(Some(z1_relabelled.clone())),
                vec![],
            ),
            (
                "Z -> Z new klantcontact",
                Some(&z1),
                Some(&z1_other_kc),
                Some(Some(z1_other_kc.clone())),
                vec![],
            ),
            (
                "Z -> Z new wasKlantcontact",
                Some(&z1),
                Some(&z1_other_was),
                Some(Some(z1_other_was.clone())),
                vec![],
            ),
            // linkTo as announced is kept: nothing to store, nothing to emit
            (
                "Z -> Z other url form",
                Some(&z1),
                Some(&z1_other_url),
                None,
                vec![],
            ),
            (
                "Z2 -> Z1 (back)",
                Some(&z2),
                Some(&z1),
                Some(Some(z1.clone())),
                vec![(Ontkoppeld, &z2), (Gekoppeld, &z1)],
            ),
        ];
        for (name, old, new, want_store, want_events) in rows {
            let plan = reconcile(old, new);
            match (plan, want_store) {
                (Plan::Unchanged, None) => assert!(want_events.is_empty(), "{name}"),
                (Plan::Write { link, events }, Some(want_link)) => {
                    assert_eq!(link, want_link, "{name}: stored link");
                    let got: Vec<(EventKind, &ZaakLink)> = events.iter().map(|t| (t.kind, &t.link)).collect();
                    assert_eq!(got, want_events, "{name}: events");
                }
                (plan, want) => panic!("{name}: got {plan:?}, want store {want:?}"),
            }
        }
    }

    #[test]
    fn ontkoppeld_carries_the_old_payload() {
        let old = link("z1", "Oud label");
        let Plan::Write { events, .. } = reconcile(Some(&old), Some(&link("z2", "Nieuw"))) else {
            panic!("expected a write")
        };
        assert_eq!(events[0].link, old);
    }

    #[test]
    fn event_types() {
        assert_eq!(
            EventKind::Gekoppeld.event_type(),
            "nl.overheid.zaken.zaak-gekoppeld"
        );
        assert_eq!(
            EventKind::Ontkoppeld.event_type(),
            "nl.overheid.zaken.zaak-ontkoppeld"
        );
        for k in [EventKind::Gekoppeld, EventKind::Ontkoppeld] {
            assert_eq!(EventKind::from_event_type(k.event_type()), Some(k));
        }
        assert_eq!(
            EventKind::from_event_type("nl.overheid.zaken.zaak-Gekoppeld"),
            None
        );
        assert!(EventKind::Ontkoppeld < EventKind::Gekoppeld);
    }
}
