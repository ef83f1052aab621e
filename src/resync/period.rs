//! How often a new pass starts (DESIGN §7a, "How often the pass runs"): the pass period
//! follows what zaaklink hears. While Open Klant's own CloudEvents arrive, every change made
//! through its API is announced, the head poll catches creates and (by the count) deletes,
//! and the pass is only a backstop for edits outside the API and events Open Notificaties
//! gave up on: it runs every `RESYNC_BACKSTOP_INTERVAL` (1h). Without them it runs every
//! `RESYNC_INTERVAL` (90s: a pass every 2 minutes). [`choose`] is the rule (pure);
//! [`pass_interval`] reads when one was last heard (`pipeline::heard`).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::ResyncSettings;
use crate::Zaaklink;

/// A CloudEvent of Open Klant heard this recently means its emitter is on. Long enough to
/// span a weekend without changes; an emitter switched off is noticed after it (or at
/// once with `RESYNC_BACKSTOP_INTERVAL=off`).
pub const HEARD_WITHIN: Duration = Duration::from_secs(72 * 3600);

/// Why the period is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `RESYNC_BACKSTOP_INTERVAL=off`: always `RESYNC_INTERVAL`.
    Fixed,
    /// No CloudEvent of Open Klant heard within [`HEARD_WITHIN`]: `RESYNC_INTERVAL`.
    NotHeard,
    /// Open Klant's CloudEvents arrive: the backstop period (never shorter than
    /// `RESYNC_INTERVAL`).
    Heard,
}

/// The least time between the starts of two passes, and why: `interval` (`RESYNC_INTERVAL`),
/// or `backstop` (`RESYNC_BACKSTOP_INTERVAL`, None = off) while a CloudEvent of Open Klant
/// was heard within [`HEARD_WITHIN`] before `now`.
pub fn choose(
    interval: Duration,
    backstop: Option<Duration>,
    heard: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Duration, Why) {
    let Some(backstop) = backstop else {
        return (interval, Why::Fixed);
    };
    let within = chrono::Duration::from_std(HEARD_WITHIN).unwrap_or_default();
    match heard {
        Some(t) if now - t <= within => (interval.max(backstop), Why::Heard),
        _ => (interval, Why::NotHeard),
    }
}

/// The period chosen last, to log a change (shared by the runs of one `Resync`).
#[derive(Default)]
pub(super) struct Last(Mutex<Option<Why>>);

impl Last {
    /// Whether `why` differs from the one chosen last (and remember it).
    fn changed(&self, why: Why) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        last.replace(why) != Some(why)
    }
}

/// The period for a run starting at `now` ([`choose`]), reading when Open Klant's CloudEvents
/// were last heard from `app`'s store; logged when it changes. A store that cannot say keeps
/// the short period.
pub(super) async fn pass_interval(
    app: &Zaaklink,
    s: &ResyncSettings,
    last: &Last,
    now: DateTime<Utc>,
) -> Duration {
    let heard = match s.backstop {
        None => None,
        Some(_) => match app.cloudevent_heard().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "resync cannot read whether Open Klant's CloudEvents arrive; it keeps RESYNC_INTERVAL");
                None
            }
        },
    };
    let (period, why) = choose(s.interval, s.backstop, heard, now);
    if last.changed(why) {
        let last_heard = heard.map(super::checkpoint::ts);
        tracing::info!(period_s = period.as_secs(), why = ?why, last_heard = ?last_heard,
        "resync pass period: {}", match why {
            Why::Fixed => "RESYNC_INTERVAL (RESYNC_BACKSTOP_INTERVAL is off)",
            Why::NotHeard => "RESYNC_INTERVAL: no CloudEvent of Open Klant heard in the last 72 hours",
            Why::Heard => "RESYNC_BACKSTOP_INTERVAL: Open Klant's CloudEvents arrive, the pass is a backstop",
        });
    }
    period
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_follows_what_zaaklink_hears() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        let (m90, h1) = (Duration::from_secs(90), Duration::from_secs(3600));
        type Case = (
            &'static str,
            Duration,
            Option<Duration>,
            Option<DateTime<Utc>>,
            Duration,
            Why,
        );
        let cases: Vec<Case> = vec![
            (
                "backstop off: fixed, heard or not",
                m90,
                None,
                ago(10),
                m90,
                Why::Fixed,
            ),
            ("backstop off, never heard", m90, None, None, m90, Why::Fixed),
            ("never heard: short", m90, Some(h1), None, m90, Why::NotHeard),
            (
                "heard a minute ago: backstop",
                m90,
                Some(h1),
                ago(60),
                h1,
                Why::Heard,
            ),
            (
                "heard 72 h ago exactly: still on",
                m90,
                Some(h1),
                ago(72 * 3600),
                h1,
                Why::Heard,
            ),
            (
                "heard longer ago: short again",
                m90,
                Some(h1),
                ago(72 * 3600 + 1),
                m90,
                Why::NotHeard,
            ),
            (
                "a clock ahead of ours: heard",
                m90,
                Some(h1),
                ago(-30),
                h1,
                Why::Heard,
            ),
            (
                "forced long: RESYNC_INTERVAL 1h",
                h1,
                Some(h1),
                None,
                h1,
                Why::NotHeard,
            ),
            (
                "backstop shorter than the interval: the interval",
                h1,
                Some(m90),
                ago(5),
                h1,
                Why::Heard,
            ),
        ];
        for (what, interval, backstop, heard, want, why) in cases {
            assert_eq!(choose(interval, backstop, heard, now), (want, why), "{what}");
        }
    }
}
