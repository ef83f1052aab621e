//! What `zaaklink resync` shows (DESIGN §7): on a terminal a progress bar (phase and page,
//! objects of the list's `count`, objects/s, what changed), updated after every page; and one
//! summary line at the end, on a terminal or not. The texts are plain functions so they can be
//! tested; the bar is `indicatif`'s.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Phase, Progress, Report, Stop};

/// The bar's template: spinner, phase, bar, objects of the list's count, then [`message`].
const TEMPLATE: &str = "{spinner} {prefix:<14} [{bar:30}] {pos}/{len} objects | {msg}";

/// The phase as the bar's prefix: `list page 3`, `stored links`, `done`.
pub fn prefix(p: &Progress) -> String {
    match p.phase {
        // `page` is the next page to read: the one just done is one less.
        Phase::List => format!("list page {}", p.page.saturating_sub(1).max(1)),
        Phase::Stored => "stored links".into(),
        Phase::Done => "done".into(),
    }
}

/// The rate and what changed: `123 objects/s | 4 changed, 5 events`.
pub fn message(p: &Progress, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "{:.0} objects/s | {} changed, {} events",
        p.run.objects as f64 / secs,
        p.run.written,
        p.run.emitted
    )
}

/// The bar's length: the list's `count`, or the objects checked when they are more (phase
/// `stored` adds the stored links the list did not show).
pub fn length(p: &Progress) -> u64 {
    p.listed.unwrap_or(0).max(p.run.objects)
}

/// The line printed when the run ends.
pub fn summary(r: &Report, elapsed: Duration) -> String {
    format!(
        "resync done ({:?}): {} onderwerpobjecten checked, {} changed, {} events emitted, {} pages, {:.1} s",
        r.stop,
        r.run.objects,
        r.run.written,
        r.run.emitted,
        r.run.pages,
        elapsed.as_secs_f64()
    )
}

/// How `zaaklink resync`, which asked for a pass, ends: `Ok` when the pass completed (or
/// stopped at a deadline, to be continued), `Err` with the cause and the fix when it could not
/// work the pass (its exit status is then non-zero).
pub fn outcome(r: &Report) -> Result<(), String> {
    match &r.stop {
        Stop::PassDone | Stop::Deadline => Ok(()),
        Stop::Busy => Err(
            "resync did not run: another run holds the pass (a `zaaklink serve` or `zaaklink resync` on this state file);              try again when it is done"
                .into(),
        ),
        Stop::LeaseLost => Err(
            "resync stopped: another run took the pass over (this run's claim had expired);              the pass goes on there, or run `zaaklink resync` again"
                .into(),
        ),
        Stop::Idle { next } => Err(format!(
            "resync did not run: the last pass completed less than --resync-interval ago (next at {next})"
        )),
    }
}

/// A progress bar on stderr, and the callback that updates it (for
/// [`super::Resync::on_progress`]). Call [`ProgressBar::finish_and_clear`] before the summary.
pub fn terminal_bar(started: Instant) -> (ProgressBar, impl Fn(&Progress) + Send + Sync + 'static) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(TEMPLATE)
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix("starting");
    bar.enable_steady_tick(Duration::from_millis(200));
    let shown = bar.clone();
    let update = move |p: &Progress| {
        shown.set_length(length(p));
        shown.set_position(p.run.objects);
        shown.set_prefix(prefix(p));
        shown.set_message(message(p, started.elapsed()));
    };
    (bar, update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resync::{Counts, Stop};

    fn progress(phase: Phase, page: u32, listed: Option<u64>, objects: u64) -> Progress {
        Progress {
            phase,
            page,
            listed,
            run: Counts {
                objects,
                written: 3,
                emitted: 4,
                ..Default::default()
            },
        }
    }

    #[test]
    fn texts() {
        let p = progress(Phase::List, 3, Some(1000), 500);
        assert_eq!(prefix(&p), "list page 2");
        assert_eq!(
            message(&p, Duration::from_secs(2)),
            "250 objects/s | 3 changed, 4 events"
        );
        assert_eq!(length(&p), 1000);
        let s = progress(Phase::Stored, 4, Some(1000), 1010);
        assert_eq!(prefix(&s), "stored links");
        assert_eq!(length(&s), 1010);
        assert_eq!(length(&progress(Phase::List, 1, None, 0)), 0);
        let r = Report {
            stop: Stop::PassDone,
            pass: None,
            phase: Some(Phase::Done),
            run: Counts {
                objects: 9,
                written: 8,
                emitted: 7,
                pages: 2,
                ..Default::default()
            },
            pass_counts: Counts::default(),
        };
        assert_eq!(
            summary(&r, Duration::from_millis(1500)),
            "resync done (PassDone): 9 onderwerpobjecten checked, 8 changed, 7 events emitted, 2 pages, 1.5 s"
        );
    }

    #[test]
    fn a_pass_that_did_not_run_is_a_failure_with_the_cause() {
        let r = |stop| Report {
            stop,
            pass: None,
            phase: None,
            run: Counts::default(),
            pass_counts: Counts::default(),
        };
        assert_eq!(outcome(&r(Stop::PassDone)), Ok(()));
        assert_eq!(outcome(&r(Stop::Deadline)), Ok(()));
        let busy = outcome(&r(Stop::Busy)).unwrap_err();
        assert!(
            busy.contains("another run holds the pass") && busy.contains("try again"),
            "{busy}"
        );
        let lost = outcome(&r(Stop::LeaseLost)).unwrap_err();
        assert!(lost.contains("took the pass over"), "{lost}");
        let idle = outcome(&r(Stop::Idle {
            next: "2026-12-03T10:00:00.000Z".into(),
        }))
        .unwrap_err();
        assert!(idle.contains("2026-12-03T10:00:00.000Z"), "{idle}");
    }

    #[test]
    fn the_bar_follows_the_progress() {
        let (bar, update) = terminal_bar(Instant::now());
        update(&progress(Phase::List, 2, Some(40), 20));
        assert_eq!((bar.position(), bar.length()), (20, Some(40)));
        assert_eq!(bar.prefix(), "list page 1");
        assert!(
            bar.message().ends_with("3 changed, 4 events"),
            "{}",
            bar.message()
        );
        bar.finish_and_clear();
    }
}
