//! The head poll's steps (DESIGN §7a): the look — the state, the head page, the decision, the
//! pass request, what left looked up — then the reconcile of what is new and the state saved.

use chrono::Utc;

use super::{
    decide, gone, new_objects, pass_due, wanted_after, Head, HeadPoll, HeadState, Later, Looked, PassRequest,
};
use crate::link::Onderwerpobject;
use crate::pipeline::Truth;
use crate::resync::checkpoint::Checkpoint;
use crate::resync::run::bounded;
use crate::store::StoreError;
use crate::{Error, Outcome};

impl HeadPoll {
    /// The look: read the head page and decide against the last state; settle the pass
    /// request; look up what left the page (and what an earlier hand-off left unfinished).
    /// What left comes first: few objects, and no component announces their going. Leaves
    /// for later ([`Later`]) what left the page while a hand-off still holds it, and the list
    /// look ([`gone`]) when due. Saves nothing.
    pub(super) async fn look(&self) -> Result<Looked, Error> {
        // Before the list request: a change this poll sees happened before this moment, so a
        // pass that starts at or after it lists the list as changed.
        let asked_at = Utc::now();
        let prev = self.load_state().await?;
        let (head, listed) = self.read_head().await?;
        let decision = decide(prev.as_ref(), &head);
        let pending = prev.as_ref().map(|p| p.pending.clone()).unwrap_or_default();
        let prev_burst = prev.as_ref().is_some_and(|p| p.burst);
        let (running, unfinished) = self.unfinished(&pending);
        let wanted = wanted_after(
            prev.and_then(|p| p.pass_wanted),
            decision.pass.is_some(),
            asked_at,
        );
        let pass = self.pass_request(wanted).await?;
        // What left the page while a hand-off of this process still reconciles it (a burst
        // pushed it down) waits for that hand-off's turn: looked up later, not in this look.
        let (recheck, mut look_up): (Vec<String>, Vec<String>) = decision
            .vanished
            .iter()
            .cloned()
            .partition(|u| running.contains(u));
        look_up.extend(unfinished.into_iter().filter(|u| !decision.vanished.contains(u)));
        let outcome = self.look_up(&look_up).await?;
        let in_burst = prev_burst || decision.next.burst;
        let list_look = gone::look_due(
            decision.pass.as_ref(),
            pass.due,
            pass.checkpoint.as_ref(),
            in_burst,
        );
        let mut next = decision.next;
        next.pass_wanted = pass.wanted;
        next.pending = running;
        Ok(Looked {
            new: new_objects(&listed, &decision.reconcile),
            head,
            why: decision.pass,
            vanished: decision.vanished.len(),
            pass_due: pass.due,
            outcome,
            later: Later { recheck, list_look },
            next,
        })
    }

    /// The last poll's state; None for the first poll (or an unreadable state: warned).
    async fn load_state(&self) -> Result<Option<HeadState>, Error> {
        let Some(json) = self.resync.checkpoints().load_head().await? else {
            return Ok(None);
        };
        Ok(match serde_json::from_str::<HeadState>(&json) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "head poll state unreadable; this poll starts afresh");
                None
            }
        })
    }

    pub(super) async fn save_state(&self, next: &HeadState) -> Result<(), Error> {
        let json = serde_json::to_string(next).expect("the head state serialises");
        Ok(self.resync.checkpoints().save_head(&json).await?)
    }

    /// The head page (one list request): its uuids, count and whether pages follow, and its
    /// objects by uuid.
    async fn read_head(&self) -> Result<(Head, Vec<(String, Onderwerpobject)>), Error> {
        let page = self
            .resync
            .app()
            .klant
            .zaak_onderwerpobjecten(1, self.page_size)
            .await?;
        let (objects, count, more) = match page {
            Some(p) => (
                p.results,
                p.count,
                p.next.as_deref().is_some_and(|n| !n.is_empty()),
            ),
            None => (Vec::new(), 0, false),
        };
        let listed: Vec<(String, Onderwerpobject)> = objects
            .into_iter()
            .filter_map(|o| Some((self.resync.uuid_of(&o)?, o)))
            .collect();
        let head = Head {
            uuids: listed.iter().map(|(u, _)| u.clone()).collect(),
            count,
            more,
        };
        Ok((head, listed))
    }

    /// The pass request this poll leaves (`wanted`, [`wanted_after`]) judged against the
    /// resync's checkpoint ([`pass_due`]): dropped once met.
    async fn pass_request(&self, wanted: Option<String>) -> Result<PassRequest, Error> {
        if wanted.is_none() {
            return Ok(PassRequest::default());
        }
        let checkpoint = match self.resync.checkpoints().load_checkpoint().await? {
            Some(saved) => Some(
                serde_json::from_str::<Checkpoint>(&saved.json)
                    .map_err(|e| StoreError::Corrupt(format!("resync checkpoint: {e}")))?,
            ),
            None => None,
        };
        let due = pass_due(wanted.as_deref(), checkpoint.as_ref());
        Ok(PassRequest {
            wanted: wanted.filter(|_| due),
            due,
            checkpoint,
        })
    }

    /// What a look left for later ([`Later`]), side by side: the rechecks looked up (each
    /// after the hand-off that holds it), and the list look when due (never waiting for them).
    pub(super) async fn later(&self, later: &Later) -> Result<Outcome, Error> {
        let list_look = async {
            if later.list_look {
                gone::look(&self.resync).await
            } else {
                Ok(Outcome::default())
            }
        };
        let (rechecked, listed) = tokio::join!(self.look_up(&later.recheck), list_look);
        let mut outcome = rechecked?;
        outcome.add(listed?);
        Ok(outcome)
    }

    /// Objects each looked up as a hint would be, side by side (a cascade's objects may all
    /// have left at once).
    async fn look_up(&self, uuids: &[String]) -> Result<Outcome, Error> {
        let app = self.resync.app();
        let lookups: Vec<_> = uuids
            .iter()
            .map(|uuid| {
                let (app, uuid) = (app.clone(), uuid.clone());
                let url = app.settings.api_root.join(&format!("onderwerpobjecten/{uuid}"));
                async move { app.sync(&uuid, Truth::Fetch(url.as_str()), None).await }
            })
            .collect();
        let mut outcome = Outcome::default();
        for looked in bounded(self.resync.settings().objects_at_once(), lookups).await {
            outcome.add(looked?);
        }
        Ok(outcome)
    }

    /// The objects new to the head page, reconciled through the resync's page work.
    pub(super) async fn reconcile(&self, new: &[Onderwerpobject]) -> Result<Outcome, Error> {
        if new.is_empty() {
            return Ok(Outcome::default());
        }
        self.resync.work_unpaged(new).await
    }
}
