//! What the runs of one [`Resync`] (and its head poll) share beyond the checkpoint: a request
//! to stop (`zaaklink resync` on INT/TERM), the objects passed over because another writer
//! held their outbox (`held`), and the last pass period chosen (`period`, to log a change).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::held::Waiting;
use super::period::Why;
use super::run::Resync;

#[derive(Default)]
pub(super) struct Shared {
    stop: AtomicBool,
    pub(super) held: Mutex<Vec<Waiting>>,
    period: Mutex<Option<Why>>,
}

impl Shared {
    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether `why` differs from the period chosen last (and remember it).
    pub(super) fn period_changed(&self, why: Why) -> bool {
        let mut last = self.period.lock().unwrap_or_else(|p| p.into_inner());
        last.replace(why) != Some(why)
    }
}

impl Resync {
    /// Ask the run in progress (and every later one) to stop taking new objects: it finishes
    /// the batch in flight, saves the checkpoint (the part of the page done included), gives
    /// its lease up and ends with [`super::Stop::Deadline`]; [`Resync::full_pass`] then
    /// returns. For `zaaklink resync` on INT/TERM.
    pub fn stop(&self) {
        self.shared().stop.store(true, Ordering::SeqCst);
    }

    /// Whether [`Resync::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.shared().stopping()
    }

    /// Give up the outbox claims in the store (`Zaaklink::release_outbox_claims`): only for
    /// the embedded state file, which opens in one process only.
    pub async fn release_outbox_claims(&self) -> Result<usize, crate::Error> {
        self.app().release_outbox_claims().await
    }
}
