//! The audit's report (pure): per kind the count and the first examples with what each side
//! says, the settling, the repairs, the exit status; as text for people and JSON for machines
//! (shape in docs/OPERATIONS.md, "Reading the audit").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::compare::{Difference, Kind};

/// Exit status: both sides equal (label differences aside).
pub const EQUAL: u8 = 0;
/// Exit status: differences (with `--repair`: differences left unrepaired).
pub const DIFFERENCES: u8 = 1;
/// Exit status: a side could not be read; nothing compared or repaired.
pub const UNREADABLE: u8 = 2;

/// One kind: how many, and the first examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KindReport {
    pub count: usize,
    pub examples: Vec<Difference>,
}

/// What was read from each side.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sides {
    /// `OPEN_KLANT_API_ROOT`.
    pub open_klant_root: String,
    /// Zaak onderwerpobjecten Open Klant listed.
    pub open_klant_listed: u64,
    /// Of those, the ones that link a zaak (Open Klant's rule, DESIGN §2).
    pub open_klant_linked: usize,
    /// Open Zaak's root.
    pub open_zaak_root: String,
    /// ZaakObjects read from Open Zaak.
    pub open_zaak_read: u64,
    /// Of those, the ones naming an onderwerpobject under `OPEN_KLANT_API_ROOT` (malformed
    /// ones included).
    pub open_zaak_relations: usize,
}

/// How changes on their way were kept out of the report (DESIGN §9, "Settling").
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settling {
    /// Candidates skipped because zaaklink's outbox for them is not empty.
    pub pending: usize,
    /// Candidates that were equal at the second look.
    pub settled: usize,
    /// The wait before the second look.
    pub delay_seconds: f64,
}

/// What `--repair` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repairs {
    /// `--repair-labels`: label differences were replaced too.
    pub labels: bool,
    /// Onderwerpobjecten mended: their correcting events written to the outbox and put.
    pub objects: usize,
    /// Events written and put.
    pub events: usize,
    /// Differences mended (counted kinds; label differences with `--repair-labels`).
    pub differences: usize,
    /// Onderwerpobjecten left alone because a change was on its way meanwhile.
    pub pending: usize,
    /// Onderwerpobjecten not mended, with the reason (malformed ones are never mended and not
    /// listed here).
    pub refused: Vec<Refusal>,
    /// Onderwerpobjecten whose correction failed (the sink or the state): the outbox keeps
    /// what was written; `zaaklink sweep` or the next run puts it.
    pub failed: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub onderwerpobject: String,
    pub why: String,
}

/// The failure that made the audit stop (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// `openKlant`, `openZaak` or `state`.
    pub side: String,
    pub message: String,
}

/// The whole report (`--format json` prints it as is).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `equal`, `differences` or `unreadable`.
    pub result: String,
    pub exit_status: u8,
    pub sides: Sides,
    pub settling: Settling,
    /// Every kind, also with count 0: `missing`, `stray`, `duplicated`, `malformed`,
    /// `labelDifferent`.
    pub differences: BTreeMap<String, KindReport>,
    /// Differences of the counted kinds (all but `labelDifferent`).
    pub counted: usize,
    /// Counted differences not mended (= `counted` without `--repair`).
    pub remaining: usize,
    pub repairs: Option<Repairs>,
    pub error: Option<Failure>,
    pub seconds: f64,
    /// Lambda invocations the run took (1 for a run that was never stopped; DESIGN §9).
    #[serde(default = "one")]
    pub invocations: u32,
}

fn one() -> u32 {
    1
}

impl Report {
    /// A report of `differences` with up to `examples` examples per kind.
    pub fn of(differences: &[Difference], examples: usize) -> Report {
        let mut r = Report::empty();
        for d in differences {
            r.add(d, examples);
        }
        r.settle_result()
    }

    /// No differences yet, every kind listed.
    pub fn empty() -> Report {
        Report {
            differences: Kind::ALL
                .iter()
                .map(|k| (k.name().to_owned(), KindReport::default()))
                .collect(),
            invocations: 1,
            ..Default::default()
        }
    }

    /// Count `d` (an example while its kind has fewer than `examples`).
    pub fn add(&mut self, d: &Difference, examples: usize) {
        let k = self.differences.entry(d.kind.name().to_owned()).or_default();
        k.count += 1;
        if k.examples.len() < examples {
            k.examples.push(d.clone());
        }
        if d.kind.counts() {
            self.counted += 1;
            self.remaining += 1;
        }
    }

    /// The report of an audit that could not read a side.
    pub fn failed(side: &str, message: String) -> Report {
        Report {
            result: "unreadable".into(),
            exit_status: UNREADABLE,
            error: Some(Failure {
                side: side.into(),
                message,
            }),
            ..Report::empty()
        }
    }

    /// Set `result` and `exit_status` from `remaining`.
    pub fn settle_result(mut self) -> Report {
        (self.result, self.exit_status) = if self.remaining == 0 {
            ("equal".into(), EQUAL)
        } else {
            ("differences".into(), DIFFERENCES)
        };
        self
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.differences.get(kind.name()).map_or(0, |k| k.count)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        if let Some(e) = &self.error {
            let _ = writeln!(
                t,
                "zaaklink audit: {} could not be read (exit 2)\n  {}",
                side_name(&e.side),
                e.message
            );
            return t;
        }
        let s = &self.sides;
        let labels = self.count(Kind::LabelDifferent);
        let _ = writeln!(
            t,
            "zaaklink audit: {} ({} difference{}{}) in {:.1} s",
            self.result,
            self.counted,
            plural(self.counted),
            if labels > 0 {
                format!(", {labels} label difference{} (report only)", plural(labels))
            } else {
                String::new()
            },
            self.seconds
        );
        let _ = writeln!(
            t,
            "  Open Klant {}: {} zaak onderwerpobjecten listed, {} link a zaak",
            s.open_klant_root, s.open_klant_listed, s.open_klant_linked
        );
        let _ = writeln!(
            t,
            "  Open Zaak {}: {} ZaakObjects read, {} name an onderwerpobject",
            s.open_zaak_root, s.open_zaak_read, s.open_zaak_relations
        );
        let st = &self.settling;
        let _ = writeln!(
            t,
            "  settling: {} skipped with a change on its way (outbox not empty), {} equal at the second look after {:.1} s",
            st.pending, st.settled, st.delay_seconds
        );
        for kind in Kind::ALL {
            let k = &self.differences[kind.name()];
            if k.count == 0 {
                continue;
            }
            let _ = writeln!(t, "\n{}: {}", kind_title(kind), k.count);
            for d in &k.examples {
                example(&mut t, d);
            }
            if k.count > k.examples.len() {
                let _ = writeln!(
                    t,
                    "  … and {} more (--examples, --format json)",
                    k.count - k.examples.len()
                );
            }
        }
        if let Some(r) = &self.repairs {
            let _ = writeln!(
                t,
                "\nrepairs: {} onderwerpobjecten mended ({} differences) with {} events through the outbox; {} left alone with a change on its way; {} refused; {} failed",
                r.objects, r.differences, r.events, r.pending, r.refused.len(), r.failed.len()
            );
            for x in r.refused.iter().chain(&r.failed) {
                let _ = writeln!(t, "  - {}: {}", x.onderwerpobject, x.why);
            }
        }
        let _ = writeln!(
            t,
            "\nresult: {} (exit {}; {} counted difference{} remaining)",
            self.result,
            self.exit_status,
            self.remaining,
            plural(self.remaining)
        );
        t
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn side_name(side: &str) -> &str {
    match side {
        "openKlant" => "Open Klant",
        "openZaak" => "Open Zaak",
        _ => "zaaklink's state",
    }
}

fn kind_title(kind: Kind) -> &'static str {
    match kind {
        Kind::Missing => "missing in Open Zaak",
        Kind::Stray => "in Open Zaak but gone from Open Klant or linked to another zaak there",
        Kind::Duplicated => "duplicated in Open Zaak (the same object twice on one zaak)",
        Kind::Malformed => "malformed object in Open Zaak (never repaired)",
        Kind::LabelDifferent => "label different (report only)",
    }
}

fn example(t: &mut String, d: &Difference) {
    let _ = writeln!(t, "  - onderwerpobject {}", d.object_url());
    let _ = match &d.open_klant {
        Some(e) => writeln!(
            t,
            "    Open Klant: links zaak {}{}",
            e.zaak,
            e.label
                .as_deref()
                .map(|l| format!(", label {l:?}"))
                .unwrap_or_default()
        ),
        None if d.kind == Kind::Malformed => {
            writeln!(
                t,
                "    not an onderwerpobject URL: {}",
                d.why.as_deref().unwrap_or("")
            )
        }
        None => writeln!(t, "    Open Klant: no zaak (the object is gone or links none)"),
    };
    if d.open_zaak.is_empty() {
        let _ = writeln!(t, "    Open Zaak: no ZaakObject for it");
    }
    for r in &d.open_zaak {
        let _ = writeln!(
            t,
            "    Open Zaak: ZaakObject {} on zaak {}, label {:?}",
            r.url, r.zaak, r.label
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::sides::{Expected, Relation};

    fn d(kind: Kind, n: usize) -> Difference {
        Difference {
            kind,
            onderwerpobject: Some(format!("o{n}")),
            open_klant: Some(Expected {
                zaak: "z1".into(),
                url: format!("https://ok/onderwerpobjecten/o{n}"),
                label: Some("L".into()),
            }),
            open_zaak: vec![Relation {
                url: format!("https://oz/zaakobjecten/{n}"),
                zaak: "https://oz/zaken/z2".into(),
                object: format!("https://ok/onderwerpobjecten/o{n}"),
                label: "old".into(),
            }],
            why: None,
        }
    }

    #[test]
    fn counts_examples_and_exit_status() {
        let none = Report::of(&[], 3);
        assert_eq!((none.result.as_str(), none.exit_status), ("equal", EQUAL));
        assert_eq!(none.differences.len(), 5);
        let labels_only = Report::of(&[d(Kind::LabelDifferent, 1)], 3);
        assert_eq!((labels_only.exit_status, labels_only.counted), (EQUAL, 0));
        let many: Vec<Difference> = (0..5)
            .map(|n| d(Kind::Stray, n))
            .chain([d(Kind::Missing, 9)])
            .collect();
        let r = Report::of(&many, 3);
        assert_eq!(
            (r.exit_status, r.counted, r.count(Kind::Stray)),
            (DIFFERENCES, 6, 5)
        );
        assert_eq!(r.differences["stray"].examples.len(), 3);
        let text = r.to_text();
        assert!(
            text.contains("in Open Zaak but gone from Open Klant") && text.contains("… and 2 more"),
            "{text}"
        );
        assert!(
            text.contains("https://ok/onderwerpobjecten/o0") && text.contains("https://oz/zaakobjecten/0"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["differences"]["stray"]["count"], 5);
        assert_eq!(
            json["differences"]["stray"]["examples"][0]["openZaak"][0]["label"],
            "old"
        );
        assert_eq!(json["exitStatus"], 1);
        let failed = Report::failed("openZaak", "Open Zaak could not be read: x".into());
        assert_eq!(failed.exit_status, UNREADABLE);
        assert!(failed.to_text().contains("Open Zaak could not be read"));
    }
}
