//! A correction from the audit (DESIGN §9 "Repair"): events that bring Open Zaak back to what
//! Open Klant shows, written to the onderwerpobject's outbox with its record and put like any
//! transition — same ids, sequence places, order, once-only and parking rules in `deliver`.

use super::{Error, Zaaklink};
use crate::link::ZaakLink;
use crate::reconcile::{EventKind, Transition};
use crate::store::{LinkRecord, StoreError};

/// What a correction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrected {
    /// Written and put: this many events.
    Put(usize),
    /// The record's outbox is not empty (a change on its way): nothing written.
    Pending,
}

impl Zaaklink {
    /// Write one correcting transition for onderwerpobject `uuid` — `ontkoppeld` before
    /// `gekoppeld`, either may be absent — with the record's link set to `link` (what Open
    /// Klant shows, so the next reconcile compares with the relation Open Zaak will hold),
    /// then put it. Emission must be on (the caller checks).
    pub async fn correct(
        &self,
        uuid: &str,
        link: Option<ZaakLink>,
        ontkoppeld: Option<ZaakLink>,
        gekoppeld: Option<ZaakLink>,
    ) -> Result<Corrected, Error> {
        let events: Vec<Transition> = [
            ontkoppeld.map(|l| (EventKind::Ontkoppeld, l)),
            gekoppeld.map(|l| (EventKind::Gekoppeld, l)),
        ]
        .into_iter()
        .flatten()
        .map(|(kind, link)| Transition { kind, link })
        .collect();
        for _ in 0..self.settings.max_attempts {
            let record = self
                .store
                .get(uuid)
                .await?
                .unwrap_or_else(|| LinkRecord::absent(uuid));
            if !record.pending.is_empty() {
                return Ok(Corrected::Pending);
            }
            let epoch = self.store.epoch().await?;
            let (next, fresh) = self.next_record(&record, link.clone(), &events, epoch);
            match self.store.put(&next, record.version).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            let n = fresh.len();
            self.publish(next, Some(fresh)).await?;
            return Ok(Corrected::Put(n));
        }
        Err(Error::Contention(uuid.to_string(), self.settings.max_attempts))
    }
}
