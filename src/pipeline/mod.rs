//! The pipeline: what happens to one notification, top-down (docs/DESIGN.md §2–§5).
//! [`Zaaklink`] holds the adapters (Open Klant, link store, event sink) and runs
//! classify → resolve → reconcile → conditional write with outbox → publish → clear, plus the
//! outbox sweep and the resync over everything Open Klant lists.
//!
//! Where each step lives: [`Zaaklink::handle`] here; one onderwerpobject's conditional-write
//! loop in `sync`; every onderwerpobject of a klantcontact in `klantcontact`; putting and
//! taking over the outbox in `publish`; the outbox sweep in `sweep`; a destroyed klantcontact
//! in `destroyed`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::cloudevent_in;
use crate::link::ZaakLink;
use crate::notification::{self, InputError, Intent, Notification};
use crate::openklant::{ApiRoot, OpenKlant, OpenKlantError};
use crate::sink::{EventSink, SinkError};
use crate::store::{LinkRecord, LinkStore, StoreError};

mod correct;
mod destroyed;
mod klantcontact;
mod publish;
mod sweep;
mod sync;

pub use correct::Corrected;
pub use destroyed::DEFAULT_DESTROY_RECHECK_AFTER;
pub use publish::DEFAULT_OUTBOX_LEASE;

/// Everything that can stop a notification from being handled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    OpenKlant(#[from] OpenKlantError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("onderwerpobject {0} kept changing while it was being written ({1} attempts); the request will be retried")]
    Contention(String, u32),
}

impl Error {
    /// The HTTP status the webhook answers (DESIGN §6): bad input 400, Open Klant 502,
    /// our own storage or event bus 503 — the last two make Open Notificaties retry.
    pub fn status(&self) -> u16 {
        match self {
            Error::Input(_) => 400,
            Error::OpenKlant(_) => 502,
            Error::Store(_) | Error::Sink(_) | Error::Contention(..) => 503,
        }
    }
}

/// Core settings, validated by [`config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_root: ApiRoot,
    /// `Some(NOTIFICATIONS_SOURCE)` when events are emitted, `None` when only state is tracked.
    pub emit_source: Option<String>,
    pub label_max_chars: usize,
    /// Bounded optimistic-lock retries per onderwerpobject.
    pub max_attempts: u32,
    /// How long a writer holds the outbox it wrote while it puts the events (see
    /// [`DEFAULT_OUTBOX_LEASE`]); other deliveries wait rather than put them twice.
    pub outbox_lease: Duration,
    /// How long after a klantcontact `destroy` the sweep looks for its links once more
    /// ([`DEFAULT_DESTROY_RECHECK_AFTER`]): longer than any index lag (DESIGN §2).
    pub destroy_recheck_after: Duration,
}

/// What handling did, for the one log line per notification.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub objects: usize,
    pub written: usize,
    pub emitted: usize,
    pub ignored: Option<String>,
}

impl Outcome {
    pub fn add(&mut self, o: Outcome) {
        self.objects += o.objects;
        self.written += o.written;
        self.emitted += o.emitted;
    }
}

/// Where the current link of an onderwerpobject comes from.
#[derive(Clone, Copy)]
pub(crate) enum Truth<'a> {
    /// It is gone (destroy notification of the onderwerpobject itself).
    Gone,
    /// Ask Open Klant at this URL.
    Fetch(&'a str),
}

/// What a caller already read for the first attempt of [`Zaaklink::sync`]: the stored record
/// (read before `new` was resolved, or at least before its klantcontact was) and the link
/// Open Klant shows. Used once; a conflict, a pending outbox or a changed answer in the
/// after-write look sends the sync down the normal path (read, GET, reconcile again).
#[derive(Debug, Clone)]
pub struct Seed {
    pub record: LinkRecord,
    pub new: Option<ZaakLink>,
}

/// The pipeline, with its adapters.
#[derive(Clone)]
pub struct Zaaklink {
    pub klant: Arc<dyn OpenKlant>,
    pub store: Arc<dyn LinkStore>,
    pub sink: Arc<dyn EventSink>,
    pub settings: Settings,
}

impl Zaaklink {
    /// Handle one notification: what happens to it, top-down.
    pub async fn handle(&self, n: &Notification) -> Result<Outcome, Error> {
        self.handle_intent(notification::classify(n, &self.settings.api_root)?)
            .await
    }

    /// Handle one CloudEvent from Open Notificaties (DESIGN §1a): a transformed notification
    /// as that notification; Open Klant's zaak-gekoppeld / zaak-ontkoppeld as a reason to read
    /// the onderwerpobject at `data.linkTo` (a 404 there: gone); anything else ignored.
    pub async fn handle_cloudevent(&self, ev: &cloudevents::Event) -> Result<Outcome, Error> {
        self.handle_intent(cloudevent_in::classify(ev, &self.settings.api_root)?)
            .await
    }

    async fn handle_intent(&self, intent: Intent) -> Result<Outcome, Error> {
        match intent {
            Intent::Ignore(why) => Ok(Outcome {
                ignored: Some(why),
                ..Default::default()
            }),
            Intent::Onderwerpobject {
                uuid,
                destroyed: true,
                ..
            } => self.sync(&uuid, Truth::Gone, None).await,
            Intent::Onderwerpobject { uuid, url, .. } => self.sync(&uuid, Truth::Fetch(&url), None).await,
            Intent::Klantcontact { url, destroyed } => self.sync_klantcontact(&url, destroyed).await,
        }
    }
}

fn timestamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
