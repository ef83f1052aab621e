//! Metrics (DESIGN §6 "Metrics"): the edges record through the `metrics` facade; the Lambda
//! functions install [`Emf`], which writes them to stdout in CloudWatch's embedded metric
//! format (EMF, `metrics_cloudwatch_embedded`) at the end of every invocation. Without it
//! (the CLI, tests that do not install it) every call here is a no-op, so nothing prints.
//!
//! The names, units and the one dimension (`Outcome`) are a contract: the CloudWatch
//! dashboard and alarms search for them by namespace and metric name.

use std::io::Write;

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_cloudwatch_embedded::{Builder, Collector};

/// Webhook requests, by [`NotificationOutcome`] (Count).
pub const NOTIFICATIONS: &str = "Notifications";
/// CloudEvents put on the event bus by the webhook, the outbox sweep and the resync (Count).
pub const EVENTS_PUT: &str = "EventsPut";
/// CloudEvents that reached the end of a delivery attempt, by [`DeliveryOutcome`] (Count).
pub const DELIVERIES: &str = "Deliveries";
/// Events skipped because their object had moved past their place (Count).
pub const STALE_EVENTS_SKIPPED: &str = "StaleEventsSkipped";
/// From a CloudEvent's `time` to Open Zaak's 2xx (Milliseconds).
pub const DELIVERY_LAG: &str = "DeliveryLag";
/// Onderwerpobjecten a resync run looked at (Count).
pub const RESYNC_OBJECTS: &str = "ResyncObjects";
/// Links a resync run changed (written) (Count).
pub const RESYNC_CHANGES: &str = "ResyncChanges";
/// Resync passes that completed (Count).
pub const RESYNC_PASSES_COMPLETED: &str = "ResyncPassesCompleted";
/// Differences an audit found, by `Kind` (`missing`, `stray`, `duplicated`, `malformed`,
/// `labelDifferent`), and `Kind` = `remaining`: the counted ones left after its repair
/// (the `AuditDifferencesAlarm`).
pub const AUDIT_DIFFERENCES: &str = "AuditDifferences";
/// Deliveries whose zaakobjecten read Open Zaak refused (401/403: no `zaken.lezen`) or
/// could not answer usefully: sent without the checks against duplicates and silent drops
/// (Count; alarmed by the stack).
pub const VERIFICATION_UNAVAILABLE: &str = "VerificationUnavailable";
/// The dimension of [`NOTIFICATIONS`] and [`DELIVERIES`].
pub const OUTCOME: &str = "Outcome";

/// `METRICS_NAMESPACE` when unset or empty.
pub const DEFAULT_NAMESPACE: &str = "zaaklink";

/// What became of one webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// 204, reconciled (whether or not anything changed).
    Handled,
    /// 204, not about onderwerpobjecten (another kanaal, resource or actie).
    Ignored,
    /// 401: missing or wrong `Authorization`.
    Unauthorized,
    /// Any other 4xx (400, 405, 413, 415, …): nothing read or written.
    Rejected,
    /// 5xx: Open Klant, the store or the bus failed; Open Notificaties retries.
    Failed,
}

impl NotificationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Handled => "handled",
            NotificationOutcome::Ignored => "ignored",
            NotificationOutcome::Unauthorized => "unauthorized",
            NotificationOutcome::Rejected => "rejected",
            NotificationOutcome::Failed => "failed",
        }
    }

    /// The outcome of a refusal or failure by its status (a 2xx counts as handled).
    pub fn of_status(status: u16) -> Self {
        match status {
            401 => NotificationOutcome::Unauthorized,
            400..=499 => NotificationOutcome::Rejected,
            500.. => NotificationOutcome::Failed,
            _ => NotificationOutcome::Handled,
        }
    }
}

/// What became of one CloudEvent (one SQS message) in `deliver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Open Zaak answered 2xx.
    Delivered,
    /// Nothing sent: its place was applied before, its object moved past it, or the
    /// ZaakObject was already there.
    AlreadyDelivered,
    /// The message goes back to the queue (Open Zaak unavailable, early, in flight, …).
    Retried,
    /// Sent to the parked queue (refused, 4xx, no CloudEvent).
    Parked,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::AlreadyDelivered => "already_delivered",
            DeliveryOutcome::Retried => "retried",
            DeliveryOutcome::Parked => "parked",
        }
    }
}

pub fn notification(outcome: NotificationOutcome) {
    counter!(NOTIFICATIONS, OUTCOME => outcome.as_str()).increment(1);
}

pub fn events_put(n: u64) {
    if n > 0 {
        counter!(EVENTS_PUT).increment(n);
    }
}

pub fn delivery(outcome: DeliveryOutcome) {
    counter!(DELIVERIES, OUTCOME => outcome.as_str()).increment(1);
}

pub fn verification_unavailable() {
    counter!(VERIFICATION_UNAVAILABLE).increment(1);
}

pub fn stale_event_skipped() {
    counter!(STALE_EVENTS_SKIPPED).increment(1);
}

pub fn delivery_lag(ms: f64) {
    histogram!(DELIVERY_LAG).record(ms.max(0.0));
}

/// The summary of one resync run: objects looked at, links changed, events put, and
/// whether the run completed its pass.
pub fn resync_run(objects: u64, changes: u64, events: u64, pass_completed: bool) {
    counter!(RESYNC_OBJECTS).increment(objects);
    counter!(RESYNC_CHANGES).increment(changes);
    events_put(events);
    if pass_completed {
        counter!(RESYNC_PASSES_COMPLETED).increment(1);
    }
}

/// One audit's differences of one kind (`Kind` dimension): a gauge, so 0 is written too and
/// the graph shows every audit.
pub fn audit_differences(kind: &'static str, n: u64) {
    metrics::gauge!(AUDIT_DIFFERENCES, "Kind" => kind).set(n as f64);
}

/// `METRICS_NAMESPACE` is invalid.
#[derive(Debug, thiserror::Error)]
#[error("METRICS_NAMESPACE {0:?} is invalid: a CloudWatch namespace is 1–255 characters of letters, digits and . - _ / # : space, and does not start with \"AWS/\"; unset it for {DEFAULT_NAMESPACE:?}")]
pub struct NamespaceError(pub String);

/// The namespace from `METRICS_NAMESPACE` (`zaaklink` when unset or empty).
pub fn namespace(value: Option<&str>) -> Result<String, NamespaceError> {
    let ns = value.map(str::trim).filter(|v| !v.is_empty());
    let Some(ns) = ns else {
        return Ok(DEFAULT_NAMESPACE.to_owned());
    };
    let ok_char = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if ns.len() > 255 || ns.starts_with("AWS/") || !ns.chars().all(ok_char) {
        return Err(NamespaceError(ns.to_owned()));
    }
    Ok(ns.to_owned())
}

/// The EMF exporter of a Lambda function: the process's metrics recorder. One per process.
pub struct Emf {
    collector: &'static Collector,
}

impl Emf {
    /// Install the recorder for `METRICS_NAMESPACE`.
    pub fn from_env() -> Result<Self, String> {
        let ns = namespace(std::env::var("METRICS_NAMESPACE").ok().as_deref()).map_err(|e| e.to_string())?;
        Self::install(&ns)
    }

    /// Install the recorder for `namespace` (fails when the process already has one).
    pub fn install(namespace: &str) -> Result<Self, String> {
        let collector = Builder::new()
            .cloudwatch_namespace(namespace.to_owned())
            .init()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        for name in [
            NOTIFICATIONS,
            EVENTS_PUT,
            DELIVERIES,
            STALE_EVENTS_SKIPPED,
            VERIFICATION_UNAVAILABLE,
            RESYNC_OBJECTS,
            RESYNC_CHANGES,
            RESYNC_PASSES_COMPLETED,
        ] {
            describe_counter!(name, Unit::Count, "");
        }
        describe_histogram!(DELIVERY_LAG, Unit::Milliseconds, "");
        metrics::describe_gauge!(AUDIT_DIFFERENCES, Unit::Count, "");
        Ok(Emf { collector })
    }

    /// The EMF documents of everything recorded since the last flush (one JSON line per
    /// dimension set; nothing when nothing was recorded), marked with the invocation's
    /// request id.
    pub fn take(&self, request_id: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        self.collector.set_property("requestId", request_id.to_owned());
        if let Err(e) = self.collector.flush(&mut buf) {
            tracing::warn!(error = %e, "metrics not written");
        }
        buf
    }

    /// Write [`Self::take`] to stdout in one write (CloudWatch Logs extracts the metrics), at
    /// the end of every invocation: before the answer, so nothing is lost when the
    /// execution environment freezes.
    pub fn flush(&self, request_id: &str) {
        let buf = self.take(request_id);
        if buf.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "metrics not written to stdout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_defaults_and_checks() {
        assert_eq!(namespace(None).unwrap(), "zaaklink");
        assert_eq!(namespace(Some("  ")).unwrap(), "zaaklink");
        assert_eq!(namespace(Some("zaaklink/prod-1")).unwrap(), "zaaklink/prod-1");
        for bad in ["AWS/Lambda", "zaak{link}", "ü", &"x".repeat(256)] {
            let e = namespace(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("METRICS_NAMESPACE"), "{e}");
        }
    }

    #[test]
    fn outcomes_by_status() {
        use NotificationOutcome::*;
        for (status, want) in [
            (204, Handled),
            (401, Unauthorized),
            (400, Rejected),
            (405, Rejected),
            (413, Rejected),
            (415, Rejected),
            (502, Failed),
            (503, Failed),
        ] {
            assert_eq!(NotificationOutcome::of_status(status), want, "{status}");
        }
    }
}
