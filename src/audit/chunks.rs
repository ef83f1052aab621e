//! A saved run's chunks (I/O): numbered lists of lines, each one item of the store's seen
//! chunks (pass `{pass}:{n}`, so that they come back in their order), read 8 at a time.

use std::sync::Arc;

use crate::store::{AuditStateStore, StoreError};

/// Chunks read at once.
const READS_AT_ONCE: usize = 8;

fn item(pass: &str, n: u32) -> String {
    format!("{pass}:{n}")
}

/// Save `lines` as chunk `n` of `pass`.
pub async fn put(
    store: &dyn AuditStateStore,
    pass: &str,
    n: u32,
    lines: &[String],
) -> Result<(), StoreError> {
    store.put_seen(&item(pass, n), 0, lines).await
}

/// Chunks `0..count` of `pass`, in order.
pub async fn load(
    store: &Arc<dyn AuditStateStore>,
    pass: &str,
    count: u32,
) -> Result<Vec<Vec<String>>, StoreError> {
    let mut out: Vec<Vec<String>> = vec![Vec::new(); count as usize];
    let mut reads = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while reads.len() < READS_AT_ONCE && next < count {
            let (store, name) = (store.clone(), item(pass, next));
            let n = next as usize;
            reads.spawn(async move { (n, store.seen(&name, 1).await) });
            next += 1;
        }
        match reads.join_next().await {
            Some(Ok((n, lines))) => out[n] = lines?,
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => return Ok(out),
        }
    }
}

/// Forget chunks `0..count` of `pass`; a failure is only logged (the items are left over).
pub async fn drop(store: &dyn AuditStateStore, pass: &str, count: u32) {
    for n in 0..count {
        if let Err(e) = store.drop_seen(&item(pass, n), 1).await {
            tracing::warn!(error = %e, pass, "a saved chunk of the audit was not dropped");
            return;
        }
    }
}
