//! Taking over the claims a run that died left in the state file (used by `serve` and `resync`).

use zaaklink::resync::Resync;

/// Give up a claim on the resync pass, and the outbox claims, left in the state file by a run
/// that died: this process holds the file, so no live run can hold them.
pub(crate) async fn take_over_dead_claim(resync: &Resync) -> Result<(), String> {
    match resync.release_claim().await {
        Ok(true) => {
            tracing::info!("took over the resync pass from a run that ended without giving it up (the state file opens in one process only)");
        }
        Ok(false) => {}
        Err(e) => {
            return Err(format!(
                "cannot read the resync checkpoint in the state file: {e}"
            ))
        }
    }
    match resync.release_outbox_claims().await {
        Ok(0) => Ok(()),
        Ok(n) => {
            tracing::info!(objects = n, "released the outbox claims a run left when it ended while putting events (the state file opens in one process only); those events go out with the next write of their object or the sweep");
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot release the outbox claims left in the state file: {e}"
        )),
    }
}
