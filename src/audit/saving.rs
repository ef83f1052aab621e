//! Saving a run (I/O): its document with a compare-and-set and this invocation's lease, and
//! the report so far as a new generation of chunks (DESIGN §9, "A run over several
//! invocations").

use std::time::{Duration, Instant};

use chrono::Utc;

use super::chunks;
use super::read::AuditError;
use super::saved;
use super::work::{put_lines, Work};
use super::Audit;

/// The lease outlives the invocation's deadline by this much (a run whose invocation was
/// killed is taken over by the next tick after it).
const LEASE_SLACK: Duration = Duration::from_secs(30);

/// The lease of an invocation without a deadline.
const LEASE_UNTIMED: Duration = Duration::from_secs(900);

impl Audit {
    /// Save the run (with the report so far, as a new generation, when `report`), renewing
    /// the lease. A lost lease is `State(Conflict)`.
    pub(super) async fn save(&self, w: &mut Work, report: bool) -> Result<(), AuditError> {
        let store = w.store.clone().expect("saving needs a store");
        let old = (w.doc.report_gen, w.doc.report);
        if report {
            let text = serde_json::to_string(&w.report).expect("a report serialises");
            let gen = w.doc.report_gen + 1;
            let pass = w.doc.pass(&format!("report-{gen}"));
            w.doc.report = put_lines(store.as_ref(), &pass, 0, saved::pieces(&text)).await?;
            w.doc.report_gen = gen;
        }
        self.save_doc(w, true).await?;
        if report {
            chunks::drop(store.as_ref(), &w.doc.pass(&format!("report-{}", old.0)), old.1).await;
        }
        Ok(())
    }

    /// Save the document alone (compare-and-set): with this invocation's lease renewed, or
    /// (`lease` false) as it is — released at the end of an invocation.
    pub(super) async fn save_doc(&self, w: &mut Work, lease: bool) -> Result<(), AuditError> {
        let store = w.store.clone().expect("saving needs a store");
        if lease {
            let left = w.budget_left().unwrap_or(LEASE_UNTIMED);
            let until = Utc::now() + chrono::Duration::from_std(left + LEASE_SLACK).unwrap_or_default();
            w.doc.lease(&w.owner.clone(), until);
        }
        let json = serde_json::to_string(&w.doc).expect("a saved run serialises");
        store.save_audit(&json, w.version).await?;
        w.version += 1;
        w.saved_at = Instant::now();
        w.saved = Some(w.doc.clone());
        Ok(())
    }
}
