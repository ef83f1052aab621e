//! The resync (DESIGN §7): the changes Open Klant never notifies (an onderwerpobject created,
//! relinked or deleted, a klantcontact's objects cascaded away) reach Open Zaak through a
//! periodic pass over everything. A pass has two phases — Open Klant's list of zaak
//! onderwerpobjecten page by page, then the stored links that list did not show — and a
//! checkpoint, so that it continues where it stopped across runs (a Lambda invocation ends
//! before its time runs out, a process dies), never redoes a finished page, and is worked by
//! one run at a time (a lease in the checkpoint).
//!
//! - [`checkpoint`]: the checkpoint and the pure rules (start, continue, busy, idle; which
//!   pages to read again when the list shrank underneath the pass);
//! - [`plan`]: what a listed object needs, from the page and its stored record (pure);
//! - [`patient`]: Open Klant reads retried with backoff on 429/5xx;
//! - [`progress`]: what `zaaklink resync` shows (a progress bar on a terminal, a summary);
//! - [`head`]: the head poll — the first list page every minute, the new objects reconciled
//!   at once, a pass started at once when the count shows objects left the list (DESIGN §7a);
//! - [`period`]: how often a pass starts — short without Open Klant's CloudEvents, a backstop
//!   period while they arrive (pure rule, DESIGN §7a);
//! - `held`: objects whose outbox another process holds, passed over and come back to;
//!   `shared`: what the runs of one `Resync` share (a stop request, those objects); `stop`:
//!   asking a run to stop (INT/TERM) and releasing a dead run's outbox claims;
//! - `run` (a folder): the I/O — the loop over pages and store pages, bounded concurrency, the same
//!   conditional write and outbox as the webhook ([`crate::Zaaklink`]).

pub mod checkpoint;
pub mod head;
mod held;
pub mod patient;
pub mod period;
pub mod plan;
pub mod progress;
mod run;
mod shared;
mod stop;

pub use checkpoint::{Checkpoint, Counts, Phase};
pub use head::{HeadPoll, HeadReport};
pub use run::{Progress, Report, Resync, Stop};
// The settings live with the configuration that validates them; this stays their public path.
pub use crate::config::ResyncSettings;
