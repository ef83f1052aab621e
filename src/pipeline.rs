//! The pipeline: what happens to one notification, top-down (docs/DESIGN.md §2–§5).
//! [`Zaaklink`] holds the adapters (Open Klant, link store, event sink) and runs
//! classify → resolve → reconcile → conditional write with outbox → publish → clear, plus the
//! outbox sweep and the resync over everything Open Klant lists.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::cloudevent::{self, OutboxEvent};
use crate::epoch::Stamp;
use crate::link::{self, Klantcontact, Onderwerpobject, ZaakLink};
use crate::notification::{self, InputError, Intent, Notification};
use crate::openklant::{ApiRoot, OpenKlant, OpenKlantError};
use crate::reconcile::{self, Plan};
use crate::sink::{EventSink, SinkError};
use crate::store::{self, LinkRecord, LinkStore, StoreError};

mod destroyed;

pub use destroyed::DEFAULT_DESTROY_RECHECK_AFTER;

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
        match notification::classify(n, &self.settings.api_root)? {
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

    /// Reconcile every onderwerpobject of a klantcontact: those Open Klant lists (read with
    /// the klantcontact in one request) and those we hold a link for. Objects it no longer
    /// lists are looked up one by one (404 = gone): an object moved silently to another
    /// klantcontact keeps its link. Stored records are read after the klantcontact; a label
    /// that would be written is read again after them. A destroyed klantcontact (or one that
    /// answers 404/410) goes to [`Self::klantcontact_destroyed`].
    async fn sync_klantcontact(&self, url: &str, destroyed: bool) -> Result<Outcome, Error> {
        if destroyed {
            return self.klantcontact_destroyed(url).await;
        }
        let Some(found) = self.klant.klantcontact_expanded(url).await? else {
            return self.klantcontact_destroyed(url).await;
        };
        let stored = self.store.linked_to_klantcontact(url).await?;
        let mut outcome = Outcome::default();
        let mut first_error = None;
        // (uuid, url, the object as the klantcontact listed it)
        let mut targets: Vec<(String, String, Option<Onderwerpobject>)> = Vec::new();
        for r in &found.klantcontact.ging_over_onderwerpobjecten {
            let (_, uuid) = self
                .settings
                .api_root
                .resource_uuid(&r.url, "onderwerpobjecten")
                .map_err(OpenKlantError::from)?;
            let listed = found
                .objects
                .iter()
                .find(|o| o.uuid == uuid || o.url == r.url)
                .cloned();
            targets.push((uuid, r.url.clone(), listed));
        }
        for r in &stored {
            if !targets.iter().any(|(u, _, _)| *u == r.onderwerpobject) {
                let url = r.link.as_ref().map(|l| l.link_to.clone()).unwrap_or_default();
                targets.push((r.onderwerpobject.clone(), url, None));
            }
        }
        let uuids: Vec<String> = targets.iter().map(|(u, _, _)| u.clone()).collect();
        let mut records: std::collections::HashMap<String, LinkRecord> = self
            .store
            .get_many(&uuids)
            .await?
            .into_iter()
            .map(|r| (r.onderwerpobject.clone(), r))
            .collect();
        let mut fresh_kc: Option<Option<Klantcontact>> = None;
        for (uuid, oo_url, listed) in &targets {
            let seed = match listed {
                Some(o) => {
                    let record = records.remove(uuid).unwrap_or_else(|| LinkRecord::absent(uuid));
                    let guess = link::resolve(o, &found.klantcontact, self.settings.label_max_chars);
                    if record.pending.is_empty()
                        && reconcile::reconcile(record.link.as_ref(), guess.as_ref()) == Plan::Unchanged
                    {
                        outcome.objects += 1;
                        continue;
                    }
                    if fresh_kc.is_none() {
                        fresh_kc = Some(self.klant.klantcontact(url).await?);
                    }
                    let new = fresh_kc
                        .as_ref()
                        .and_then(Option::as_ref)
                        .and_then(|kc| link::resolve(o, kc, self.settings.label_max_chars));
                    Some(Seed { record, new })
                }
                None => None,
            };
            match self.sync(uuid, Truth::Fetch(oo_url), seed).await {
                Ok(o) => outcome.add(o),
                Err(e) => {
                    tracing::warn!(onderwerpobject = %uuid, error = %e, "onderwerpobject of klantcontact not reconciled");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(outcome), Err)
    }

    /// Level-triggered reconcile of one onderwerpobject: read the stored record *before*
    /// asking Open Klant, so a conditional write only succeeds with a view at least as new as
    /// any other writer's; on a version conflict, start over (bounded, with jitter). After a
    /// write, look at Open Klant once more: a slow delivery may have written a view that a
    /// newer delivery (which found nothing to change) had already seen superseded.
    /// The klantcontact behind a label is fetched afresh in every attempt and in the
    /// after-write look, always after the record was read. `seed` (resync, klantcontact
    /// notifications) replaces the first attempt's read and resolve.
    pub(crate) async fn sync(
        &self,
        uuid: &str,
        truth: Truth<'_>,
        mut seed: Option<Seed>,
    ) -> Result<Outcome, Error> {
        let mut outcome = Outcome {
            objects: 1,
            ..Default::default()
        };
        for attempt in 0..self.settings.max_attempts {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let seeded = seed.take().filter(|s| s.record.pending.is_empty());
            let mut record = match &seeded {
                Some(s) => s.record.clone(),
                None => self
                    .store
                    .get(uuid)
                    .await?
                    .unwrap_or_else(|| LinkRecord::absent(uuid)),
            };
            // The outbox holds one transition at a time: finish the previous one first.
            if !record.pending.is_empty() && self.settings.emit_source.is_some() {
                if claim_is_live(&record) {
                    // Its writer is putting these events right now: wait, don't put them twice.
                    continue;
                }
                match self.take_over(record).await? {
                    Some((r, n)) => {
                        outcome.emitted += n;
                        record = r;
                    }
                    None => continue,
                }
            }
            let new = match (seeded, truth) {
                (Some(s), _) => s.new,
                (None, Truth::Gone) => None,
                (None, Truth::Fetch(url)) => self.resolve(url).await?,
            };
            let (link, events) = match reconcile::reconcile(record.link.as_ref(), new.as_ref()) {
                Plan::Unchanged => return Ok(outcome),
                Plan::Write { link, events } => (link, events),
            };
            let epoch = self.store.epoch().await?;
            let (next, fresh) = self.next_record(&record, link, &events, epoch);
            match self.store.put(&next, record.version).await {
                Ok(()) => outcome.written += 1,
                Err(StoreError::Conflict) => {
                    tracing::debug!(onderwerpobject = %uuid, attempt, "version conflict, reconciling again");
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let stored = next.link.clone();
            if let Some((_, n)) = self.publish(next, Some(fresh)).await? {
                outcome.emitted += n;
            }
            if let Truth::Fetch(url) = truth {
                let now = self.resolve(url).await?;
                if reconcile::reconcile(stored.as_ref(), now.as_ref()) != Plan::Unchanged {
                    tracing::info!(onderwerpobject = %uuid, "Open Klant changed while writing; reconciling again");
                    continue;
                }
            }
            return Ok(outcome);
        }
        Err(Error::Contention(uuid.to_string(), self.settings.max_attempts))
    }

    /// The link Open Klant shows now for this onderwerpobject, `None` if it links no zaak.
    /// Its klantcontact (for the label) is fetched here, every time.
    pub(crate) async fn resolve(&self, url: &str) -> Result<Option<ZaakLink>, Error> {
        let Some(o) = self.klant.onderwerpobject(url).await? else {
            return Ok(None);
        };
        let Some(kc_ref) = o
            .klantcontact
            .as_ref()
            .filter(|_| link::linked_zaak(&o).is_some())
        else {
            return Ok(None);
        };
        match self.klant.klantcontact(&kc_ref.url).await? {
            Some(kc) => Ok(link::resolve(&o, &kc, self.settings.label_max_chars)),
            // The klantcontact is gone: so is the onderwerpobject (cascade).
            None => Ok(None),
        }
    }

    /// The record after a transition: new link, version + 1, its events in the outbox,
    /// claimed by this writer for `outbox_lease`; also the events just built for it.
    fn next_record(
        &self,
        old: &LinkRecord,
        link: Option<ZaakLink>,
        events: &[reconcile::Transition],
        epoch: u64,
    ) -> (LinkRecord, Vec<OutboxEvent>) {
        let version = old.version + 1;
        // the place the first event follows: a new sequence in a new epoch (crate::epoch)
        let last = crate::epoch::last_seq(old.epoch, old.version, old.seq, epoch);
        let now = Utc::now();
        // Emitting, the old outbox is empty by now (put first); with emission off it is kept
        // as it is, waiting for emission to be switched on again.
        let mut pending = old.pending.clone();
        let mut fresh = Vec::new();
        if let Some(source) = &self.settings.emit_source {
            // each event gets the next place in the onderwerpobject's sequence
            fresh.extend(events.iter().zip(last + 1..).map(|(t, seq)| {
                let stamp = Stamp { epoch, version, seq };
                cloudevent::outbox_event(t.kind, &t.link, source, &old.onderwerpobject, stamp, now)
            }));
            pending.extend(fresh.iter().map(|e| (e.id.clone(), e.json.clone())));
        }
        let record = LinkRecord {
            onderwerpobject: old.onderwerpobject.clone(),
            link,
            version,
            // with emission off no place is used: the record keeps its sequence as it was
            seq: if fresh.is_empty() {
                old.seq
            } else {
                last + fresh.len() as u64
            },
            epoch: if fresh.is_empty() { old.epoch } else { Some(epoch) },
            updated_at: timestamp(now),
            claimed_until: (self.settings.emit_source.is_some() && !pending.is_empty())
                .then(|| lease_end(now, self.settings.outbox_lease)),
            pending,
        };
        (record, fresh)
    }

    /// Claim an outbox someone else left (crash, failed put), then put it.
    async fn take_over(&self, record: LinkRecord) -> Result<Option<(LinkRecord, usize)>, Error> {
        let now = Utc::now();
        let mut claimed = record.clone();
        claimed.version += 1;
        claimed.updated_at = timestamp(now);
        claimed.claimed_until = Some(lease_end(now, self.settings.outbox_lease));
        match self.store.put(&claimed, record.version).await {
            Ok(()) => self.publish(claimed, None).await,
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Put the (claimed) outbox on the sink, then clear it with a conditional write.
    /// `fresh`: the events this writer just built for the outbox (saves reading them back
    /// from their JSON); used only when they are exactly what the outbox holds.
    /// `Ok(Some((record after clearing, events put)))`; `Ok(None)` when the record changed
    /// meanwhile (the caller reads it again). When the sink fails, the outbox stays and the
    /// claim is released so the next delivery or the sweep puts it at once.
    async fn publish(
        &self,
        mut record: LinkRecord,
        fresh: Option<Vec<OutboxEvent>>,
    ) -> Result<Option<(LinkRecord, usize)>, Error> {
        if record.pending.is_empty() {
            return Ok(Some((record, 0)));
        }
        if self.settings.emit_source.is_none() {
            tracing::warn!(onderwerpobject = %record.onderwerpobject, pending = record.pending.len(),
                "events wait in the outbox while emission is off (ENABLE_CLOUD_EVENTS / NOTIFICATIONS_SOURCE)");
            return Ok(Some((record, 0)));
        }
        let events: Vec<OutboxEvent> = match fresh {
            Some(mut fresh)
                if fresh.len() == record.pending.len()
                    && fresh.iter().all(|e| record.pending.get(&e.id) == Some(&e.json)) =>
            {
                fresh.sort_by(store::emission_order);
                fresh
            }
            _ => record.pending_events()?,
        };
        let expected = record.version;
        record.version += 1;
        record.claimed_until = None;
        if let Err(e) = self.sink.publish(&events).await {
            // release the claim, keep the outbox
            if let Err(release) = self.store.put(&record, expected).await {
                tracing::debug!(onderwerpobject = %record.onderwerpobject, error = %release, "outbox claim not released; it expires");
            }
            return Err(e.into());
        }
        record.pending.clear();
        record.updated_at = timestamp(Utc::now());
        match self.store.put(&record, expected).await {
            Ok(()) => Ok(Some((record, events.len()))),
            // Someone else wrote meanwhile (an expired claim was taken over): they put the same
            // events with the same ids.
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The outbox sweep: put every event a crash or a failed put left in the outbox. It does
    /// not wait for live claims (a crashed writer's claim would hold it up to the lease); at
    /// worst an event goes out twice with the same id, which consumers drop.
    /// Then it rechecks the klantcontact destroys whose grace period is over (DESIGN §2).
    pub async fn sweep(&self) -> Result<Outcome, Error> {
        let mut outcome = Outcome::default();
        let mut first_error = None;
        for record in self.store.with_pending().await? {
            outcome.objects += 1;
            match self.publish(record, None).await {
                Ok(Some((_, n))) => outcome.emitted += n,
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match self.recheck_destroyed().await {
            Ok(o) => outcome.add(o),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(outcome), Err)
    }
}

/// How long a writer holds the outbox it wrote while it puts the events on the sink: longer
/// than a put with its retries takes. A crashed writer's claim expires after it; until then
/// deliveries for that onderwerpobject answer 503 (retried), the sweep does not wait.
pub const DEFAULT_OUTBOX_LEASE: Duration = Duration::from_secs(15);

fn timestamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lease_end(now: chrono::DateTime<Utc>, lease: Duration) -> String {
    timestamp(now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(15)))
}

/// Whether another writer still holds the outbox (an unparsable claim counts as expired).
fn claim_is_live(r: &LinkRecord) -> bool {
    r.claimed_until
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|until| until > Utc::now())
}

/// Jittered exponential backoff for optimistic-lock retries: 5 ms · 2^attempt, ± half.
async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(6);
    let jitter = rand::random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}
