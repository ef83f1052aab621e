//! Recording the end of a claimed place in the delivery log.

use std::time::Duration;

use super::Deliverer;
use crate::deliver::log::{Completion, DeliveryLog};
use crate::deliver::DeliverError;

/// Attempts at recording the outcome of a POST that Open Zaak answered.
const COMPLETE_ATTEMPTS: u32 = 3;

impl<L: DeliveryLog> Deliverer<L> {
    /// Record the end of a claimed place, retrying a failing log a few times: after a 2xx
    /// a lost mark would mean a second POST.
    pub(super) async fn finish(
        &self,
        key: &str,
        n: u64,
        owner: &str,
        how: Completion,
    ) -> Result<(), DeliverError> {
        let mut last = None;
        for attempt in 0..COMPLETE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            match self.log.complete(key, n, owner, how).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    tracing::warn!(key, seq = n, "the claim expired and was taken over before it was recorded; the other attempt records it");
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt").into())
    }
}
