//! The audit (DESIGN §9): are Open Zaak's ZaakObjects equal to Open Klant's zaak links right
//! now, and if not, where? `zaaklink audit`, `serve --audit-every` and the scheduled job run it.
//!
//! - [`object`]: what a ZaakObject's `object` names — an onderwerpobject under
//!   `OPEN_KLANT_API_ROOT`, a malformed one, or anything else (never read, never touched);
//! - [`sides`]: what each side says, kept compactly by onderwerpobject uuid;
//! - [`compare`]: the comparison rules and the kinds of difference (pure);
//! - [`mend`]: the correcting zaak-ontkoppeld / zaak-gekoppeld per object (pure);
//! - [`report`]: the report, as text and JSON, and the exit status;
//! - [`zaakobjecten`]: the Open Zaak port and its HTTP adapter (ZGW JWT, `zaken.lezen`);
//! - [`read`]: reading both sides, page by page;
//! - [`saved`]: a run saved across invocations and the rules for taking it (pure);
//! - `run`: one audit — read, compare, settle, report, repair through the outbox; its
//!   `stages` (lists, comparison, second look), `look` (the second look and the repair),
//!   `labels` (the stored labels), `work` (a run in memory and its budget), `resume`,
//!   `saving` and `chunks` (a run over several invocations).

mod chunks;
pub mod compare;
mod labels;
mod look;
pub mod mend;
pub mod object;
pub mod read;
pub mod report;
mod resume;
mod run;
pub mod saved;
mod saving;
pub mod sides;
mod stages;
mod work;
pub mod zaakobjecten;

pub use compare::{Difference, Kind};
pub use read::AuditError;
pub use report::Report;
pub use resume::{unfinished_run, Ran};
pub use run::{Audit, AuditSettings, DEFAULT_SETTLE};
pub use zaakobjecten::{HttpZaakObjecten, ZaakObjecten, ZaakObjectenError};
