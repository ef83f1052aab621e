//! What a test can do to the fake Open Zaak: its zaken, injected faults and damage, and what
//! it saw.

use std::time::{Duration, Instant};

use super::{Drop, FakeOpenZaak, ZaakObject};

impl FakeOpenZaak {
    /// Only these zaak uuids exist (events about others are dropped with 202).
    pub fn set_zaken(&self, uuids: &[&str]) {
        self.with(|s| s.zaken = Some(uuids.iter().map(|u| u.to_string()).collect()));
    }
    /// Open Zaak cannot GET `linkTo` (no Service with Open Klant's token): events are
    /// answered 202 and dropped.
    pub fn set_link_to_unreachable(&self, on: bool) {
        self.with(|s| s.link_to_unreachable = on);
    }
    /// The next `n` POSTs are answered `status` without being applied.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.with(|s| s.fail_next.extend(std::iter::repeat_n(status, n)));
    }
    /// The next `n` POSTs are applied, then never answered (the client times out).
    pub fn hang_after_apply(&self, n: usize) {
        self.with(|s| s.hang_after_apply += n);
    }
    /// The next `n` POSTs are applied, then the connection is dropped without an answer.
    pub fn drop_after_apply(&self, n: usize) {
        self.with(|s| s.drop_after_apply += n);
    }
    /// The next `n` POSTs are applied, then answered 202 only after `after` (past a shorter
    /// client timeout the answer is lost).
    pub fn answer_late_after_apply(&self, n: usize, after: Duration) {
        self.with(|s| s.late_after_apply.extend(std::iter::repeat_n(after, n)));
    }
    /// Reads of zaakobjecten are answered 403 (an Applicatie without `zaken.lezen`).
    pub fn refuse_reads(&self, on: bool) {
        self.with(|s| s.refuse_reads = on);
    }
    /// Every zaakobjecten read is answered this late (None: at once).
    pub fn set_read_delay(&self, d: Option<Duration>) {
        self.with(|s| s.read_delay = d);
    }
    /// GETs of zaakobjecten answered so far.
    pub fn reads(&self) -> usize {
        self.with(|s| s.reads)
    }
    /// A ZaakObject made outside zaaklink (by hand, by Open Klant's own emitter, or delivered
    /// before a restore): `object` related to zaak `zaak_uuid`.
    pub fn insert_object(&self, zaak_uuid: &str, object: &str, label: &str) {
        self.with(|s| {
            s.next_id += 1;
            let n = s.next_id;
            let zaak = format!("{}/zaken/api/v1/zaken/{zaak_uuid}", s.base);
            s.objects.push(ZaakObject {
                uuid: format!("00000000-0000-4000-8000-{n:012}"),
                zaak,
                object: object.to_owned(),
                object_type_overige: "Onderwerpobject".into(),
                relatieomschrijving: label.to_owned(),
            });
        })
    }
    /// Delete every ZaakObject whose `object` is `object` (a caseworker's delete); how many.
    pub fn delete_objects(&self, object: &str) -> usize {
        self.with(|s| {
            let before = s.objects.len();
            s.objects.retain(|o| o.object != object);
            before - s.objects.len()
        })
    }
    /// Add an identical second ZaakObject beside the first one of `object` (Open Zaak accepts
    /// a second POST of the same relation); false when there is none.
    pub fn duplicate(&self, object: &str) -> bool {
        self.with(|s| {
            let Some(mut copy) = s.objects.iter().find(|o| o.object == object).cloned() else {
                return false;
            };
            s.next_id += 1;
            copy.uuid = format!("00000000-0000-4000-8000-{:012}", s.next_id);
            s.objects.push(copy);
            true
        })
    }
    /// Add this much latency to a zaakobjecten answer per ZaakObject in it (benchmarks).
    pub fn delay_per_listed(&self, d: Option<Duration>) {
        self.with(|s| s.per_listed = d);
    }
    /// Page `page` of the unfiltered list answers `status` (None: behaves again).
    pub fn fail_list_page(&self, page: u32, status: Option<u16>) {
        self.with(|s| match status {
            Some(st) => {
                s.failing_pages.insert(page, st);
            }
            None => {
                s.failing_pages.remove(&page);
            }
        })
    }
    /// Every answer is delayed this long (None: answer at once).
    pub fn set_delay(&self, d: Option<Duration>) {
        self.with(|s| s.delay = d);
    }
    /// Down (503 to everything) for `d` from now; `Duration::ZERO` ends an outage.
    pub fn outage_for(&self, d: Duration) {
        self.with(|s| s.outage_until = Some(Instant::now() + d));
    }
    pub fn objects(&self) -> Vec<ZaakObject> {
        self.with(|s| s.objects.clone())
    }
    /// Every POST that reached `/events`: (status answered, event id or "").
    pub fn posts(&self) -> Vec<(u16, String)> {
        self.with(|s| s.posts.clone())
    }
    /// The most POSTs to `/events` that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.with(|s| s.max_in_flight)
    }
    /// Every applied event in the order applied: (type, `linkTo`, zaak URL).
    pub fn applied(&self) -> Vec<(String, String, String)> {
        self.with(|s| s.applied.clone())
    }
    pub fn dropped(&self) -> Vec<(String, Drop)> {
        self.with(|s| s.dropped.clone())
    }
    /// The zaak URL this fake uses for a zaak uuid.
    pub fn zaak_url(&self, uuid: &str) -> String {
        format!("{}/zaken/api/v1/zaken/{uuid}", self.base)
    }
}
