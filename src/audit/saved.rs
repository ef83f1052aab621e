//! The saved run of an audit that spans several invocations (pure, DESIGN §9, "A run over
//! several invocations"): where it stands, who works it (a lease), and the rules that decide
//! whether an invocation starts a run, continues one, leaves it alone or discards it.
//! Its chunks are encoded here as lines (JSON arrays, never a line break inside).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sides::{Expected, Relation};
use crate::resync::checkpoint::{held_by_other, parse, ts};

/// A saved run older than this is discarded and started over: its lists no longer show
/// either side as it is (DESIGN §9).
pub const MAX_AGE: Duration = Duration::from_secs(6 * 3600);

/// A run that has not finished after this many invocations is given up and reported as an
/// error (the resync function's error alarm); the next scheduled audit starts over.
pub const MAX_INVOCATIONS: u32 = 24;

/// Bytes of lines per chunk: one DynamoDB item stays well under its 400 KB limit.
pub const CHUNK_BYTES: usize = 300_000;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Both lists, page by page (each page's kept entries saved as chunks).
    List,
    /// The candidates found, each looked at again (and mended) in order.
    Look,
    /// The report is complete.
    Done,
    /// Given up after [`MAX_INVOCATIONS`].
    Abandoned,
}

/// One side's list so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The next page to read (1-based).
    pub page: u32,
    /// The list has ended.
    pub done: bool,
    /// Chunks saved.
    pub chunks: u32,
    /// Entries read (Open Klant: zaak onderwerpobjecten listed; Open Zaak: ZaakObjects read).
    pub read: u64,
}

/// The saved run (JSON in the [`crate::store::AuditStateStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRun {
    /// Run id (uuid): names its chunks.
    pub run: String,
    pub stage: Stage,
    /// RFC 3339.
    pub started: String,
    pub finished: Option<String>,
    /// Invocations that worked on the run.
    pub invocations: u32,
    pub open_klant: Listing,
    pub open_zaak: Listing,
    /// Chunks of candidates (stage `look`).
    pub candidates: u32,
    /// Candidates looked at (and mended) so far, in their saved order.
    pub looked: usize,
    /// When the candidates were found (the settling delay counts from here).
    pub found: Option<String>,
    /// Candidates being mended: an invocation that stopped before it saved the batch leaves
    /// them here, and the next leaves them alone (never mended twice; the next audit sees them).
    #[serde(default)]
    pub mending: Vec<String>,
    /// Chunks of the report so far, saved under generation `report_gen` (a new generation at
    /// each save, so the report always matches `looked`).
    pub report: u32,
    #[serde(default)]
    pub report_gen: u64,
    pub owner: Option<String>,
    pub lease_until: Option<String>,
}

impl SavedRun {
    pub fn fresh(run: String, now: DateTime<Utc>) -> Self {
        let first = Listing {
            page: 1,
            ..Default::default()
        };
        SavedRun {
            run,
            stage: Stage::List,
            started: ts(now),
            finished: None,
            invocations: 0,
            open_klant: first.clone(),
            open_zaak: first,
            candidates: 0,
            looked: 0,
            found: None,
            mending: Vec::new(),
            report: 0,
            report_gen: 0,
            owner: None,
            lease_until: None,
        }
    }

    /// Whether another invocation (not `owner`) holds the run at `now`.
    pub fn leased_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        held_by_other(self.owner.as_deref(), self.lease_until.as_deref(), owner, now)
    }

    pub fn lease(&mut self, owner: &str, until: DateTime<Utc>) {
        self.owner = Some(owner.to_owned());
        self.lease_until = Some(ts(until));
    }

    pub fn release(&mut self) {
        self.owner = None;
        self.lease_until = None;
    }

    /// The chunk pass names of this run.
    pub fn pass(&self, what: &str) -> String {
        format!("audit:{}:{what}", self.run)
    }
}

/// What an invocation does with the saved run it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Start a run; `previous` is an unfinished run it replaces (its chunks are dropped).
    Start { previous: Option<Box<SavedRun>> },
    /// Continue the unfinished run.
    Continue,
    /// Another invocation works the run.
    Busy,
    /// Nothing to continue (a continuation tick with no unfinished run).
    Idle,
}

/// Decide (pure). `start`: the audit's schedule (may start a run); otherwise a continuation
/// tick (only continues). An unfinished run older than [`MAX_AGE`] is discarded.
pub fn begin(found: Option<&SavedRun>, owner: &str, now: DateTime<Utc>, start: bool) -> Begin {
    let open = found.filter(|s| matches!(s.stage, Stage::List | Stage::Look));
    let Some(run) = open else {
        return if start {
            Begin::Start { previous: None }
        } else {
            Begin::Idle
        };
    };
    if run.leased_by_other(owner, now) {
        return Begin::Busy;
    }
    let age = parse(&run.started).map_or(chrono::Duration::MAX, |t| now - t);
    if age > chrono::Duration::from_std(MAX_AGE).unwrap_or(chrono::Duration::MAX) {
        return Begin::Start {
            previous: Some(Box::new(run.clone())),
        };
    }
    Begin::Continue
}

/// Group `lines` into chunks of at most [`CHUNK_BYTES`]; a longer line is refused.
pub fn chunked(lines: Vec<String>) -> Result<Vec<Vec<String>>, String> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut size = 0;
    for line in lines {
        if line.len() > CHUNK_BYTES {
            return Err(format!(
                "an entry of {} bytes is longer than a saved chunk may be ({CHUNK_BYTES})",
                line.len()
            ));
        }
        if out.is_empty() || size + line.len() + 1 > CHUNK_BYTES {
            out.push(Vec::new());
            size = 0;
        }
        size += line.len() + 1;
        out.last_mut().expect("a chunk").push(line);
    }
    Ok(out)
}

/// Text split into pieces of at most [`CHUNK_BYTES`] on character boundaries (one line each:
/// `text` has no line break).
pub fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// Open Klant's entry as a line: `[uuid, zaak, url]`.
pub fn ok_line(uuid: &str, e: &Expected) -> String {
    serde_json::to_string(&(uuid, &e.zaak, &e.url)).expect("strings serialise")
}

pub fn parse_ok_line(line: &str) -> Result<(String, Expected), String> {
    let (uuid, zaak, url): (String, String, String) =
        serde_json::from_str(line).map_err(|e| format!("saved Open Klant entry: {e}"))?;
    Ok((
        uuid,
        Expected {
            zaak,
            url,
            label: None,
        },
    ))
}

/// A ZaakObject as a line: `[url, zaak, object, label]`.
pub fn oz_line(r: &Relation) -> String {
    serde_json::to_string(&(&r.url, &r.zaak, &r.object, &r.label)).expect("strings serialise")
}

pub fn parse_oz_line(line: &str) -> Result<Relation, String> {
    let (url, zaak, object, label): (String, String, String, String) =
        serde_json::from_str(line).map_err(|e| format!("saved ZaakObject: {e}"))?;
    Ok(Relation {
        url,
        zaak,
        object,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn kind(b: Begin) -> &'static str {
        match b {
            Begin::Start { previous: None } => "start",
            Begin::Start { previous: Some(_) } => "start over",
            Begin::Continue => "continue",
            Begin::Busy => "busy",
            Begin::Idle => "idle",
        }
    }

    #[test]
    fn begin_table() {
        let open = SavedRun::fresh("r".into(), at(0));
        let mut held = open.clone();
        held.lease("other", at(60));
        let mut done = open.clone();
        done.stage = Stage::Done;
        let mut abandoned = open.clone();
        abandoned.stage = Stage::Abandoned;
        let old = 7 * 3600;
        // (name, found, now, start, want)
        let cases: Vec<(&str, Option<&SavedRun>, i64, bool, &str)> = vec![
            ("nothing, schedule", None, 0, true, "start"),
            ("nothing, tick", None, 0, false, "idle"),
            ("done, schedule", Some(&done), 10, true, "start"),
            ("done, tick", Some(&done), 10, false, "idle"),
            ("abandoned, tick", Some(&abandoned), 10, false, "idle"),
            ("open, tick", Some(&open), 10, false, "continue"),
            (
                "open, schedule: continued, not restarted",
                Some(&open),
                10,
                true,
                "continue",
            ),
            ("held by another", Some(&held), 30, false, "busy"),
            ("lease expired", Some(&held), 61, false, "continue"),
            ("too old, schedule", Some(&open), old, true, "start over"),
            ("too old, tick", Some(&open), old, false, "start over"),
        ];
        for (name, found, now, start, want) in cases {
            assert_eq!(kind(begin(found, "me", at(now), start)), want, "{name}");
        }
    }

    #[test]
    fn chunks_stay_under_the_item_limit_and_lines_round_trip() {
        let lines: Vec<String> = (0..5000).map(|i| format!("{i:0>200}")).collect();
        let chunks = chunked(lines.clone()).unwrap();
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.iter().map(|l| l.len() + 1).sum::<usize>() <= CHUNK_BYTES);
        }
        assert_eq!(chunks.concat(), lines);
        assert!(chunked(vec!["x".repeat(CHUNK_BYTES + 1)]).is_err());
        let text = "é".repeat(CHUNK_BYTES);
        let p = pieces(&text);
        assert_eq!((p.len(), p.concat()), (2, text));
        let r = Relation {
            url: "u\n".into(),
            zaak: "z".into(),
            object: "o\"".into(),
            label: "l".into(),
        };
        assert!(!oz_line(&r).contains('\n'));
        assert_eq!(parse_oz_line(&oz_line(&r)).unwrap(), r);
        let e = Expected {
            zaak: "z".into(),
            url: "u".into(),
            label: None,
        };
        assert_eq!(parse_ok_line(&ok_line("id", &e)).unwrap(), ("id".into(), e));
    }
}
