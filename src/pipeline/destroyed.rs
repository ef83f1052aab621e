//! A destroyed klantcontact (DESIGN §2): Open Klant deletes every onderwerpobject whose
//! `klantcontact` or `wasKlantcontact` it was, and notifies only the klantcontact. zaaklink looks
//! up each link stored with it, and — because the indexes that find those links may lag a
//! write by a moment — leaves a marker that the outbox sweep takes up once the grace period
//! is over, looking again, before it removes the marker.

use std::time::Duration;

use chrono::Utc;

use super::{timestamp, Error, Outcome, Truth, Zaaklink};
use crate::openklant::OpenKlantError;
use crate::store::{DestroyedKlantcontact, LinkRecord};

/// How long after a klantcontact `destroy` the sweep looks for its links again: far longer
/// than a DynamoDB index lags behind its table (typically well under a second).
pub const DEFAULT_DESTROY_RECHECK_AFTER: Duration = Duration::from_secs(60);

impl Zaaklink {
    /// Handle the destroy of the klantcontact at `url`: record the marker first (so a crash
    /// later still leaves the recheck to the sweep), then look up its stored links.
    pub(super) async fn klantcontact_destroyed(&self, url: &str) -> Result<Outcome, Error> {
        let (_, uuid) = self
            .settings
            .api_root
            .resource_uuid(url, "klantcontacten")
            .map_err(OpenKlantError::from)?;
        let marker = DestroyedKlantcontact {
            at: timestamp(Utc::now()),
            uuid,
            url: url.to_string(),
        };
        self.store.put_destroyed(&marker).await?;
        self.look_up_links_of(&marker).await
    }

    /// Every stored link whose klantcontact or `wasKlantcontact` is the destroyed one, looked
    /// up by a GET of its `linkTo` (Open Klant deleted it by cascade: 404 = gone, `ontkoppeld`;
    /// still there = moved silently before the delete, it keeps or updates its link). Nothing
    /// is trusted from the store alone. All are tried; the first error decides.
    async fn look_up_links_of(&self, m: &DestroyedKlantcontact) -> Result<Outcome, Error> {
        let mut stored: Vec<LinkRecord> = self.store.linked_to_klantcontact(&m.url).await?;
        for r in self.store.linked_to_was_klantcontact(&m.uuid).await? {
            if !stored.iter().any(|s| s.onderwerpobject == r.onderwerpobject) {
                stored.push(r);
            }
        }
        let mut outcome = Outcome::default();
        let mut first_error = None;
        for r in &stored {
            let Some(link_to) = r.link.as_ref().map(|l| l.link_to.as_str()) else {
                continue;
            };
            match self.sync(&r.onderwerpobject, Truth::Fetch(link_to), None).await {
                Ok(o) => outcome.add(o),
                Err(e) => {
                    tracing::warn!(onderwerpobject = %r.onderwerpobject, klantcontact = %m.url, error = %e,
                        "onderwerpobject of a destroyed klantcontact not reconciled");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(outcome), Err)
    }

    /// The sweep's part: every marker older than `destroy_recheck_after` is looked up again
    /// (the indexes have caught up by now) and removed only when that succeeded; a failed one
    /// stays for the next sweep. Younger markers wait. A marker whose time does not parse
    /// counts as due.
    pub(super) async fn recheck_destroyed(&self) -> Result<Outcome, Error> {
        let now = Utc::now();
        let grace = chrono::Duration::from_std(self.settings.destroy_recheck_after)
            .unwrap_or(chrono::Duration::seconds(60));
        let mut outcome = Outcome::default();
        let mut first_error = None;
        for m in self.store.destroyed().await? {
            let due = chrono::DateTime::parse_from_rfc3339(&m.at).map_or(true, |at| at + grace <= now);
            if !due {
                continue;
            }
            let checked = match self.look_up_links_of(&m).await {
                Ok(o) => {
                    outcome.add(o);
                    self.store.drop_destroyed(&m).await.map_err(Error::from)
                }
                Err(e) => Err(e),
            };
            match checked {
                Ok(()) => {
                    tracing::info!(klantcontact = %m.url, destroyed_at = %m.at, "destroyed klantcontact rechecked")
                }
                Err(e) => {
                    tracing::warn!(klantcontact = %m.url, error = %e, "destroyed klantcontact not rechecked; the next sweep tries again");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(outcome), Err)
    }
}
