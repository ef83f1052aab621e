//! zaaklink: Open Klant onderwerpobject notifications in, Open Zaak zaak-gekoppeld /
//! zaak-ontkoppeld CloudEvents out.
//!
//! What happens to one notification (DESIGN.md):
//! webhook → [`notification::parse`] → [`notification::classify`] → resolve the current link
//! from Open Klant ([`openklant`]) → [`reconcile::reconcile`] against the stored link →
//! conditional write of the new state with its events in the outbox ([`store`]) →
//! [`sink`] → outbox cleared.

/// mimalloc instead of glibc malloc for every binary of the crate: the per-notification
/// work is allocation-heavy (JSON in and out), and mimalloc cuts its cost (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod aws;
pub mod callcount;
pub mod cloudevent;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod fake_openklant;
pub mod fake_openzaak;
pub mod lambda;
pub mod link;
pub mod logging;
pub mod notification;
pub mod openklant;
pub mod pipeline;
pub mod reconcile;
pub mod resync;
pub mod secret;
pub mod sink;
pub mod store;
pub mod webhook;

pub use logging::init_logging;
pub use pipeline::{Error, Outcome, Settings, Zaaklink, DEFAULT_OUTBOX_LEASE};
