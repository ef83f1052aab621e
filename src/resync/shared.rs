//! What the runs of one `Resync` (and its head poll) share beyond the checkpoint: a request
//! to stop (`zaaklink resync` on INT/TERM), the objects passed over because another writer
//! held their outbox (`held`), and the last pass period chosen (`period`, to log a change).

use std::sync::atomic::{AtomicBool, Ordering};

use super::held::Noted;
use super::period::Last;

#[derive(Default)]
pub(super) struct Shared {
    stop: AtomicBool,
    pub(super) held: Noted,
    pub(super) period: Last,
}

impl Shared {
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
