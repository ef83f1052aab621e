//! One audit (I/O): read both sides, compare, look again at what differs, report, and with
//! `--repair` mend through the outbox (DESIGN §9). The stages live in `stages`; an audit
//! that spans several Lambda invocations is driven by `resume`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::read::AuditError;
use super::report::Report;
use super::saved::SavedRun;
use super::work::{failed, Budget, Work};
use super::zaakobjecten::ZaakObjecten;
use crate::resync::patient::Patient;
use crate::Zaaklink;

/// How an audit runs (`zaaklink audit`'s options, the scheduled audits' settings).
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Page size of both lists (at most 500 on either side).
    pub page_size: u32,
    /// The wait before the second look at the candidates (DESIGN §9, "Settling").
    pub settle: Duration,
    /// Candidates looked at again at once.
    pub concurrency: usize,
    /// Examples per kind in the report.
    pub examples: usize,
    /// Mend the counted differences through the outbox.
    pub repair: bool,
    /// Also replace relations whose label differs (with `repair`).
    pub repair_labels: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            page_size: 500,
            settle: DEFAULT_SETTLE,
            concurrency: 4,
            examples: 10,
            repair: false,
            repair_labels: false,
        }
    }
}

/// The default wait before the second look: longer than a delivery through `deliver` usually
/// takes (DESIGN §9).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);

/// The audit over a pipeline (Open Klant, state, sink) and Open Zaak's zaakobjecten.
#[derive(Clone)]
pub struct Audit {
    pub(super) app: Zaaklink,
    pub(super) oz: Arc<dyn ZaakObjecten>,
    pub(super) settings: AuditSettings,
}

impl Audit {
    /// Open Klant reads are retried with backoff on 429/5xx, as the resync's are.
    pub fn new(app: &Zaaklink, oz: Arc<dyn ZaakObjecten>, settings: AuditSettings) -> Self {
        let mut app = app.clone();
        app.klant = Arc::new(Patient {
            inner: app.klant.clone(),
            retries: 4,
            base: Duration::from_millis(250),
        });
        Audit { app, oz, settings }
    }

    /// Run it whole, in memory (the CLI, `serve`); a side that cannot be read gives a report
    /// with exit status 2 (nothing repaired).
    pub async fn run(&self) -> Report {
        let started = Instant::now();
        let doc = SavedRun::fresh(uuid::Uuid::new_v4().to_string(), chrono::Utc::now());
        let mut w = Work::new(doc, None, Budget::new(None));
        let mut report = match self.drive(&mut w).await {
            Ok(_) => self.finished(&mut w),
            Err(e) => failed(&e),
        };
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    /// The stages from where `w` stands until the report is complete (true) or the budget
    /// ends the invocation (false).
    pub(super) async fn drive(&self, w: &mut Work) -> Result<bool, AuditError> {
        use super::saved::Stage;
        if w.doc.stage == Stage::List {
            if !self.list_stage(w).await? || !w.budget.room() {
                return Ok(false);
            }
            self.compare_step(w).await?;
        }
        if w.doc.stage == Stage::Look {
            return self.look_stage(w).await;
        }
        Ok(true)
    }

    /// The report of a run whose stages are done: what remains after the repairs.
    pub(super) fn finished(&self, w: &mut Work) -> Report {
        let mut report = std::mem::take(&mut w.report);
        report.settling.delay_seconds = self.settings.settle.as_secs_f64();
        if self.settings.repair {
            let mut repairs = report.repairs.take().unwrap_or_default();
            repairs.labels = self.settings.repair_labels;
            report.remaining = report.counted.saturating_sub(repairs.differences);
            report.repairs = Some(repairs);
        }
        report.settle_result()
    }
}
