//! In-process delivery log: for tests and for `zaaklink serve` without a state file.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ClaimOutcome, Claimed, Completion, DeliveryLog, DeliveryLogError, ObjectState};

#[derive(Debug, Default)]
pub struct MemoryDeliveryLog {
    objects: Mutex<HashMap<String, ObjectState>>,
}

impl MemoryDeliveryLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, ObjectState>) -> T) -> Result<T, DeliveryLogError> {
        let mut map = self
            .objects
            .lock()
            .map_err(|_| DeliveryLogError("poisoned lock".into()))?;
        Ok(f(&mut map))
    }
}

/// The claim rule on one state, shared with the embedded log.
pub(crate) fn claim_in(
    s: &mut ObjectState,
    seq: u64,
    expect_applied: u64,
    owner: &str,
    now_ms: u64,
    until_ms: u64,
) -> ClaimOutcome {
    if s.applied != expect_applied || (expect_applied == seq && s.parked_seq != Some(seq)) {
        return ClaimOutcome::Moved;
    }
    if s.live_claim(now_ms) {
        return ClaimOutcome::Busy;
    }
    let earlier_attempt = s.claim_seq == Some(seq);
    s.claim_seq = Some(seq);
    s.claim_owner = Some(owner.to_owned());
    s.claim_until_ms = Some(until_ms);
    ClaimOutcome::Claimed(Claimed { earlier_attempt })
}

pub(crate) fn complete_in(s: &mut ObjectState, seq: u64, owner: &str, how: Completion) -> bool {
    if s.claim_owner.as_deref() != Some(owner) || s.claim_seq != Some(seq) {
        return false;
    }
    s.applied = seq;
    s.claim_seq = None;
    s.claim_owner = None;
    s.claim_until_ms = None;
    s.parked_seq = (how == Completion::Parked).then_some(seq);
    true
}

pub(crate) fn release_in(s: &mut ObjectState, owner: &str) {
    if s.claim_owner.as_deref() == Some(owner) {
        s.claim_owner = None;
        s.claim_until_ms = None;
    }
}

#[async_trait]
impl DeliveryLog for MemoryDeliveryLog {
    async fn state(&self, key: &str) -> Result<ObjectState, DeliveryLogError> {
        self.with(|m| m.get(key).cloned().unwrap_or_default())
    }

    async fn claim(
        &self,
        key: &str,
        seq: u64,
        expect_applied: u64,
        owner: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<ClaimOutcome, DeliveryLogError> {
        self.with(|m| {
            claim_in(
                m.entry(key.to_owned()).or_default(),
                seq,
                expect_applied,
                owner,
                now_ms,
                until_ms,
            )
        })
    }

    async fn complete(
        &self,
        key: &str,
        seq: u64,
        owner: &str,
        how: Completion,
    ) -> Result<bool, DeliveryLogError> {
        self.with(|m| m.get_mut(key).is_some_and(|s| complete_in(s, seq, owner, how)))
    }

    async fn release(&self, key: &str, owner: &str) -> Result<(), DeliveryLogError> {
        self.with(|m| {
            if let Some(s) = m.get_mut(key) {
                release_in(s, owner)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_log_keeps_the_contract() {
        super::super::contract::delivery_log_contract(&super::MemoryDeliveryLog::new()).await;
    }
}
