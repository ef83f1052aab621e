//! One onderwerpobject: read, resolve, reconcile, conditional write with outbox, publish,
//! look again — retried on a version conflict (DESIGN §2, §5).

use std::time::Duration;

use chrono::Utc;

use super::publish::{claim_is_live, lease_end};
use super::{timestamp, Error, Outcome, Seed, Truth, Zaaklink};
use crate::cloudevent::{self, OutboxEvent};
use crate::epoch::Stamp;
use crate::link::{self, ZaakLink};
use crate::reconcile::{self, Plan};
use crate::store::{LinkRecord, StoreError};

impl Zaaklink {
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
        // One writer per object in this process (`serial`): what conflicts from here on is
        // another process.
        let _turn = super::serial::turn(&self.store, uuid).await;
        // The end of the outbox claim another writer held at the last attempt, if it did.
        let mut held: Option<String> = None;
        for attempt in 0..self.settings.max_attempts {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let seeded = seed.take().filter(|s| s.record.pending.is_empty());
            held = None;
            let record = match self.start(uuid, seeded.as_ref(), &mut outcome).await? {
                Start::Record(r) => r,
                Start::Held(until) => {
                    held = until;
                    continue;
                }
                Start::Again => continue,
            };
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
        Err(match held {
            // Not a change: another process holds the outbox (DESIGN §5).
            Some(until) => Error::Held {
                onderwerpobject: uuid.to_string(),
                until,
            },
            None => Error::Contention(uuid.to_string(), self.settings.max_attempts),
        })
    }

    /// What an attempt starts from: the seed's record or the stored one, the previous
    /// transition in its outbox finished first (the outbox holds one transition at a time).
    async fn start(&self, uuid: &str, seeded: Option<&Seed>, outcome: &mut Outcome) -> Result<Start, Error> {
        let record = match seeded {
            Some(s) => s.record.clone(),
            None => self
                .store
                .get(uuid)
                .await?
                .unwrap_or_else(|| LinkRecord::absent(uuid)),
        };
        if record.pending.is_empty() || self.settings.emit_source.is_none() {
            return Ok(Start::Record(record));
        }
        if claim_is_live(&record) {
            // Its writer is putting these events right now: wait, don't put them twice.
            return Ok(Start::Held(record.claimed_until.clone()));
        }
        Ok(match self.take_over(record).await? {
            Some((r, n)) => {
                outcome.emitted += n;
                Start::Record(r)
            }
            None => Start::Again,
        })
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
    pub(super) fn next_record(
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
}

/// Jittered exponential backoff for optimistic-lock retries: 5 ms · 2^attempt, ± half.
async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(6);
    let jitter = rand::random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

/// What an attempt of [`Zaaklink::sync`] starts from (matched as soon as it is returned, so
/// the record is not boxed).
#[allow(clippy::large_enum_variant)]
enum Start {
    /// The record to reconcile, its outbox empty or not emitting.
    Record(LinkRecord),
    /// Another writer is putting this record's events now (its claim ends then): wait.
    Held(Option<String>),
    /// The record changed while its outbox was being taken over or put: read it again.
    Again,
}
