//! Stopping a resync from outside (`zaaklink resync` on INT/TERM), and giving up the outbox
//! claims a dead run left in the embedded state file.

use super::run::Resync;

impl Resync {
    /// Ask the run in progress (and every later one) to stop taking new objects: it finishes
    /// the batch in flight, saves the checkpoint (the part of the page done included), gives
    /// its lease up and ends with [`super::Stop::Deadline`]; [`Resync::full_pass`] then
    /// returns. For `zaaklink resync` on INT/TERM.
    pub fn stop(&self) {
        self.shared().stop();
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
