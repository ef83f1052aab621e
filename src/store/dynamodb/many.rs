//! Batched conditional writes: the conditional PutItems of a batch sent [`AT_ONCE`] at a time.
//! Each keeps its own `version` condition (a lost one is that write's conflict, the others
//! land). Not `TransactWriteItems`: a transaction costs twice the write capacity and is all or
//! nothing, so one conflict would cancel up to 99 other writes for a round trip more; and
//! `BatchWriteItem` takes no conditions.

use tokio::task::JoinSet;

use super::DynamoStore;
use crate::store::{LinkRecord, LinkStore, StoreError};

/// Conditional PutItems in flight at once.
const AT_ONCE: usize = 25;

impl DynamoStore {
    /// The writes, [`AT_ONCE`] at a time; one result per write, in order.
    pub(super) async fn put_concurrently(
        &self,
        writes: &[(LinkRecord, u64)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut out: Vec<Option<Result<(), StoreError>>> = writes.iter().map(|_| None).collect();
        let mut set = JoinSet::new();
        let mut next = 0;
        loop {
            while set.len() < AT_ONCE && next < writes.len() {
                let (store, (record, expected)) = (self.clone(), writes[next].clone());
                let i = next;
                set.spawn(async move { (i, store.put(&record, expected).await) });
                next += 1;
            }
            match set.join_next().await {
                Some(Ok((i, Ok(())))) => out[i] = Some(Ok(())),
                Some(Ok((i, Err(StoreError::Conflict)))) => out[i] = Some(Err(StoreError::Conflict)),
                Some(Ok((_, Err(e)))) => return Err(e),
                Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
                None => break,
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.expect("every write has a result"))
            .collect())
    }
}
