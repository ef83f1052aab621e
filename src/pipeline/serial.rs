//! One onderwerpobject at a time in this process (DESIGN §5, "Serialized per object"): the
//! webhook, a CloudEvent, the head poll, the pass and the sweep that work on the same
//! object in one process (`serve`, one Lambda invocation) take turns instead of racing each
//! other into the version-conflict limit. Conflicts and live outbox claims then come only
//! from another process (or a run that died), which is what `Error::Contention` and
//! `Error::Held` say.
//!
//! The locks are keyed by the link store (its `Arc`'s address: the pipeline, its clones and
//! the resync built on it share one) and the onderwerpobject. An entry lives while someone
//! holds or waits for its lock and is dropped when the last one lets go, so the map holds at
//! most the objects in flight; entries of waits that were cancelled are swept out once the
//! map passes [`SWEEP_ABOVE`].

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::store::LinkStore;

/// (store identity, onderwerpobject)
type Key = (usize, String);

static LOCKS: LazyLock<Mutex<HashMap<Key, Weak<AsyncMutex<()>>>>> = LazyLock::new(Mutex::default);

/// Above this many entries a new lock first drops the entries nobody holds or waits for
/// (left by waits that were cancelled before they got the lock).
const SWEEP_ABOVE: usize = 1024;

/// The turn of one onderwerpobject: held until dropped.
pub(crate) struct Turn {
    key: Key,
    guard: Option<OwnedMutexGuard<()>>,
}

/// Wait for the turn of `onderwerpobject` in `store`.
pub(crate) async fn turn(store: &Arc<dyn LinkStore>, onderwerpobject: &str) -> Turn {
    let (key, lock) = lock_of(store, onderwerpobject);
    Turn {
        key,
        guard: Some(lock.lock_owned().await),
    }
}

/// The turn of `onderwerpobject` in `store` if nobody in this process holds it now (a batch
/// of the pass takes what it can get and hands the rest to the normal path, which waits).
pub(crate) fn try_turn(store: &Arc<dyn LinkStore>, onderwerpobject: &str) -> Option<Turn> {
    let (key, lock) = lock_of(store, onderwerpobject);
    let guard = lock.try_lock_owned().ok();
    // a failed try drops its `lock` here: the entry goes when the holder lets go
    guard.map(|g| Turn { key, guard: Some(g) })
}

fn lock_of(store: &Arc<dyn LinkStore>, onderwerpobject: &str) -> (Key, Arc<AsyncMutex<()>>) {
    let key: Key = (
        Arc::as_ptr(store) as *const () as usize,
        onderwerpobject.to_string(),
    );
    let lock = {
        let mut map = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&key).and_then(Weak::upgrade) {
            Some(lock) => lock,
            None => {
                if map.len() >= SWEEP_ABOVE {
                    map.retain(|_, w| w.strong_count() > 0);
                }
                let lock = Arc::new(AsyncMutex::new(()));
                map.insert(key.clone(), Arc::downgrade(&lock));
                lock
            }
        }
    };
    (key, lock)
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        // Let go under the map's lock, so no one can pick the entry up in between.
        drop(self.guard.take());
        if map.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            map.remove(&self.key);
        }
    }
}

/// Entries in the map (tests).
#[cfg(test)]
fn entries() -> usize {
    LOCKS.lock().unwrap().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_object_at_a_time_per_store_and_entries_dropped_when_idle() {
        let store: Arc<dyn LinkStore> = Arc::new(MemoryStore::default());
        let other: Arc<dyn LinkStore> = Arc::new(MemoryStore::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, inside, most) = (store.clone(), inside.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _t = turn(&store, "uuid-serial-a").await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        // another object and another store are not held up by it
        let b = turn(&store, "uuid-serial-b").await;
        let a_elsewhere = turn(&other, "uuid-serial-a").await;
        drop((b, a_elsewhere));
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            1,
            "two turns of one object overlapped"
        );
        let live = LOCKS
            .lock()
            .unwrap()
            .keys()
            .filter(|(_, u)| u.starts_with("uuid-serial-"))
            .count();
        assert_eq!(live, 0, "idle entries are dropped");
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_no_entry_for_long() {
        let store: Arc<dyn LinkStore> = Arc::new(MemoryStore::default());
        let held = turn(&store, "uuid-cancel").await;
        // a wait given up (a request dropped) before it got the turn
        let waiting = tokio::time::timeout(Duration::from_millis(5), turn(&store, "uuid-cancel")).await;
        assert!(waiting.is_err());
        drop(held);
        assert!(!LOCKS.lock().unwrap().keys().any(|(_, u)| u == "uuid-cancel"));
        // many objects at once: the map holds the ones in flight, then nothing
        let mut turns = Vec::new();
        for i in 0..(SWEEP_ABOVE + 10) {
            turns.push(turn(&store, &format!("uuid-many-{i}")).await);
        }
        assert!(entries() >= SWEEP_ABOVE + 10);
        drop(turns);
        assert!(!LOCKS
            .lock()
            .unwrap()
            .keys()
            .any(|(_, u)| u.starts_with("uuid-many-")));
    }
}
