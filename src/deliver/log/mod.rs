//! The delivery-log port (DESIGN §5, "Delivery state"): per object key (see
//! [`super::event::Place`]) the highest place applied at Open Zaak, the claim of the one
//! invocation delivering the next place right now, and the last parked place.
//!
//! The rule [`super::Deliverer`] follows for event `n` of an object:
//! - `applied ≥ n`: skip, "already applied" (a repeat);
//! - `applied < n − 1`: early, fail so it is retried later (it waits for `n − 1`);
//! - `applied = n − 1`: [`DeliveryLog::claim`] with a conditional write (no live claim of
//!   anyone else), POST, then [`DeliveryLog::complete`] (applied = n, claim cleared) on the
//!   condition that the claim is still ours. Two invocations of one event: one claims, the
//!   other finds a live claim and is retried later, when it sees `applied ≥ n` and skips.
//!
//! A claim that is released (retryable failure) or that expires (crash) leaves `claimSeq`:
//! the next claimant of the same place learns that an earlier attempt may have reached
//! Open Zaak ([`Claimed::earlier_attempt`]).

use async_trait::async_trait;

/// The behaviour every [`DeliveryLog`] must have (log/contract.rs): for tests only.
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod contract;
pub mod dynamodb;
pub mod embedded;
pub mod memory;

pub use dynamodb::DynamoDbDeliveryLog;
pub use embedded::EmbeddedDeliveryLog;
pub use memory::MemoryDeliveryLog;

/// A failure of the delivery log's storage (retried: the message fails).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryLogError(pub String);

/// The delivery state of one object key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectState {
    /// The highest place applied (delivered or parked); 0 = none.
    pub applied: u64,
    /// The place last claimed (kept after a release: "an attempt was made").
    pub claim_seq: Option<u64>,
    /// Owner and end (unix ms) of the current claim, if any.
    pub claim_owner: Option<String>,
    pub claim_until_ms: Option<u64>,
    /// The last place parked, while it is also `applied` (a redrive may re-apply it).
    pub parked_seq: Option<u64>,
}

impl ObjectState {
    /// Whether someone else holds a claim that has not expired at `now_ms`.
    pub fn live_claim(&self, now_ms: u64) -> bool {
        self.claim_owner.is_some() && self.claim_until_ms.is_some_and(|until| until > now_ms)
    }
}

/// What [`DeliveryLog::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The place is ours until the claim ends.
    Claimed(Claimed),
    /// Someone else holds a live claim on this object: retry later.
    Busy,
    /// `applied` is no longer what the caller expected: read the state again.
    Moved,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// An earlier claim of this same place existed (its POST may have reached Open Zaak).
    pub earlier_attempt: bool,
}

/// How a claimed place ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Open Zaak accepted it (or it was found applied).
    Applied,
    /// Parked: it can never be delivered as it is; `applied` moves past it so later places
    /// are not blocked, and the place is recorded as `parkedSeq`.
    Parked,
}

/// Where the per-object delivery state lives.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// The state of `key` (default when unknown), read strongly consistent.
    async fn state(&self, key: &str) -> Result<ObjectState, DeliveryLogError>;
    /// Claim place `seq` of `key` for `owner` until `until_ms`, only if `applied` is
    /// `expect_applied` (and, when `expect_applied == seq`, a redrive of the latest place,
    /// only if that place was parked) and no claim is live at `now_ms`.
    async fn claim(
        &self,
        key: &str,
        seq: u64,
        expect_applied: u64,
        owner: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<ClaimOutcome, DeliveryLogError>;
    /// `applied = seq`, claim cleared, only while `owner` holds the claim on `seq`.
    /// `Ok(false)`: the claim was lost (expired and taken over).
    async fn complete(
        &self,
        key: &str,
        seq: u64,
        owner: &str,
        how: Completion,
    ) -> Result<bool, DeliveryLogError>;
    /// Drop `owner`'s claim (keeps `claimSeq`); no-op when it is no longer ours.
    async fn release(&self, key: &str, owner: &str) -> Result<(), DeliveryLogError>;
}
