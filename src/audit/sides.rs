//! What each side says, kept compactly (pure): Open Klant's expected link per onderwerpobject
//! and Open Zaak's relations per onderwerpobject, both keyed by the onderwerpobject's uuid.
//!
//! Memory: one entry per listed zaak onderwerpobject (its zaak id and URL) and one per
//! ZaakObject naming an onderwerpobject (its URL, zaak, `object` and label), in hash maps keyed
//! by uuid; ZaakObjects pointing elsewhere are dropped as they are read. At 100,000 relations
//! both maps together hold a few tens of MB (measured by scripts/bench-audit), whatever Open
//! Zaak holds besides; labels zaaklink stored are read per chunk while comparing, not kept.

use std::collections::HashMap;

use super::object::{self, Named};
use crate::openklant::ApiRoot;

/// What Open Klant says about one onderwerpobject that links a zaak.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expected {
    /// The zaak (`objectId`) exactly as Open Klant stores it.
    pub zaak: String,
    /// The onderwerpobject's `url` as Open Klant returned it.
    pub url: String,
    /// The label zaaklink would send (its stored one, or read afresh at the second look);
    /// `None` when not known (then labels are not compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One ZaakObject of Open Zaak as the audit reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// The ZaakObject's own URL.
    pub url: String,
    /// Its zaak URL.
    pub zaak: String,
    /// Its `object`, exactly as Open Zaak stores it.
    pub object: String,
    /// Its `relatieomschrijving` (the label Open Zaak kept).
    pub label: String,
}

impl Relation {
    /// The zaak as both sides compare it ([`object::zaak_of_url`]).
    pub fn zaak_key(&self) -> String {
        object::zaak_of_url(&self.zaak)
    }
}

/// The relations grouped by zaak ([`Relation::zaak_key`]), in the order first seen.
pub fn by_zaak(relations: &[Relation]) -> Vec<(String, Vec<&Relation>)> {
    let mut groups: Vec<(String, Vec<&Relation>)> = Vec::new();
    for r in relations {
        let key = r.zaak_key();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    groups
}

/// A ZaakObject under Open Klant's onderwerpobjecten whose `object` is no onderwerpobject URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MalformedRelation {
    pub relation: Relation,
    pub why: &'static str,
}

/// Open Klant's side: uuid → the link it shows.
#[derive(Debug, Default)]
pub struct OpenKlantSide {
    pub links: HashMap<String, Expected>,
    /// Zaak onderwerpobjecten listed (also those that link no zaak by the rule).
    pub listed: u64,
}

/// Open Zaak's side: uuid → its relations naming that onderwerpobject, and the malformed ones.
#[derive(Debug, Default)]
pub struct OpenZaakSide {
    pub relations: HashMap<String, Vec<Relation>>,
    pub malformed: Vec<MalformedRelation>,
    /// ZaakObjects read (also those pointing elsewhere, which are not kept).
    pub read: u64,
}

impl OpenZaakSide {
    /// Keep `r` when it names an onderwerpobject under `root` (or is malformed there).
    /// A ZaakObject read twice (a page read again, a list that shifted between pages) is kept
    /// once. `read` is not counted here (the readers count what they read).
    pub fn add(&mut self, root: &ApiRoot, r: Relation) {
        match object::classify(root, &r.object) {
            Named::Onderwerpobject(uuid) => {
                let rels = self.relations.entry(uuid).or_default();
                if !rels.iter().any(|x| x.url == r.url) {
                    rels.push(r);
                }
            }
            Named::Malformed(why) => {
                if !self.malformed.iter().any(|m| m.relation.url == r.url) {
                    self.malformed.push(MalformedRelation { relation: r, why });
                }
            }
            Named::Elsewhere => {}
        }
    }

    /// Relations naming an onderwerpobject (malformed ones not included).
    pub fn count(&self) -> usize {
        self.relations.values().map(Vec::len).sum()
    }
}
