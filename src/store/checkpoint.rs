//! The resync checkpoint port (DESIGN §7): one checkpoint document, written only with a
//! compare-and-set on its version, and the uuids each pass saw in Open Klant's list ("seen"
//! chunks, one per list page) so that a pass continued in another invocation knows which
//! stored links Open Klant did not list. The document is opaque here (JSON text); its
//! meaning lives in `crate::resync`.

use async_trait::async_trait;

use super::StoreError;

/// The stored checkpoint: its JSON and the version it was written with (the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheckpoint {
    pub json: String,
    pub version: u64,
}

#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoint, if one was ever saved.
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError>;
    /// Save `json` as version `expected + 1`, only if the stored version is still `expected`
    /// (0 = none yet); otherwise [`StoreError::Conflict`].
    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError>;
    /// Remember the uuids page `chunk` of pass `pass` listed (overwrites that chunk).
    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError>;
    /// Every uuid pass `pass` remembered, chunks `0..chunks`.
    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError>;
    /// Forget the chunks `0..chunks` of pass `pass`.
    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError>;
    /// The head poll's state (JSON without line breaks), if one was ever saved. Kept as the
    /// one seen chunk of the reserved pass [`HEAD_STATE_PASS`] (never a pass id: those are
    /// uuids), so every adapter and wrapper has it without code of its own.
    async fn load_head(&self) -> Result<Option<String>, StoreError> {
        Ok(self.seen(HEAD_STATE_PASS, 1).await?.into_iter().next())
    }
    /// Save the head poll's state (last writer wins: two polls at once save the same facts).
    async fn save_head(&self, json: &str) -> Result<(), StoreError> {
        debug_assert!(!json.contains('\n'), "the head state is one line");
        self.put_seen(HEAD_STATE_PASS, 0, &[json.to_string()]).await
    }
}

/// The reserved "pass" under which the head poll's state is kept.
pub const HEAD_STATE_PASS: &str = "head-poll";

/// The behaviour every [`CheckpointStore`] must have (memory and embedded in their unit
/// tests, DynamoDB against moto in tests/it/aws_moto.rs).
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod contract {
    use super::*;

    pub async fn checkpoint_contract(store: &dyn CheckpointStore) {
        assert_eq!(store.load_checkpoint().await.unwrap(), None);
        store.save_checkpoint("{\"a\":1}", 0).await.unwrap();
        assert!(matches!(
            store.save_checkpoint("{\"a\":2}", 0).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.load_checkpoint().await.unwrap(),
            Some(SavedCheckpoint {
                json: "{\"a\":1}".into(),
                version: 1
            })
        );
        store.save_checkpoint("{\"a\":2}", 1).await.unwrap();
        assert!(matches!(
            store.save_checkpoint("{\"a\":3}", 1).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(store.load_checkpoint().await.unwrap().unwrap().version, 2);

        let chunk = |p: u32| (0..3).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>();
        store.put_seen("pass1", 0, &chunk(0)).await.unwrap();
        store.put_seen("pass1", 1, &chunk(1)).await.unwrap();
        store.put_seen("pass1", 1, &chunk(1)).await.unwrap();
        store.put_seen("pass2", 0, &chunk(9)).await.unwrap();
        store.put_seen("pass1", 2, &[]).await.unwrap();
        let mut seen = store.seen("pass1", 3).await.unwrap();
        seen.sort();
        let mut want = [chunk(0), chunk(1)].concat();
        want.sort();
        assert_eq!(seen, want);
        store.drop_seen("pass1", 3).await.unwrap();
        assert!(store.seen("pass1", 3).await.unwrap().is_empty());
        assert_eq!(store.seen("pass2", 1).await.unwrap(), chunk(9));

        assert_eq!(store.load_head().await.unwrap(), None);
        store.save_head("{\"count\":1}").await.unwrap();
        store
            .save_head("{\"count\":2,\"seen\":[\"a\",\"b\"]}")
            .await
            .unwrap();
        assert_eq!(
            store.load_head().await.unwrap().as_deref(),
            Some("{\"count\":2,\"seen\":[\"a\",\"b\"]}")
        );
    }
}
