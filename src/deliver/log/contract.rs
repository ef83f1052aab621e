//! The behaviour every [`DeliveryLog`] must have, run on memory (unit test) and on
//! DynamoDB (moto, tests/it/deliver.rs). Public for the integration tests only.

use super::{ClaimOutcome, Claimed, Completion, DeliveryLog, ObjectState};

pub async fn delivery_log_contract(log: &dyn DeliveryLog) {
    let k = "object:http://ok/oo/1";
    claims_in_order_and_released(log, k).await;
    taken_over_parked_and_redriven(log, k).await;
    // keys are independent
    assert_eq!(
        log.claim("event:e1", 1, 0, "a", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: false
        })
    );
}

/// Place 1 of `k`: claimed once at a time, in order, and released.
async fn claims_in_order_and_released(log: &dyn DeliveryLog, k: &str) {
    assert_eq!(log.state(k).await.unwrap(), ObjectState::default());
    // place 2 cannot be claimed before 1 is applied
    assert_eq!(
        log.claim(k, 2, 1, "a", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Moved
    );
    // place 1: first claim wins, the second finds it busy
    assert_eq!(
        log.claim(k, 1, 0, "a", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: false
        })
    );
    assert_eq!(
        log.claim(k, 1, 0, "b", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Busy
    );
    let s = log.state(k).await.unwrap();
    assert_eq!(
        (s.applied, s.claim_seq, s.claim_owner.as_deref()),
        (0, Some(1), Some("a"))
    );
    assert!(s.live_claim(1_500) && !s.live_claim(2_500));
    // released: the next claimant learns of the earlier attempt
    log.release(k, "b").await.unwrap(); // not b's: no-op
    assert_eq!(
        log.claim(k, 1, 0, "b", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Busy
    );
    log.release(k, "a").await.unwrap();
    assert_eq!(
        log.claim(k, 1, 0, "b", 1_000, 2_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: true
        })
    );
}

/// An expired claim taken over; place 2 parked, then redriven.
async fn taken_over_parked_and_redriven(log: &dyn DeliveryLog, k: &str) {
    // an expired claim is taken over; the old owner cannot complete any more
    assert_eq!(
        log.claim(k, 1, 0, "c", 3_000, 4_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: true
        })
    );
    assert!(!log.complete(k, 1, "b", Completion::Applied).await.unwrap());
    assert!(log.complete(k, 1, "c", Completion::Applied).await.unwrap());
    let s = log.state(k).await.unwrap();
    assert_eq!(s.applied, 1);
    assert!(s.claim_owner.is_none() && s.claim_until_ms.is_none());
    // a repeat of place 1 cannot be claimed
    assert_eq!(
        log.claim(k, 1, 0, "d", 5_000, 6_000).await.unwrap(),
        ClaimOutcome::Moved
    );
    // place 2 parked: applied moves on, parkedSeq recorded
    assert_eq!(
        log.claim(k, 2, 1, "d", 5_000, 6_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: false
        })
    );
    assert!(log.complete(k, 2, "d", Completion::Parked).await.unwrap());
    let s = log.state(k).await.unwrap();
    assert_eq!((s.applied, s.parked_seq), (2, Some(2)));
    // a redrive of the parked latest place may claim it again (expect_applied == seq)
    assert_eq!(
        log.claim(k, 2, 2, "e", 5_000, 6_000).await.unwrap(),
        ClaimOutcome::Claimed(Claimed {
            earlier_attempt: false
        })
    );
    assert!(log.complete(k, 2, "e", Completion::Applied).await.unwrap());
    let s = log.state(k).await.unwrap();
    assert_eq!((s.applied, s.parked_seq), (2, None));
    // ...but not once it was applied normally
    assert_eq!(
        log.claim(k, 2, 2, "f", 5_000, 6_000).await.unwrap(),
        ClaimOutcome::Moved
    );
}
