//! The audit's saved run port (DESIGN §9, "A run over several invocations"): one state
//! document, written only with a compare-and-set on its version (so one invocation at a time
//! works a run: the document carries its lease). Its chunks (what the lists held, the
//! candidates, the report so far) are seen chunks of reserved passes of the
//! [`CheckpointStore`] it extends. The document is opaque here (JSON text); its meaning
//! lives in `crate::audit`.

use async_trait::async_trait;

use super::{CheckpointStore, SavedCheckpoint, StoreError};

#[async_trait]
pub trait AuditStateStore: CheckpointStore {
    /// The audit's state document, if one was ever saved.
    async fn load_audit(&self) -> Result<Option<SavedCheckpoint>, StoreError>;
    /// Save `json` as version `expected + 1`, only if the stored version is still `expected`
    /// (0 = none yet); otherwise [`StoreError::Conflict`].
    async fn save_audit(&self, json: &str, expected: u64) -> Result<(), StoreError>;
}

/// The behaviour every [`AuditStateStore`] must have (memory and embedded in their unit
/// tests, DynamoDB against moto in tests/it/audit_resume.rs). The resync's checkpoint is a
/// separate document: neither overwrites the other.
#[doc(hidden)]
#[cfg(any(test, feature = "testkit"))]
pub mod contract {
    use super::*;

    pub async fn audit_state_contract(store: &dyn AuditStateStore) {
        assert_eq!(store.load_audit().await.unwrap(), None);
        store.save_audit("{\"a\":1}", 0).await.unwrap();
        assert!(matches!(
            store.save_audit("{\"a\":2}", 0).await,
            Err(StoreError::Conflict)
        ));
        store.save_checkpoint("{\"resync\":1}", 0).await.unwrap();
        store.save_audit("{\"a\":2}", 1).await.unwrap();
        assert!(matches!(
            store.save_audit("{\"a\":3}", 1).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.load_audit().await.unwrap(),
            Some(SavedCheckpoint {
                json: "{\"a\":2}".into(),
                version: 2
            })
        );
        assert_eq!(
            store.load_checkpoint().await.unwrap().unwrap().json,
            "{\"resync\":1}"
        );
    }
}
