//! A klantcontact notification: reconcile every onderwerpobject it lists or we hold a link
//! for (DESIGN §2).

use super::{Error, Outcome, Seed, Truth, Zaaklink};
use crate::link::{self, Klantcontact, Onderwerpobject};
use crate::openklant::OpenKlantError;
use crate::reconcile::{self, Plan};
use crate::store::LinkRecord;

impl Zaaklink {
    /// Reconcile every onderwerpobject of a klantcontact: those Open Klant lists (read with
    /// the klantcontact in one request) and those we hold a link for. Objects it no longer
    /// lists are looked up one by one (404 = gone): an object moved silently to another
    /// klantcontact keeps its link. Stored records are read after the klantcontact; a label
    /// that would be written is read again after them. A destroyed klantcontact (or one that
    /// answers 404/410) goes to [`Self::klantcontact_destroyed`].
    pub(super) async fn sync_klantcontact(&self, url: &str, destroyed: bool) -> Result<Outcome, Error> {
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
}
