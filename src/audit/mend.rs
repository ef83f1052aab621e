//! What mends one onderwerpobject (pure, DESIGN §9 "Repair"): the zaak-ontkoppeld and
//! zaak-gekoppeld that bring Open Zaak's relations back to what Open Klant shows, as steps of
//! at most one ontkoppeld and one gekoppeld each (the outbox holds one transition at a time,
//! and a record version names one event of each type).
//!
//! Open Zaak 1.30 removes on a zaak-ontkoppeld every ZaakObject of that zaak with that
//! `object`, and makes one ZaakObject per zaak-gekoppeld. So: a stray zaak gets one ontkoppeld;
//! a duplicate gets an ontkoppeld (all go) and then one gekoppeld; a missing relation one
//! gekoppeld; with `--repair-labels` a relation with another label is replaced like a duplicate.

use super::object::zaak_key;
use super::sides::Relation;
use crate::link::ZaakLink;

/// One transition written to the outbox: its ontkoppeld goes out before its gekoppeld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub ontkoppeld: Option<ZaakLink>,
    pub gekoppeld: Option<ZaakLink>,
}

/// How one onderwerpobject is mended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mend {
    /// Write these steps in order; the record's link becomes Open Klant's link.
    Steps(Vec<Step>),
    /// Not repaired (named reason).
    Refused(String),
}

/// `expected`: Open Klant's link now (with the label zaaklink sends); `relations`: Open Zaak's
/// ZaakObjects naming the object now; `canonical`: the URL zaaklink's events carry for it (its
/// deliveries are ordered per `linkTo`, and Open Zaak removes by an exact match on it).
pub fn plan(
    expected: Option<&ZaakLink>,
    relations: &[Relation],
    canonical: &str,
    repair_labels: bool,
) -> Mend {
    if let Some(r) = relations.iter().find(|r| r.object != canonical) {
        return Mend::Refused(format!(
            "Open Zaak's ZaakObject {} names the onderwerpobject as {:?}, zaaklink's events as {:?}: a zaak-ontkoppeld would not match it; remove or correct it in Open Zaak by hand",
            r.url, r.object, canonical
        ));
    }
    let want = expected.map(|e| zaak_key(&e.zaak));
    let mut groups: Vec<(String, Vec<&Relation>)> = Vec::new();
    for r in relations {
        let key = r.zaak_key();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let unlink = |zaak: &str, r: &Relation| ZaakLink {
        zaak: zaak.to_owned(),
        label: r.label.clone(),
        link_to: r.object.clone(),
        klantcontact: String::new(),
        was_klantcontact: None,
    };
    let mut steps: Vec<Step> = groups
        .iter()
        .filter(|(key, _)| want.as_deref() != Some(key.as_str()))
        .map(|(key, rels)| Step {
            ontkoppeld: Some(unlink(key, rels[0])),
            gekoppeld: None,
        })
        .collect();
    if let Some(e) = expected {
        let mine = groups
            .iter()
            .find(|(key, _)| want.as_deref() == Some(key.as_str()))
            .map_or(&[][..], |(_, rels)| rels.as_slice());
        let replace = mine.len() > 1 || (repair_labels && mine.len() == 1 && mine[0].label != e.label);
        if mine.is_empty() {
            steps.push(Step {
                ontkoppeld: None,
                gekoppeld: Some(e.clone()),
            });
        } else if replace {
            steps.push(Step {
                ontkoppeld: Some(unlink(&e.zaak, mine[0])),
                gekoppeld: Some(e.clone()),
            });
        }
    }
    Mend::Steps(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OZ: &str = "https://oz.example/zaken/api/v1";
    const URL: &str = "https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/aaaaaaaa-0000-4000-8000-000000000001";
    const Z1: &str = "11111111-1111-4111-8111-111111111111";
    const Z2: &str = "22222222-2222-4222-8222-222222222222";

    fn link(zaak: &str, label: &str) -> ZaakLink {
        ZaakLink {
            zaak: zaak.into(),
            label: label.into(),
            link_to: URL.into(),
            klantcontact: "kc".into(),
            was_klantcontact: None,
        }
    }
    fn rel(n: u32, zaak: &str, label: &str) -> Relation {
        Relation {
            url: format!("{OZ}/zaakobjecten/{n}"),
            zaak: format!("{OZ}/zaken/{zaak}"),
            object: URL.into(),
            label: label.into(),
        }
    }
    /// (ontkoppeld zaak, gekoppeld zaak) per step
    fn shape(m: &Mend) -> Vec<(Option<String>, Option<String>)> {
        match m {
            Mend::Steps(s) => s
                .iter()
                .map(|s| {
                    (
                        s.ontkoppeld.as_ref().map(|l| l.zaak.clone()),
                        s.gekoppeld.as_ref().map(|l| l.zaak.clone()),
                    )
                })
                .collect(),
            Mend::Refused(why) => panic!("refused: {why}"),
        }
    }

    #[test]
    fn steps_per_difference() {
        let s = |x: &str| Some(x.to_owned());
        let cases: Vec<(
            &str,
            Option<ZaakLink>,
            Vec<Relation>,
            bool,
            Vec<(Option<String>, Option<String>)>,
        )> = vec![
            ("equal", Some(link(Z1, "L")), vec![rel(1, Z1, "L")], false, vec![]),
            ("missing", Some(link(Z1, "L")), vec![], false, vec![(None, s(Z1))]),
            (
                "stray, object gone",
                None,
                vec![rel(1, Z1, "L")],
                false,
                vec![(s(Z1), None)],
            ),
            (
                "stray twice: one ontkoppeld removes both",
                None,
                vec![rel(1, Z1, "L"), rel(2, Z1, "L")],
                false,
                vec![(s(Z1), None)],
            ),
            (
                "duplicated",
                Some(link(Z1, "L")),
                vec![rel(1, Z1, "L"), rel(2, Z1, "L")],
                false,
                vec![(s(Z1), s(Z1))],
            ),
            (
                "relinked: stray then missing",
                Some(link(Z2, "L")),
                vec![rel(1, Z1, "L")],
                false,
                vec![(s(Z1), None), (None, s(Z2))],
            ),
            (
                "label left alone",
                Some(link(Z1, "new")),
                vec![rel(1, Z1, "old")],
                false,
                vec![],
            ),
            (
                "label replaced when asked",
                Some(link(Z1, "new")),
                vec![rel(1, Z1, "old")],
                true,
                vec![(s(Z1), s(Z1))],
            ),
            (
                "two strays and a duplicate",
                Some(link(Z1, "L")),
                vec![
                    rel(1, Z2, "L"),
                    rel(2, Z1, "L"),
                    rel(3, "z3", "L"),
                    rel(4, Z1, "L"),
                ],
                false,
                vec![(s(Z2), None), (s("z3"), None), (s(Z1), s(Z1))],
            ),
        ];
        for (name, expected, rels, labels, want) in cases {
            assert_eq!(
                shape(&plan(expected.as_ref(), &rels, URL, labels)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn ontkoppeld_repeats_what_open_zaak_holds_and_gekoppeld_what_open_klant_shows() {
        let Mend::Steps(steps) = plan(
            Some(&link(Z1, "new")),
            &[rel(1, Z1, "old"), rel(2, Z1, "old")],
            URL,
            false,
        ) else {
            panic!()
        };
        let o = steps[0].ontkoppeld.as_ref().unwrap();
        assert_eq!((o.link_to.as_str(), o.label.as_str()), (URL, "old"));
        assert_eq!(steps[0].gekoppeld.as_ref().unwrap(), &link(Z1, "new"));
    }

    #[test]
    fn another_spelling_of_the_object_is_not_repaired() {
        let mut r = rel(1, Z1, "L");
        r.object = format!("{URL}/");
        match plan(None, &[r], URL, false) {
            Mend::Refused(why) => assert!(why.contains("by hand") && why.contains("zaakobjecten/1"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
