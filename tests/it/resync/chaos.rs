//! Interruptions for the resync tests: a link/checkpoint store and an Open Klant that, at
//! the k-th call (counted over both), fail before acting, fail after acting (a write applied
//! whose answer is lost), or never answer (the run is killed there).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use zaaklink::link::{Klantcontact, Onderwerpobject};
use zaaklink::openklant::{ExpandedKlantcontact, OpenKlant, OpenKlantError, Page};
use zaaklink::store::{
    CheckpointStore, DestroyedKlantcontact, LinkRecord, LinkStore, SavedCheckpoint, StoreError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Before,
    After,
    Hang,
}

/// Counts calls; fires once at call `at` (1-based) with `mode`.
pub struct Chaos {
    calls: AtomicU64,
    at: AtomicU64,
    pub mode: std::sync::Mutex<Mode>,
}

impl Chaos {
    pub fn new() -> Arc<Self> {
        Arc::new(Chaos {
            calls: AtomicU64::new(0),
            at: AtomicU64::new(u64::MAX),
            mode: std::sync::Mutex::new(Mode::Before),
        })
    }

    /// Fire at the `k`-th call from now.
    pub fn arm(&self, k: u64, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        self.at
            .store(self.calls.load(Ordering::SeqCst) + k, Ordering::SeqCst);
    }

    pub fn disarm(&self) {
        self.at.store(u64::MAX, Ordering::SeqCst);
    }

    /// Calls counted so far.
    pub fn calls_so_far(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn fired(&self) -> bool {
        self.calls.load(Ordering::SeqCst) >= self.at.load(Ordering::SeqCst)
    }

    /// None: behave. Some(mode): this call is the one.
    fn tick(&self) -> Option<Mode> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        (n == self.at.load(Ordering::SeqCst)).then(|| *self.mode.lock().unwrap())
    }
}

async fn hang() -> ! {
    std::future::pending::<()>().await;
    unreachable!()
}

fn down() -> StoreError {
    StoreError::Unavailable("injected".into())
}

pub struct ChaosStore<S> {
    pub inner: Arc<S>,
    pub chaos: Arc<Chaos>,
}

macro_rules! around {
    ($self:ident, $call:expr, $err:expr) => {{
        match $self.chaos.tick() {
            None => $call.await,
            Some(Mode::Before) => Err($err),
            Some(Mode::Hang) => hang().await,
            Some(Mode::After) => {
                let _ = $call.await;
                Err($err)
            }
        }
    }};
}

#[async_trait]
impl<S: LinkStore + CheckpointStore + 'static> LinkStore for ChaosStore<S> {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch().await
    }
    async fn get(&self, u: &str) -> Result<Option<LinkRecord>, StoreError> {
        around!(self, self.inner.get(u), down())
    }
    async fn put(&self, r: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        around!(self, self.inner.put(r, expected), down())
    }
    async fn linked_to_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        around!(self, self.inner.linked_to_klantcontact(kc), down())
    }
    async fn linked_to_was_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        around!(self, self.inner.linked_to_was_klantcontact(kc), down())
    }
    async fn put_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        around!(self, self.inner.put_destroyed(m), down())
    }
    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        around!(self, self.inner.destroyed(), down())
    }
    async fn drop_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        around!(self, self.inner.drop_destroyed(m), down())
    }
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        around!(self, self.inner.with_pending(), down())
    }
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        around!(self, self.inner.linked(), down())
    }
    async fn get_many(&self, us: &[String]) -> Result<Vec<LinkRecord>, StoreError> {
        around!(self, self.inner.get_many(us), down())
    }
    async fn linked_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LinkRecord>, Option<String>), StoreError> {
        around!(self, self.inner.linked_page(cursor, limit), down())
    }
}

#[async_trait]
impl<S: LinkStore + CheckpointStore + 'static> CheckpointStore for ChaosStore<S> {
    async fn load_checkpoint(&self) -> Result<Option<SavedCheckpoint>, StoreError> {
        around!(self, self.inner.load_checkpoint(), down())
    }
    async fn save_checkpoint(&self, json: &str, expected: u64) -> Result<(), StoreError> {
        around!(self, self.inner.save_checkpoint(json, expected), down())
    }
    async fn put_seen(&self, pass: &str, chunk: u32, uuids: &[String]) -> Result<(), StoreError> {
        around!(self, self.inner.put_seen(pass, chunk, uuids), down())
    }
    async fn seen(&self, pass: &str, chunks: u32) -> Result<Vec<String>, StoreError> {
        around!(self, self.inner.seen(pass, chunks), down())
    }
    async fn drop_seen(&self, pass: &str, chunks: u32) -> Result<(), StoreError> {
        around!(self, self.inner.drop_seen(pass, chunks), down())
    }
}

pub struct ChaosKlant {
    pub inner: Arc<dyn OpenKlant>,
    pub chaos: Arc<Chaos>,
}

fn refused(url: &str) -> OpenKlantError {
    OpenKlantError::Status {
        url: url.to_string(),
        status: 400,
    }
}

#[async_trait]
impl OpenKlant for ChaosKlant {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        around!(self, self.inner.onderwerpobject(url), refused(url))
    }
    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        around!(self, self.inner.klantcontact(url), refused(url))
    }
    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        around!(self, self.inner.klantcontact_expanded(url), refused(url))
    }
    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        around!(
            self,
            self.inner.zaak_onderwerpobjecten(page, size),
            refused("list")
        )
    }
}
