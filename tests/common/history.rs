//! The history check shared by the load and fault tests: what was committed to the outboxes
//! against what reached the bus, and whether every onderwerpobject's events form a valid
//! history; plus the JSON line `scripts/reliability` turns into RELIABILITY.md.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::Value;
use zaaklink::cloudevent::OutboxEvent;
use zaaklink::link::ZaakLink;
use zaaklink::reconcile::EventKind;
use zaaklink::store::LinkRecord;

/// An event committed to an outbox (written with its state).
#[derive(Debug, Clone)]
pub struct Committed {
    pub onderwerpobject: String,
    pub version: u64,
    pub kind: EventKind,
    pub json: String,
}

/// Figures of one run, as the JSON line scripts/reliability reads.
pub struct Figures {
    pub expected: usize,
    pub delivered: usize,
    pub lost: usize,
    pub phantom: usize,
    pub duplicated: usize,
    pub stale_replays: usize,
}

/// Compare what was committed to the outboxes with what reached the queue, and check every
/// object's history. Returns the figures and the problems found (empty = nothing lost).
pub fn check_history(
    committed: &BTreeMap<String, Committed>,
    received: &[Value],
    finals: &HashMap<String, Option<ZaakLink>>,
) -> (Figures, Vec<String>) {
    let mut problems = Vec::new();
    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut duplicated = 0;
    for e in received {
        let id = e["id"].as_str().unwrap_or_default().to_string();
        match by_id.get(&id) {
            Some(first) => {
                duplicated += 1;
                if first != e {
                    problems.push(format!("two different events with id {id}: {first} / {e}"));
                }
            }
            None => {
                by_id.insert(id, e.clone());
            }
        }
    }
    // A repeat that arrives after a newer event of the same object: a consumer that does not
    // deduplicate by id would replay an old transition (e.g. gekoppeld after its ontkoppeld).
    let mut stale_replays = 0;
    let mut newest: HashMap<&str, (u64, EventKind)> = HashMap::new();
    let mut seen_ids: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for e in received {
        let id = e["id"].as_str().unwrap_or_default();
        let Some(c) = committed.get(id) else { continue };
        let at = (c.version, c.kind);
        let max = newest.entry(c.onderwerpobject.as_str()).or_insert(at);
        if !seen_ids.insert(id) && at < *max {
            stale_replays += 1;
        }
        *max = (*max).max(at);
    }
    let lost: Vec<&String> = committed.keys().filter(|id| !by_id.contains_key(*id)).collect();
    let phantom: Vec<&String> = by_id.keys().filter(|id| !committed.contains_key(*id)).collect();
    for id in &lost {
        problems.push(format!(
            "LOST: committed event {id} never reached the bus: {}",
            committed[*id].json
        ));
    }
    for id in &phantom {
        problems.push(format!(
            "an event that was never committed reached the bus: {}",
            by_id[*id]
        ));
    }
    // Per object, the distinct delivered events in (version, kind) order.
    let mut per_object: BTreeMap<&str, Vec<(u64, EventKind, &Value)>> = BTreeMap::new();
    for (id, e) in &by_id {
        if let Some(c) = committed.get(id) {
            let stored: Value = serde_json::from_str(&c.json).unwrap();
            // an HTTP sink posts the documented shape: the bus-only `sequence` stripped
            let posted: Value = serde_json::from_str(&zaaklink::cloudevent::posted_json(&c.json)).unwrap();
            if &stored != e && &posted != e {
                problems.push(format!("event {id} on the bus differs from its outbox entry"));
            }
            per_object
                .entry(c.onderwerpobject.as_str())
                .or_default()
                .push((c.version, c.kind, e));
        }
    }
    for (uuid, final_link) in finals {
        let mut events = per_object.remove(uuid.as_str()).unwrap_or_default();
        events.sort_by_key(|(v, k, _)| (*v, *k));
        let mut open: Option<&Value> = None;
        for (v, kind, e) in &events {
            match kind {
                EventKind::Gekoppeld => {
                    if let Some(g) = open {
                        problems.push(format!(
                            "{uuid} v{v}: gekoppeld {} while {} is still open",
                            e["subject"], g["subject"]
                        ));
                    }
                    open = Some(e);
                }
                EventKind::Ontkoppeld => match open.take() {
                    // Open Zaak deletes by zaak + linkTo; the label may have been refreshed since.
                    Some(g)
                        if g["data"]["zaak"] == e["data"]["zaak"]
                            && g["data"]["linkTo"] == e["data"]["linkTo"]
                            && g["subject"] == e["subject"] => {}
                    Some(g) => problems.push(format!(
                        "{uuid} v{v}: ontkoppeld {} does not name the open gekoppeld's zaak and linkTo {}",
                        e["data"], g["data"]
                    )),
                    None => problems.push(format!(
                        "{uuid} v{v}: ontkoppeld {} without an open gekoppeld",
                        e["data"]
                    )),
                },
            }
        }
        let open_zaak = open.and_then(|g| g["subject"].as_str());
        let final_zaak = final_link.as_ref().map(|l| l.zaak.as_str());
        if open_zaak != final_zaak {
            problems.push(format!(
                "{uuid}: the history ends with {open_zaak:?} linked, Open Klant says {final_zaak:?}"
            ));
        }
        if let (Some(g), Some(l)) = (open, final_link) {
            if g["data"]["linkTo"] != l.link_to.as_str() {
                problems.push(format!(
                    "{uuid}: open gekoppeld has linkTo {}",
                    g["data"]["linkTo"]
                ));
            }
        }
    }
    for uuid in per_object.keys() {
        problems.push(format!("events for an unknown onderwerpobject {uuid}"));
    }
    (
        Figures {
            expected: committed.len(),
            delivered: by_id.len(),
            lost: lost.len(),
            phantom: phantom.len(),
            duplicated,
            stale_replays,
        },
        problems,
    )
}

/// Append one JSON line to `$ZAAKLINK_RELIABILITY_OUT`, if set.
pub fn report(line: Value) {
    eprintln!("reliability: {line}");
    if let Some(path) = std::env::var_os("ZAAKLINK_RELIABILITY_OUT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open ZAAKLINK_RELIABILITY_OUT");
        writeln!(f, "{line}").expect("write ZAAKLINK_RELIABILITY_OUT");
    }
}

/// Record the outbox entries of a successful conditional write as committed.
pub fn record_commit(log: &Mutex<BTreeMap<String, Committed>>, record: &LinkRecord) {
    let mut c = log.lock().unwrap();
    for (id, json) in &record.pending {
        // An outbox entry is written again, unchanged, when its claim is taken or released:
        // the same id must always carry the same event.
        if let Some(prev) = c.get(id) {
            assert_eq!(
                prev.json, *json,
                "event id {id} committed with two different events"
            );
            continue;
        }
        let kind = OutboxEvent::from_json(id, json).unwrap().kind;
        c.insert(
            id.clone(),
            Committed {
                onderwerpobject: record.onderwerpobject.clone(),
                version: record.version,
                kind,
                json: json.clone(),
            },
        );
    }
}
