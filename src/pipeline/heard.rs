//! Whether Open Klant's own CloudEvents are arriving (DESIGN §7a, "How often the pass
//! runs"): when the webhook takes one (`zaak-gekoppeld` / `zaak-ontkoppeld` about an
//! onderwerpobject under `OPEN_KLANT_API_ROOT`), it notes the time in a reserved record of
//! the link store, at most once a minute per process; the resync reads it to choose its
//! period. One record, so the webhook function and the resync function of a stack (two
//! processes on one links table) share it without a new port: its key is never a uuid and
//! it carries no link and no outbox, so no index, link scan or sweep sees it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{timestamp, Error, Zaaklink};
use crate::store::{LinkRecord, LinkStore, StoreError};

/// The reserved key of the record that holds when Open Klant's last CloudEvent arrived (its
/// `updatedAt`).
pub const HEARD_KEY: &str = "zaaklink:open-klant-cloudevent-heard";

/// The least time between two notes (per process, and in the store).
pub const NOTE_EVERY: Duration = Duration::from_secs(60);

/// When this process last noted, per store (its `Arc`'s address; the `Weak` keeps that
/// address from being reused by another store while the entry exists, and tells a store
/// that is gone).
type Noted = HashMap<usize, (Weak<dyn LinkStore>, Instant)>;
static NOTED: LazyLock<Mutex<Noted>> = LazyLock::new(Mutex::default);

/// Whether this process should note now (and if so, it counts as noted).
fn due(store: &Arc<dyn LinkStore>) -> bool {
    let key = Arc::as_ptr(store) as *const () as usize;
    let mut noted = NOTED.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match noted.get(&key) {
        Some((w, t)) if w.strong_count() > 0 && now.duration_since(*t) < NOTE_EVERY => false,
        _ => {
            noted.retain(|_, (w, _)| w.strong_count() > 0);
            noted.insert(key, (Arc::downgrade(store), now));
            true
        }
    }
}

impl Zaaklink {
    /// Note that one of Open Klant's own CloudEvents arrived. Never fails the request: a
    /// store that cannot take the note only makes the pass keep its short period.
    pub(super) async fn note_cloudevent_heard(&self) {
        if !due(&self.store) {
            return;
        }
        if let Err(e) = self.write_heard(Utc::now()).await {
            tracing::warn!(error = %e, "could not note that Open Klant's CloudEvents arrive; the resync keeps its short period");
        }
    }

    async fn write_heard(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let old = self.store.get(HEARD_KEY).await?;
        if old
            .as_ref()
            .and_then(|r| parse(&r.updated_at))
            .is_some_and(|t| now - t < chrono::Duration::from_std(NOTE_EVERY).unwrap_or_default())
        {
            return Ok(()); // another process noted it a moment ago
        }
        let version = old.map_or(0, |r| r.version);
        let record = LinkRecord {
            onderwerpobject: HEARD_KEY.to_string(),
            version: version + 1,
            updated_at: timestamp(now),
            ..Default::default()
        };
        match self.store.put(&record, version).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()), // a conflict: another note won
            Err(e) => Err(e),
        }
    }

    /// When one of Open Klant's own CloudEvents last arrived, as far as any process of this
    /// store noted it (to the minute); None when never.
    pub async fn cloudevent_heard(&self) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(self
            .store
            .get(HEARD_KEY)
            .await?
            .and_then(|r| parse(&r.updated_at)))
    }
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// A pipeline over `store` that never reaches Open Klant.
    pub(crate) fn app_on(store: Arc<MemoryStore>) -> Zaaklink {
        let root = crate::openklant::ApiRoot::parse("http://127.0.0.1:9/klantinteracties/api/v1/").unwrap();
        Zaaklink {
            klant: Arc::new(crate::openklant::HttpOpenKlant::new(
                root.clone(),
                crate::secret::Secret::new("t"),
                Duration::from_secs(1),
            )),
            store,
            sink: Arc::new(crate::sink::MemorySink::default()),
            settings: super::super::Settings {
                api_root: root,
                emit_source: Some("urn:test".into()),
                label_max_chars: 80,
                max_attempts: 8,
                outbox_lease: super::super::DEFAULT_OUTBOX_LEASE,
                destroy_recheck_after: super::super::DEFAULT_DESTROY_RECHECK_AFTER,
            },
        }
    }

    #[tokio::test]
    async fn noted_at_most_once_a_minute_and_invisible_to_link_queries() {
        let store = Arc::new(MemoryStore::default());
        let app = app_on(store.clone());
        assert_eq!(app.cloudevent_heard().await.unwrap(), None);
        app.note_cloudevent_heard().await;
        let first = app.cloudevent_heard().await.unwrap().expect("noted");
        assert!(Utc::now() - first < chrono::Duration::seconds(5));
        // within the minute: neither this process nor (through the store) another notes again
        app.note_cloudevent_heard().await;
        let later = Utc::now() + chrono::Duration::seconds(30);
        app.write_heard(later).await.unwrap();
        assert_eq!(app.cloudevent_heard().await.unwrap(), Some(first));
        assert_eq!(store.get(HEARD_KEY).await.unwrap().unwrap().version, 1);
        // after it, the store takes the next note
        let next = Utc::now() + chrono::Duration::seconds(61);
        app.write_heard(next).await.unwrap();
        let r = store.get(HEARD_KEY).await.unwrap().unwrap();
        assert_eq!(
            (r.version, r.link.is_none(), r.pending.is_empty()),
            (2, true, true)
        );
        // no link, no outbox: the link queries and the sweep never see it
        assert!(store.linked().await.unwrap().is_empty());
        assert!(store.with_pending().await.unwrap().is_empty());
    }
}
