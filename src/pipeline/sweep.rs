//! The outbox sweep (DESIGN §5), run on a schedule.

use super::{Error, Outcome, Zaaklink};

impl Zaaklink {
    /// The outbox sweep: put every event a crash or a failed put left in the outbox. It does
    /// not wait for live claims of other processes (a crashed writer's claim would hold it up
    /// to the lease); at worst an event goes out twice with the same id, which consumers drop.
    /// A writer in this process it waits for, and reads the record again after it.
    /// Then it rechecks the klantcontact destroys whose grace period is over (DESIGN §2).
    pub async fn sweep(&self) -> Result<Outcome, Error> {
        let mut outcome = Outcome::default();
        let mut first_error = None;
        for found in self.store.with_pending().await? {
            outcome.objects += 1;
            // In this process's turn for the object, and as it is now: a writer here may
            // have put and cleared that outbox since it was found (`serial`).
            let _turn = super::serial::turn(&self.store, &found.onderwerpobject).await;
            let record = match self.store.get(&found.onderwerpobject).await {
                Ok(Some(r)) if !r.pending.is_empty() => r,
                Ok(_) => continue,
                Err(e) => {
                    first_error.get_or_insert(Error::from(e));
                    continue;
                }
            };
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
