//! The zaak link: what Open Klant's objects mean for Open Zaak (pure, DESIGN §2).

use serde::{Deserialize, Deserializer, Serialize};

/// A link between one onderwerpobject and one Zaak, as it was (or will be) announced to
/// Open Zaak. `zaak` is the `objectId` exactly as Open Klant stores it; `link_to` is the
/// onderwerpobject's `url` exactly as the API returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZaakLink {
    pub zaak: String,
    pub label: String,
    pub link_to: String,
    pub klantcontact: String,
    /// The uuid of the onderwerpobject's `wasKlantcontact`, if it has one: Open Klant deletes
    /// the object when that klantcontact is deleted (cascade, no notification of its own), so
    /// a klantcontact `destroy` also looks up the links stored with it (DESIGN §2). Not part of
    /// any event; absent in records written before it was stored (= none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_klantcontact: Option<String>,
}

/// A `{uuid, url}` reference as the klantinteracties API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ObjectRef {
    #[serde(default)]
    pub uuid: String,
    pub url: String,
}

/// An onderwerpobject (klantinteracties API v1); only the fields zaaklink reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Onderwerpobject {
    pub uuid: String,
    pub url: String,
    #[serde(default)]
    pub klantcontact: Option<ObjectRef>,
    #[serde(default)]
    pub was_klantcontact: Option<ObjectRef>,
    #[serde(default)]
    pub onderwerpobjectidentificator: Option<Identificator>,
}

/// `onderwerpobjectidentificator`; Open Klant may send `null` or `""` for any part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identificator {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub object_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub code_objecttype: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub code_register: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub code_soort_object_id: String,
}

/// A klantcontact; only the fields zaaklink reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Klantcontact {
    #[serde(default)]
    pub uuid: String,
    pub url: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nummer: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub onderwerp: String,
    #[serde(default, deserialize_with = "null_as_empty_vec")]
    pub ging_over_onderwerpobjecten: Vec<ObjectRef>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ObjectRef>, D::Error> {
    Ok(Option::<Vec<ObjectRef>>::deserialize(d)?.unwrap_or_default())
}

/// The zaak this onderwerpobject links to, by Open Klant's own rule (case-sensitive):
/// `codeObjecttype == "zaak"`, `codeSoortObjectId == "uuid"` and a klantcontact.
/// `codeRegister` is ignored; `objectId` is returned as stored.
pub fn linked_zaak(o: &Onderwerpobject) -> Option<&str> {
    let id = o.onderwerpobjectidentificator.as_ref()?;
    o.klantcontact.as_ref()?;
    (id.code_objecttype == "zaak" && id.code_soort_object_id == "uuid" && !id.object_id.is_empty())
        .then_some(id.object_id.as_str())
}

/// The klantcontact's string form (`"{onderwerp} - ({nummer})"`, or `onderwerp` when
/// `nummer` is empty), cut to `max_chars` characters (Open Zaak drops longer ones).
pub fn label(kc: &Klantcontact, max_chars: usize) -> String {
    let full = if kc.nummer.is_empty() {
        kc.onderwerp.clone()
    } else {
        format!("{} - ({})", kc.onderwerp, kc.nummer)
    };
    match full.char_indices().nth(max_chars) {
        Some((cut, _)) => full[..cut].to_string(),
        None => full,
    }
}

/// The link an onderwerpobject makes now, given its klantcontact (for the label).
pub fn resolve(o: &Onderwerpobject, kc: &Klantcontact, max_chars: usize) -> Option<ZaakLink> {
    let zaak = linked_zaak(o)?;
    Some(ZaakLink {
        zaak: zaak.to_string(),
        label: label(kc, max_chars),
        link_to: o.url.clone(),
        klantcontact: o.klantcontact.as_ref()?.url.clone(),
        was_klantcontact: o.was_klantcontact.as_ref().and_then(ref_uuid),
    })
}

/// The uuid of a `{uuid, url}` reference in canonical lower case: its `uuid`, or, when that is
/// empty, the last segment of its `url`. None when neither gives one.
pub fn ref_uuid(r: &ObjectRef) -> Option<String> {
    let from_url = || r.url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let u = if r.uuid.is_empty() {
        from_url()
    } else {
        r.uuid.as_str()
    };
    (!u.is_empty()).then(|| u.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(objecttype: &str, soort: &str, object_id: &str, with_kc: bool) -> Onderwerpobject {
        Onderwerpobject {
            uuid: "5fee9673-216c-41e7-91d2-69a8d1526b9f".into(),
            url: "http://ok/onderwerpobjecten/5fee9673-216c-41e7-91d2-69a8d1526b9f".into(),
            klantcontact: with_kc.then(|| ObjectRef {
                uuid: "kc".into(),
                url: "http://ok/klantcontacten/kc".into(),
            }),
            was_klantcontact: None,
            onderwerpobjectidentificator: Some(Identificator {
                object_id: object_id.into(),
                code_objecttype: objecttype.into(),
                code_register: "openzaak".into(),
                code_soort_object_id: soort.into(),
            }),
        }
    }

    #[test]
    fn link_rule_table() {
        let z = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
        let cases: &[(&str, &str, &str, bool, Option<&str>)] = &[
            ("zaak", "uuid", z, true, Some(z)),
            ("Zaak", "uuid", z, true, None),
            ("ZAAK", "uuid", z, true, None),
            ("zaak", "UUID", z, true, None),
            ("zaak", "url", z, true, None),
            ("zaaktype", "uuid", z, true, None),
            ("besluit", "uuid", z, true, None),
            ("zaak", "uuid", z, false, None),
            ("zaak", "uuid", "", true, None),
            // objectId is taken as stored, not normalised
            ("zaak", "uuid", "A7B3C8D9-E4F5", true, Some("A7B3C8D9-E4F5")),
            ("zaak", "uuid", " x ", true, Some(" x ")),
        ];
        for (ot, soort, id, kc, want) in cases {
            let o = object(ot, soort, id, *kc);
            assert_eq!(linked_zaak(&o), *want, "{ot}/{soort}/{id}/{kc}");
        }
        let mut no_ident = object("zaak", "uuid", z, true);
        no_ident.onderwerpobjectidentificator = None;
        assert_eq!(linked_zaak(&no_ident), None);
    }

    #[test]
    fn code_register_is_ignored() {
        let mut o = object("zaak", "uuid", "z1", true);
        o.onderwerpobjectidentificator.as_mut().unwrap().code_register = "anders".into();
        assert_eq!(linked_zaak(&o), Some("z1"));
    }

    fn kc(onderwerp: &str, nummer: &str) -> Klantcontact {
        Klantcontact {
            uuid: "kc".into(),
            url: "http://ok/klantcontacten/kc".into(),
            nummer: nummer.into(),
            onderwerp: onderwerp.into(),
            ging_over_onderwerpobjecten: vec![],
        }
    }

    #[test]
    fn label_rule_table() {
        let long = "x".repeat(100);
        let long_nl = "é".repeat(79) + "ë€";
        let y80 = "y".repeat(80);
        let cases: Vec<(&str, &str, usize, String)> = vec![
            ("Onderwerp", "", 80, "Onderwerp".into()),
            ("Onderwerp", "0000123", 80, "Onderwerp - (0000123)".into()),
            ("", "", 80, "".into()),
            ("", "12", 80, " - (12)".into()),
            (&long, "", 80, "x".repeat(80)),
            (&long, "", 10, "x".repeat(10)),
            (&long_nl, "", 80, "é".repeat(79) + "ë"),
            ("abc", "1", 5, "abc -".into()),
            (&y80, "", 80, y80.clone()),
        ];
        for (onderwerp, nummer, max, want) in cases {
            let got = label(&kc(onderwerp, nummer), max);
            assert_eq!(got, want, "{onderwerp}/{nummer}/{max}");
            assert!(got.chars().count() <= max);
        }
    }

    #[test]
    fn resolve_builds_link_from_fixtures() {
        let o: Onderwerpobject =
            serde_json::from_str(include_str!("../tests/fixtures/onderwerpobject-zaak.json")).unwrap();
        let k: Klantcontact =
            serde_json::from_str(include_str!("../tests/fixtures/klantcontact.json")).unwrap();
        let link = resolve(&o, &k, 80).unwrap();
        assert_eq!(link.zaak, "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5");
        assert_eq!(link.label, "Mijn Klantcontact Onderwerp");
        assert_eq!(link.link_to, o.url);
        assert_eq!(link.klantcontact, k.url);
    }

    #[test]
    fn was_klantcontact_is_kept_as_its_lower_case_uuid() {
        let k: Klantcontact =
            serde_json::from_str(include_str!("../tests/fixtures/klantcontact.json")).unwrap();
        let mut o: Onderwerpobject =
            serde_json::from_str(include_str!("../tests/fixtures/onderwerpobject-zaak.json")).unwrap();
        assert_eq!(resolve(&o, &k, 80).unwrap().was_klantcontact, None);
        o.was_klantcontact = Some(ObjectRef {
            uuid: "3B2A0D4E-6F8C-4E1D-9A55-0C1F2E3D4B5A".into(),
            url: "http://ok/klantcontacten/x".into(),
        });
        assert_eq!(
            resolve(&o, &k, 80).unwrap().was_klantcontact.as_deref(),
            Some("3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a")
        );
        // without a uuid, the URL's last segment
        let by_url = ObjectRef {
            uuid: String::new(),
            url: "http://ok/klantcontacten/AB-12/".into(),
        };
        assert_eq!(ref_uuid(&by_url).as_deref(), Some("ab-12"));
        let nothing = ObjectRef {
            uuid: String::new(),
            url: String::new(),
        };
        assert_eq!(ref_uuid(&nothing), None);
        // Open Klant's JSON names it wasKlantcontact
        let o: Onderwerpobject = serde_json::from_str(
            r#"{"uuid":"u","url":"x","klantcontact":null,
                "wasKlantcontact":{"uuid":"w","url":"http://ok/klantcontacten/w"}}"#,
        )
        .unwrap();
        assert_eq!(o.was_klantcontact.unwrap().uuid, "w");
    }

    #[test]
    fn a_stored_link_without_was_klantcontact_reads_as_none() {
        let l: ZaakLink =
            serde_json::from_str(r#"{"zaak":"z","label":"L","linkTo":"x","klantcontact":"k"}"#).unwrap();
        assert_eq!(l.was_klantcontact, None);
        assert!(!serde_json::to_string(&l).unwrap().contains("wasKlantcontact"));
    }

    #[test]
    fn nulls_in_open_klant_json_are_tolerated() {
        let o: Onderwerpobject = serde_json::from_str(
            r#"{"uuid":"u","url":"x","klantcontact":null,"wasKlantcontact":null,
                "onderwerpobjectidentificator":{"objectId":null,"codeObjecttype":"zaak",
                "codeRegister":null,"codeSoortObjectId":"uuid"}}"#,
        )
        .unwrap();
        assert_eq!(linked_zaak(&o), None);
        let k: Klantcontact = serde_json::from_str(
            r#"{"url":"x","nummer":null,"onderwerp":"o","gingOverOnderwerpobjecten":null}"#,
        )
        .unwrap();
        assert_eq!(label(&k, 80), "o");
    }
}
