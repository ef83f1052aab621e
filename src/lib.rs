//! zaaklink: Open Klant onderwerpobject notifications in, Open Zaak zaak-gekoppeld /
//! zaak-ontkoppeld CloudEvents out (docs/DESIGN.md).
//!
//! A notification goes webhook → [`notification`] (parse, classify) → [`pipeline`] (a
//! CloudEvent from Open Notificaties: [`cloudevent_in`] turns it into the same intent): the
//! current link from Open Klant ([`openklant`], [`link`]) is [`reconcile`]d against the
//! stored one, the new state and its CloudEvents ([`cloudevent`]) are written together with a
//! conditional write ([`store`], the outbox), put on the [`sink`], and the outbox is cleared.
//! [`deliver`] takes them from the queue to Open Zaak, in order and once per onderwerpobject;
//! [`resync`] catches in checkpointed passes what Open Klant never notifies. [`config`]
//! validates every setting once, into the types the rest reads: the core's [`Settings`],
//! [`resync`]'s `ResyncSettings` and the webhook's expected `Authorization` (kept as a
//! digest by [`secret`]); it imports nothing above it. The edges read them: [`lambda`] and
//! [`webhook`] (HTTP semantics), [`aws`] (wiring), [`telemetry`] (metrics in
//! CloudWatch's embedded metric format, recorded at the edges). The fakes and counters for
//! tests and benchmarks (`testkit`) and the demo's samples (`demo`) compile only with the
//! `testkit` feature, which the crate's own tests and benches turn on (a dev-dependency of
//! the crate on itself): the Lambda binaries link none of it. `zaaklink demo` carries its own
//! copy of the demo and the fake Open Klant (src/bin/zaaklink/main.rs).

/// mimalloc instead of glibc malloc for every binary of the crate: the per-notification
/// work is allocation-heavy (JSON in and out), and mimalloc cuts its cost (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod audit;
pub mod aws;
pub mod aws_json;
pub mod cloudevent;
pub mod cloudevent_in;
pub mod config;
pub mod deliver;
#[cfg(feature = "testkit")]
pub mod demo;
pub mod epoch;
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
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;

pub use logging::init_logging;
pub use pipeline::{Error, Outcome, Settings, Zaaklink, DEFAULT_DESTROY_RECHECK_AFTER, DEFAULT_OUTBOX_LEASE};
// The tools keep their short paths (`zaaklink::fake_openklant`, …) for tests and benches.
#[cfg(feature = "testkit")]
pub use testkit::{callcount, fake_openklant, fake_openzaak};
