//! The comparison rules (pure, DESIGN §9): per onderwerpobject, what Open Klant shows against
//! the ZaakObjects Open Zaak holds for it.

use super::object::zaak_key;
use super::sides::{by_zaak, Expected, OpenKlantSide, OpenZaakSide, Relation};

/// The kinds of difference, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// Open Klant links the onderwerpobject to a zaak; Open Zaak has no ZaakObject for it.
    Missing,
    /// Open Zaak relates the onderwerpobject to a zaak; Open Klant no longer shows the object,
    /// or links it to another zaak (or to none).
    Stray,
    /// The right relation, more than once on the same zaak.
    Duplicated,
    /// A ZaakObject under Open Klant's onderwerpobjecten whose `object` is no onderwerpobject
    /// URL: reported, never repaired.
    Malformed,
    /// The right relation with another label than zaaklink would send: report only (Open
    /// Zaak keeps the first label); not counted in the exit status or the alarm.
    LabelDifferent,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Missing,
        Kind::Stray,
        Kind::Duplicated,
        Kind::Malformed,
        Kind::LabelDifferent,
    ];

    /// Whether the kind counts towards the exit status, the metric's alarm and `--repair`
    /// without `--repair-labels`.
    pub fn counts(self) -> bool {
        self != Kind::LabelDifferent
    }

    /// The name in the JSON report and the metric's `Kind` dimension.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Stray => "stray",
            Kind::Duplicated => "duplicated",
            Kind::Malformed => "malformed",
            Kind::LabelDifferent => "labelDifferent",
        }
    }
}

/// One difference, with what each side says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub kind: Kind,
    /// The onderwerpobject's uuid (none for a malformed `object`).
    pub onderwerpobject: Option<String>,
    /// What Open Klant shows: the zaak it links and the object's URL; `null` = the object is
    /// gone or links no zaak.
    pub open_klant: Option<Expected>,
    /// The ZaakObjects concerned (none for `missing`).
    pub open_zaak: Vec<Relation>,
    /// Why a malformed `object` is no onderwerpobject URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Difference {
    /// The onderwerpobject URL to show: Open Klant's, else the one Open Zaak stores.
    pub fn object_url(&self) -> &str {
        self.open_klant
            .as_ref()
            .map(|e| e.url.as_str())
            .or_else(|| self.open_zaak.first().map(|r| r.object.as_str()))
            .unwrap_or("")
    }
}

/// The differences of one onderwerpobject: `expected` is Open Klant's link (with the label
/// zaaklink would send, when known), `relations` the ZaakObjects naming it.
pub fn diff_object(uuid: &str, expected: Option<&Expected>, relations: &[Relation]) -> Vec<Difference> {
    let want = expected.map(|e| zaak_key(&e.zaak));
    let groups = by_zaak(relations);
    let diff = |kind, rels: &[&Relation]| Difference {
        kind,
        onderwerpobject: Some(uuid.to_owned()),
        open_klant: expected.cloned(),
        open_zaak: rels.iter().map(|r| (*r).clone()).collect(),
        why: None,
    };
    let mut out = Vec::new();
    let mut found = false;
    for (key, rels) in &groups {
        if want.as_deref() != Some(key.as_str()) {
            out.push(diff(Kind::Stray, rels));
            continue;
        }
        found = true;
        if rels.len() > 1 {
            out.push(diff(Kind::Duplicated, rels));
        } else if expected
            .and_then(|e| e.label.as_deref())
            .is_some_and(|label| rels[0].label != label)
        {
            out.push(diff(Kind::LabelDifferent, rels));
        }
    }
    if expected.is_some() && !found {
        out.push(diff(Kind::Missing, &[]));
    }
    out
}

/// Every difference of both sides, labels left out (they are compared per chunk with the
/// stored labels, [`label_candidates`]); malformed ones last.
pub fn compare(ok: &OpenKlantSide, oz: &OpenZaakSide) -> Vec<Difference> {
    let none: &[Relation] = &[];
    let mut out: Vec<Difference> = ok
        .links
        .iter()
        .flat_map(|(uuid, e)| {
            let rels = oz.relations.get(uuid).map_or(none, Vec::as_slice);
            diff_object(uuid, Some(e), rels)
        })
        .collect();
    out.extend(
        oz.relations
            .iter()
            .filter(|(uuid, _)| !ok.links.contains_key(*uuid))
            .flat_map(|(uuid, rels)| diff_object(uuid, None, rels)),
    );
    out.extend(oz.malformed.iter().map(|m| Difference {
        kind: Kind::Malformed,
        onderwerpobject: None,
        open_klant: None,
        open_zaak: vec![m.relation.clone()],
        why: Some(m.why.to_owned()),
    }));
    out
}

/// The onderwerpobjecten whose one relation is on the right zaak: only their labels can differ.
pub fn label_candidates<'a>(ok: &'a OpenKlantSide, oz: &'a OpenZaakSide) -> impl Iterator<Item = &'a str> {
    ok.links.iter().filter_map(|(uuid, e)| {
        let rels = oz.relations.get(uuid)?;
        let want = zaak_key(&e.zaak);
        (rels.iter().filter(|r| r.zaak_key() == want).count() == 1).then_some(uuid.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openklant::ApiRoot;

    const ROOT: &str = "https://klant.example.nl/klantinteracties/api/v1/";
    const OZ: &str = "https://oz.example/zaken/api/v1";
    const Z1: &str = "11111111-1111-4111-8111-111111111111";
    const Z2: &str = "22222222-2222-4222-8222-222222222222";
    const O1: &str = "aaaaaaaa-0000-4000-8000-000000000001";

    fn url(o: &str) -> String {
        format!("{ROOT}onderwerpobjecten/{o}")
    }
    fn exp(zaak: &str, label: Option<&str>) -> Expected {
        Expected {
            zaak: zaak.into(),
            url: url(O1),
            label: label.map(str::to_owned),
        }
    }
    fn rel(n: u32, zaak: &str, label: &str) -> Relation {
        Relation {
            url: format!("{OZ}/zaakobjecten/{n}"),
            zaak: format!("{OZ}/zaken/{zaak}"),
            object: url(O1),
            label: label.into(),
        }
    }

    #[test]
    fn every_kind_per_object() {
        use Kind::*;
        let upper = Z1.to_uppercase();
        /// (name, Open Klant, Open Zaak, kinds found with their relation counts)
        type Case<'a> = (&'a str, Option<Expected>, Vec<Relation>, Vec<(Kind, usize)>);
        let cases: Vec<Case> = vec![
            ("equal", Some(exp(Z1, Some("L"))), vec![rel(1, Z1, "L")], vec![]),
            (
                "equal, label unknown",
                Some(exp(Z1, None)),
                vec![rel(1, Z1, "other")],
                vec![],
            ),
            (
                "zaak in capitals is the same zaak",
                Some(exp(&upper, Some("L"))),
                vec![rel(1, Z1, "L")],
                vec![],
            ),
            ("nothing on either side", None, vec![], vec![]),
            ("missing", Some(exp(Z1, Some("L"))), vec![], vec![(Missing, 0)]),
            (
                "gone from Open Klant",
                None,
                vec![rel(1, Z1, "L")],
                vec![(Stray, 1)],
            ),
            (
                "gone, related twice",
                None,
                vec![rel(1, Z1, "L"), rel(2, Z1, "L")],
                vec![(Stray, 2)],
            ),
            (
                "linked to another zaak",
                Some(exp(Z2, Some("L"))),
                vec![rel(1, Z1, "L")],
                vec![(Stray, 1), (Missing, 0)],
            ),
            (
                "right one plus a stray",
                Some(exp(Z1, Some("L"))),
                vec![rel(1, Z1, "L"), rel(2, Z2, "L")],
                vec![(Stray, 1)],
            ),
            (
                "duplicated",
                Some(exp(Z1, Some("L"))),
                vec![rel(1, Z1, "L"), rel(2, Z1, "L")],
                vec![(Duplicated, 2)],
            ),
            (
                "duplicated with other labels: one kind only",
                Some(exp(Z1, Some("L"))),
                vec![rel(1, Z1, "A"), rel(2, Z1, "B")],
                vec![(Duplicated, 2)],
            ),
            (
                "label different",
                Some(exp(Z1, Some("new"))),
                vec![rel(1, Z1, "old")],
                vec![(LabelDifferent, 1)],
            ),
            (
                "stray, duplicated elsewhere, missing",
                Some(exp(Z2, None)),
                vec![rel(1, Z1, "L"), rel(2, Z1, "L")],
                vec![(Stray, 2), (Missing, 0)],
            ),
        ];
        for (name, expected, rels, want) in cases {
            let got: Vec<(Kind, usize)> = diff_object(O1, expected.as_ref(), &rels)
                .iter()
                .map(|d| (d.kind, d.open_zaak.len()))
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn both_sides_compared_and_elsewhere_never_read() {
        let root = ApiRoot::parse(ROOT).unwrap();
        let o = |i: u32| format!("aaaaaaaa-0000-4000-8000-{i:012}");
        let mut ok = OpenKlantSide::default();
        for i in 1..=4 {
            ok.links.insert(
                o(i),
                Expected {
                    zaak: Z1.into(),
                    url: url(&o(i)),
                    label: None,
                },
            );
        }
        let mut oz = OpenZaakSide::default();
        let r = |n: u32, obj: String| Relation {
            url: format!("{OZ}/zaakobjecten/{n}"),
            zaak: format!("{OZ}/zaken/{Z1}"),
            object: obj,
            label: "L".into(),
        };
        oz.add(&root, r(1, url(&o(1)))); // equal
        oz.add(&root, r(2, url(&o(2)))); // duplicated with 3
        oz.add(&root, r(3, url(&o(2))));
        // o(3): missing; o(4) equal
        oz.add(&root, r(4, url(&o(4))));
        oz.add(&root, r(5, url(&o(9)))); // stray: not in Open Klant
        oz.add(&root, r(6, format!("{ROOT}onderwerpobjecten/nope"))); // malformed
        oz.add(&root, r(7, format!("{ROOT}klantcontacten/{}", o(1)))); // another resource
        oz.add(&root, r(8, "https://elders.example/x".into())); // elsewhere
        oz.add(&root, r(3, url(&o(2)))); // read twice: kept once
        oz.add(&root, r(6, format!("{ROOT}onderwerpobjecten/nope")));
        assert_eq!((oz.count(), oz.malformed.len()), (5, 1));
        let mut got: Vec<(Kind, Option<String>)> = compare(&ok, &oz)
            .into_iter()
            .map(|d| (d.kind, d.onderwerpobject))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (Kind::Missing, Some(o(3))),
                (Kind::Stray, Some(o(9))),
                (Kind::Duplicated, Some(o(2))),
                (Kind::Malformed, None),
            ]
        );
        let mut labels: Vec<&str> = label_candidates(&ok, &oz).collect();
        labels.sort();
        assert_eq!(labels, vec![o(1).as_str(), o(4).as_str()]);
    }
}
