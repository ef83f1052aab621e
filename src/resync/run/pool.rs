//! Work at bounded concurrency, and the outcomes of many objects summed.

use std::future::Future;

use crate::pipeline::Outcome;
use crate::Error;

/// The outcomes summed; the first error if any failed (the page is then not finished).
pub(super) fn sum(results: Vec<Result<Outcome, Error>>) -> Result<Outcome, Error> {
    let mut total = Outcome::default();
    let mut first = None;
    for r in results {
        match r {
            Ok(o) => {
                total.written += o.written;
                total.emitted += o.emitted;
            }
            Err(e) => {
                tracing::warn!(error = %e, "resync: onderwerpobject not reconciled");
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(total), Err)
}

/// Run the futures, at most `limit` at once.
pub(in crate::resync) async fn bounded<T, F>(limit: usize, futs: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    let mut it = futs.into_iter();
    loop {
        while set.len() < limit.max(1) {
            match it.next() {
                Some(f) => {
                    set.spawn(f);
                }
                None => break,
            }
        }
        match set.join_next().await {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => return out,
        }
    }
}
