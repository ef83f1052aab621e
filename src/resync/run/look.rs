//! What a run reads once and looks at again: the labels of the klantcontacten (read once per
//! run, not once per object or page), and the after-write look — the objects written on a
//! page looked at once, in one read of the page again after its writes, and the labels
//! written looked at once per klantcontact, in one read after the writes that used them
//! (DESIGN §7, "A first pass at list speed").

use std::collections::{HashMap, HashSet};

use super::pool::{bounded, sum};
use super::Resync;
use crate::link::{self, Klantcontact, Onderwerpobject, ZaakLink};
use crate::openklant::OpenKlantError;
use crate::pipeline::{Outcome, Truth};
use crate::resync::held;
use crate::resync::plan::{self, Step};
use crate::store::LinkRecord;
use crate::Error;

/// The label look runs once this many klantcontacten hold labels written since the last
/// one (and when the list phase ends or the run stops): it bounds both the look's last step
/// and how long a written label waits for its look. As many as the label cache holds: a
/// municipality's klantcontacten are spread over the whole list, so a smaller bound read
/// most of them again at every look (a first pass over 100,000 objects and 20,000
/// klantcontacten made 80,000 klantcontact reads with 20,000, BENCHMARKS.md). A run with a
/// deadline (the Lambda) looks every [`LABEL_LOOK_EVERY_TIMED`], so that its last look,
/// after it stopped, stays short.
const LABEL_LOOK_EVERY: usize = LABEL_CACHE_MAX;
const LABEL_LOOK_EVERY_TIMED: usize = 2_000;

/// More klantcontacten than this in the label cache: it starts over (memory stays bounded;
/// a klantcontact is then read again when a later object needs it).
const LABEL_CACHE_MAX: usize = 50_000;

/// Open Klant reads (labels, the look's objects) run this many times `RESYNC_CONCURRENCY` at
/// once: a GET costs Open Klant little, and a first pass has one label per klantcontact.
const READ_FACTOR: usize = 8;

/// A run's reads shared between its pages.
#[derive(Default)]
pub(in crate::resync) struct Reads {
    /// Klantcontact URL → the klantcontact (None: gone), its objects left out.
    pub labels: HashMap<String, Option<Klantcontact>>,
    /// Written on the page being worked and not looked at yet: (uuid, URL, the link stored).
    pub written: Vec<(String, String, Option<ZaakLink>)>,
    /// Klantcontact URL → (the label written, the objects written with it: uuid, URL) since
    /// the last label look.
    pub labelled: HashMap<String, (String, Vec<(String, String)>)>,
}

impl Reads {
    /// Whether the label look is due ([`LABEL_LOOK_EVERY`]; `timed`: a run with a deadline).
    pub fn label_look_due(&self, timed: bool) -> bool {
        self.labelled.len()
            >= if timed {
                LABEL_LOOK_EVERY_TIMED
            } else {
                LABEL_LOOK_EVERY
            }
    }
}

impl Resync {
    /// Open Klant reads at once.
    pub(super) fn read_concurrency(&self) -> usize {
        READ_FACTOR * self.settings.concurrency.max(1)
    }

    /// The rounds of Open Klant reads the looks still owed take: the page read again, and
    /// the klantcontacten to look at, [`Self::read_concurrency`] a round (at most, one per
    /// object written).
    pub(super) fn look_rounds(&self, reads: &Reads) -> u32 {
        let page = u32::from(!reads.written.is_empty());
        let labels = (reads.written.len() + reads.labelled.len()).div_ceil(self.read_concurrency());
        page + labels as u32
    }

    /// The klantcontacten at `urls` the cache does not hold yet, read into it.
    pub(super) async fn read_labels(&self, reads: &mut Reads, urls: HashSet<String>) -> Result<(), Error> {
        let wanted: HashSet<String> = urls
            .into_iter()
            .filter(|u| !reads.labels.contains_key(u))
            .collect();
        if reads.labels.len() + wanted.len() > LABEL_CACHE_MAX {
            reads.labels.clear();
        }
        reads.labels.extend(self.klantcontacten(wanted).await?);
        Ok(())
    }

    /// The klantcontacten at these URLs (None: gone), [`Self::read_concurrency`] at a time.
    async fn klantcontacten(
        &self,
        urls: HashSet<String>,
    ) -> Result<Vec<(String, Option<Klantcontact>)>, Error> {
        let mut jobs = Vec::new();
        for url in urls {
            let klant = self.app.klant.clone();
            jobs.push(async move {
                let kc = klant.klantcontact(&url).await;
                (url, kc)
            });
        }
        Ok(bounded(self.read_concurrency(), jobs)
            .await
            .into_iter()
            .map(|(url, kc)| {
                kc.map(|kc| {
                    let kc = kc.map(|k| Klantcontact {
                        ging_over_onderwerpobjecten: Vec::new(),
                        ..k
                    });
                    (url, kc)
                })
            })
            .collect::<Result<_, OpenKlantError>>()?)
    }

    /// The after-write look at the objects written since the last look: list page `page`
    /// read again when more objects were written than one round of reads
    /// ([`Self::read_concurrency`]) — otherwise, and for an object no longer on the page,
    /// each one's own GET; an object that now shows another link than the one written goes
    /// the normal path ([`crate::Zaaklink`]'s `sync`, with its own look). The links that
    /// stand wait for the label look.
    pub(super) async fn look_at_objects(
        &self,
        reads: &mut Reads,
        page: Option<u32>,
    ) -> Result<Outcome, Error> {
        let written = std::mem::take(&mut reads.written);
        if written.is_empty() {
            return Ok(Outcome::default());
        }
        let mut now: HashMap<String, Onderwerpobject> = HashMap::new();
        if let Some(n) = page.filter(|_| written.len() > self.read_concurrency()) {
            if let Some(p) = self.app.klant.zaak_onderwerpobjecten(n, self.page_size()).await? {
                now.extend(p.results.into_iter().filter_map(|o| Some((self.uuid_of(&o)?, o))));
            }
        }
        let missing: Vec<(String, String)> = written
            .iter()
            .filter(|(u, _, _)| !now.contains_key(u))
            .map(|(u, url, _)| (u.clone(), url.clone()))
            .collect();
        for (u, o) in self.onderwerpobjecten(missing).await? {
            if let Some(o) = o {
                now.insert(u, o);
            }
        }
        let mut again = Vec::new();
        for (uuid, url, link) in written {
            if !shows(now.get(&uuid), link.as_ref()) {
                again.push((uuid, url));
                continue;
            }
            if let Some(l) = link {
                let entry = reads
                    .labelled
                    .entry(l.klantcontact)
                    .or_insert_with(|| (l.label, Vec::new()));
                entry.1.push((uuid, url));
            }
        }
        self.sync_again(again).await
    }

    /// The label look: every klantcontact whose label was written since the last one read
    /// once more (after those writes; the cache takes the fresh read); an object written with
    /// a label that is no longer the klantcontact's goes the normal path.
    pub(super) async fn look_at_labels(&self, reads: &mut Reads) -> Result<Outcome, Error> {
        let labelled = std::mem::take(&mut reads.labelled);
        if labelled.is_empty() {
            return Ok(Outcome::default());
        }
        let fresh = self.klantcontacten(labelled.keys().cloned().collect()).await?;
        let max = self.app.settings.label_max_chars;
        let mut again = Vec::new();
        for (url, kc) in fresh {
            let Some((label, objects)) = labelled.get(&url) else {
                continue;
            };
            if kc.as_ref().is_none_or(|kc| &link::label(kc, max) != label) {
                again.extend(objects.iter().cloned());
            }
            reads.labels.insert(url, kc);
        }
        self.sync_again(again).await
    }

    /// The onderwerpobjecten (uuid, URL) as Open Klant shows them now (None: gone).
    async fn onderwerpobjecten(
        &self,
        objects: Vec<(String, String)>,
    ) -> Result<Vec<(String, Option<Onderwerpobject>)>, Error> {
        let mut jobs = Vec::new();
        for (uuid, url) in objects {
            let klant = self.app.klant.clone();
            jobs.push(async move { klant.onderwerpobject(&url).await.map(|o| (uuid, o)) });
        }
        Ok(bounded(self.read_concurrency(), jobs)
            .await
            .into_iter()
            .collect::<Result<_, OpenKlantError>>()?)
    }

    /// The normal path for these objects (uuid, URL), [`crate::config::ResyncSettings::objects_at_once`]
    /// at a time; an object whose outbox another writer holds is passed over for now
    /// ([`held`]).
    pub(super) async fn sync_again(&self, objects: Vec<(String, String)>) -> Result<Outcome, Error> {
        let mut jobs = Vec::new();
        for (uuid, url) in objects {
            let (app, shared) = (self.app.clone(), self.shared.clone());
            jobs.push(async move {
                let r = app.sync(&uuid, Truth::Fetch(&url), None).await;
                held::pass_over(&shared.held, &uuid, &url, r)
            });
        }
        sum(bounded(self.settings.objects_at_once(), jobs).await)
    }
}

/// Whether `now` (None: gone) shows the link that was written (None: no link): the object's
/// zaak, klantcontact and `wasKlantcontact` as the pass plans them ([`plan::step`]).
fn shows(now: Option<&Onderwerpobject>, written: Option<&ZaakLink>) -> bool {
    let Some(o) = now else {
        return written.is_none();
    };
    let mut record = LinkRecord::absent("");
    record.link = written.cloned();
    plan::step(o, Some(&record)) == Step::Unchanged
}
