//! Load: nothing is lost under concurrency, duplicates, reordering and injected faults.
//!
//! The real pipeline — `webhook::handle` on ONE shared `Zaaklink`, the real Open Klant HTTP
//! adapter against the HTTP fake, `DynamoStore` and `EventBridgeSink` on moto, events read
//! back from the SQS queue a bus rule delivers to — is driven with well over 1,000
//! notifications about well over 100 onderwerpobjecten, at least 32 deliveries in flight at
//! once. A seeded RNG (env `ZAAKLINK_LOAD_SEED`, default below) mutates the fake Open Klant
//! between notifications: link to zaak A/B/C, relink, unlink (besluit, klantcontact detached),
//! label changes (klantcontact update notifications), deletes (onderwerpobject destroy) and
//! klantcontact deletes (Open Klant cascades silently). Deliveries are duplicated, shuffled
//! within windows, re-sent late, and meet faults injected on purpose: Open Klant answering 503
//! in bursts, DynamoDB writes refused (conflict / unavailable, before or *after* the write),
//! PutEvents failing (before or *after* the events went out). Every non-2xx answer is retried
//! like Open Notificaties does (re-send until 204, bounded).
//!
//! After quiescence one more notification per onderwerpobject is delivered. zaaklink is
//! level-triggered — a notification means "look again", never "this changed to X" — so the
//! guarantee is: after the *last* notification about an object is handled, the stored link
//! equals Open Klant's state. In a concurrent run the last notification generated is not
//! necessarily the last one *handled*, and a stale reader can overwrite a newer view (see
//! `stale_writer_after_unchanged_reader_loses_the_final_state` in tests/faults.rs), so the
//! final round plays the part of Open Klant's next change or the scheduled resync. How many
//! objects had diverged before it is reported (`diverged_before_final`).
//!
//! Then: every stored link equals the fake's final state; nothing is left in `pending`
//! (`with_pending()`, before any sweep); every event committed to an outbox reached SQS (lost
//! = 0), nothing reached SQS that was never committed; a repeated id always carries the same
//! event; per object the distinct events, in version order, form a valid history (no
//! ontkoppeld without an open gekoppeld of that zaak, each gekoppeld closed at most once, the
//! ontkoppeld repeats its gekoppeld's payload, the open link at the end is the final state).
//!
//! Then on through the delivery path: the events read back from the queue (repeats and stale
//! replays included) are shuffled and handed to 8 concurrent `deliver` workers in SQS-like
//! batches of 5 (`deliver::sqs::handle_batch`, the DynamoDB delivery log on moto); failed
//! messages go back to the end of the queue (redelivery, reordered). The fake Open Zaak answers
//! 503 now and then and sometimes applies an event and never answers (timeout), with the
//! zaakobjecten read check on. At the end Open Zaak's ZaakObjects are compared with Open Klant's
//! final links: expected, present, missing (0), duplicated (0), stale resurrections (0), parked.
//! The figures go, as one JSON line, to the file named by `ZAAKLINK_RELIABILITY_OUT`.

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

use common::cli::SOURCE;
use common::faulty::{self, Fault, Faults};
use common::fixtures::{core_args, id, pipeline, post, TOKEN};
use common::history::{check_history, report};
use common::Moto;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::ZaakLink;
use zaaklink::webhook::WebhookAuth;
use zaaklink::Zaaklink;

const TABLE: &str = "zaaklink-load";
const BUS: &str = "zaaklink-load-bus";
const DEFAULT_SEED: u64 = 0x2a_11_4b;

const OBJECTS: usize = 120;
const NOTIFICATIONS: usize = 1_200;
/// Notifications generated (and their mutations applied) per window; a window's deliveries
/// are shuffled before they are sent.
const WINDOW: usize = 40;
/// Deliveries allowed in flight at once (at least 32 must be reached).
const MAX_IN_FLIGHT: usize = 64;
/// Open Notificaties retries for ~24 h; here: this many tries per delivery.
const MAX_TRIES: u32 = 60;

// ---------------------------------------------------------------------------------------------
// Fault injection: seeded rates (tests/common/faulty.rs makes the store and the sink fail)
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct FaultCounts {
    store_conflict: AtomicUsize,
    store_unavailable_before: AtomicUsize,
    store_unavailable_after: AtomicUsize,
    store_get_unavailable: AtomicUsize,
    sink_fail_before: AtomicUsize,
    sink_fail_after: AtomicUsize,
}

impl FaultCounts {
    fn json(&self) -> Value {
        let g = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        json!({
            "store_conflict": g(&self.store_conflict),
            "store_unavailable_before_write": g(&self.store_unavailable_before),
            "store_unavailable_after_write": g(&self.store_unavailable_after),
            "store_get_unavailable": g(&self.store_get_unavailable),
            "sink_fail_before_put": g(&self.sink_fail_before),
            "sink_fail_after_put": g(&self.sink_fail_after),
        })
    }

    fn total(&self) -> usize {
        [
            &self.store_conflict,
            &self.store_unavailable_before,
            &self.store_unavailable_after,
            &self.store_get_unavailable,
            &self.sink_fail_before,
            &self.sink_fail_after,
        ]
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .sum()
    }
}

/// Per-mille rates of each injected fault.
#[derive(Clone, Copy)]
struct Rates {
    get_unavailable: u32,
    put_conflict: u32,
    put_unavailable_before: u32,
    put_unavailable_after: u32,
    sink_before: u32,
    sink_after: u32,
}

/// Decides each fault by a seeded roll at its rate (tests/common/faulty.rs does the failing),
/// and counts what fired and what the bus accepted.
struct Rolls {
    store_rng: Mutex<StdRng>,
    sink_rng: Mutex<StdRng>,
    rates: Mutex<Rates>,
    counts: FaultCounts,
    /// Events the bus accepted, counting repeats.
    published: AtomicUsize,
}

impl Faults for Rolls {
    fn fire(&self, fault: Fault) -> bool {
        let r = *self.rates.lock().unwrap();
        let c = &self.counts;
        let (per_mille, rng, count) = match fault {
            Fault::GetUnavailable => (r.get_unavailable, &self.store_rng, &c.store_get_unavailable),
            Fault::PutConflict => (r.put_conflict, &self.store_rng, &c.store_conflict),
            Fault::PutUnavailableBefore => (
                r.put_unavailable_before,
                &self.store_rng,
                &c.store_unavailable_before,
            ),
            Fault::PutUnavailableAfter => (
                r.put_unavailable_after,
                &self.store_rng,
                &c.store_unavailable_after,
            ),
            Fault::SinkBefore => (r.sink_before, &self.sink_rng, &c.sink_fail_before),
            Fault::SinkAfter => (r.sink_after, &self.sink_rng, &c.sink_fail_after),
            Fault::SinkHang => return false,
        };
        let fired = per_mille > 0 && rng.lock().unwrap().random_range(0..1000) < per_mille;
        if fired {
            count.fetch_add(1, Ordering::SeqCst);
        }
        fired
    }

    fn published(&self, n: usize) {
        self.published.fetch_add(n, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The simulated Open Klant: per onderwerpobject, its own klantcontact
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Not created yet.
    Unborn,
    /// Links zaak 0, 1 or 2 (A, B, C).
    Zaak(usize),
    /// Changed to a besluit: no zaak.
    Besluit,
    /// `klantcontact: null` (the klantcontact was detached): no zaak.
    Detached,
    /// The onderwerpobject was deleted (terminal).
    Removed,
    /// The klantcontact was deleted and Open Klant cascaded (terminal).
    KcRemoved,
}

struct Obj {
    uuid: String,
    kc_uuid: String,
    st: St,
    label_rev: u32,
}

fn uuid_for(kind: &str, i: usize, extra: usize) -> String {
    id("load", &format!("{kind}/{i}"), extra)
}

fn zaak_id(i: usize, z: usize) -> String {
    uuid_for("zaak", i, z)
}

struct Sim {
    ok: FakeOpenKlant,
    root: String,
    objs: Vec<Obj>,
}

impl Sim {
    fn oo_url(&self, i: usize) -> String {
        format!("{}onderwerpobjecten/{}", self.root, self.objs[i].uuid)
    }

    fn kc_url(&self, i: usize) -> String {
        format!("{}klantcontacten/{}", self.root, self.objs[i].kc_uuid)
    }

    fn label(&self, i: usize) -> String {
        let rev = self.objs[i].label_rev;
        if rev.is_multiple_of(3) {
            format!("Onderwerp {i} r{rev}")
        } else {
            format!("Onderwerp {i} r{rev} - (KC-{i}-{rev})")
        }
    }

    /// Serve object i as its state says.
    fn publish(&self, i: usize) {
        let o = &self.objs[i];
        let kc_ref = json!({"uuid": o.kc_uuid, "url": self.kc_url(i)});
        let oo_ref = json!({"uuid": o.uuid, "url": self.oo_url(i)});
        match o.st {
            St::Unborn => {}
            St::Removed => {
                self.ok.remove(&self.oo_url(i));
                self.put_kc(i, vec![]);
            }
            St::KcRemoved => {
                self.ok.remove(&self.oo_url(i));
                self.ok.remove(&self.kc_url(i));
            }
            St::Zaak(_) | St::Besluit | St::Detached => {
                let (objecttype, object_id) = match o.st {
                    St::Zaak(z) => ("zaak", zaak_id(i, z)),
                    _ => ("besluit", uuid_for("besluit", i, 0)),
                };
                let detached = o.st == St::Detached;
                let oo = json!({
                    "uuid": o.uuid,
                    "url": self.oo_url(i),
                    "klantcontact": if detached { Value::Null } else { kc_ref.clone() },
                    "wasKlantcontact": if detached { kc_ref.clone() } else { Value::Null },
                    "onderwerpobjectidentificator": {
                        "objectId": object_id,
                        "codeObjecttype": objecttype,
                        "codeRegister": "openzaak",
                        "codeSoortObjectId": "uuid"
                    }
                });
                self.ok.put(&oo.to_string());
                self.put_kc(i, if detached { vec![] } else { vec![oo_ref] });
            }
        }
    }

    fn put_kc(&self, i: usize, objects: Vec<Value>) {
        let rev = self.objs[i].label_rev;
        let kc = json!({
            "uuid": self.objs[i].kc_uuid,
            "url": self.kc_url(i),
            "nummer": if rev.is_multiple_of(3) { String::new() } else { format!("KC-{i}-{rev}") },
            "onderwerp": format!("Onderwerp {i} r{rev}"),
            "gingOverOnderwerpobjecten": objects,
        });
        self.ok.put(&kc.to_string());
    }

    /// The link Open Klant's current state makes, if any.
    fn expected(&self, i: usize) -> Option<ZaakLink> {
        match self.objs[i].st {
            St::Zaak(z) => Some(ZaakLink {
                zaak: zaak_id(i, z),
                label: self.label(i),
                link_to: self.oo_url(i),
                klantcontact: self.kc_url(i),
                was_klantcontact: None,
            }),
            _ => None,
        }
    }

    fn notification(&self, i: usize, resource: &str, actie: &str) -> String {
        let url = if resource == "klantcontact" {
            self.kc_url(i)
        } else {
            self.oo_url(i)
        };
        json!({
            "kanaal": "klantcontacten",
            "hoofdObject": self.kc_url(i),
            "resource": resource,
            "resourceUrl": url,
            "actie": actie,
            "aanmaakdatum": chrono::Utc::now().to_rfc3339(),
            "kenmerken": {}
        })
        .to_string()
    }

    /// Apply one random change to object i and return the notification Open Klant sends.
    fn mutate(&mut self, i: usize, rng: &mut StdRng) -> String {
        let st = self.objs[i].st;
        let (new_st, resource, actie) = if st == St::Unborn {
            let s = if rng.random_range(0..4) == 0 {
                St::Besluit
            } else {
                St::Zaak(rng.random_range(0..3))
            };
            (s, "onderwerpobject", "create")
        } else {
            match rng.random_range(0..100) {
                0..=34 => (St::Zaak(rng.random_range(0..3)), "onderwerpobject", "update"),
                35..=44 => (st, "onderwerpobject", "partial_update"),
                45..=57 => (St::Besluit, "onderwerpobject", "partial_update"),
                58..=65 => (St::Detached, "onderwerpobject", "update"),
                66..=94 => {
                    self.objs[i].label_rev += 1;
                    (st, "klantcontact", "update")
                }
                95..=97 => (St::Removed, "onderwerpobject", "destroy"),
                _ => (St::KcRemoved, "klantcontact", "destroy"),
            }
        };
        self.objs[i].st = new_st;
        self.publish(i);
        self.notification(i, resource, actie)
    }

    fn live(&self, i: usize) -> bool {
        !matches!(self.objs[i].st, St::Removed | St::KcRemoved)
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery like Open Notificaties: re-send until 204, bounded
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Deliveries {
    attempts: AtomicUsize,
    non_2xx: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    statuses: Mutex<BTreeMap<u16, usize>>,
}

async fn deliver(app: &Zaaklink, auth: &WebhookAuth, body: &str, stats: &Deliveries, jitter_ms: u64) {
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(jitter_ms)).await;
    let mut last = None;
    for attempt in 0..MAX_TRIES {
        stats.attempts.fetch_add(1, Ordering::SeqCst);
        let a = post(app, auth, body).await;
        if a.status == 204 {
            stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        assert!(
            matches!(a.status, 502 | 503),
            "only retryable failures are expected, got {a:?} for {body}"
        );
        stats.non_2xx.fetch_add(1, Ordering::SeqCst);
        *stats.statuses.lock().unwrap().entry(a.status).or_default() += 1;
        last = Some(a);
        tokio::time::sleep(Duration::from_millis(
            5 * u64::from(attempt.min(8)) + jitter_ms % 7,
        ))
        .await;
    }
    panic!("not delivered after {MAX_TRIES} tries: {body}; last answer {last:?}");
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The CloudEvents in the queue (envelope checked), roughly in arrival order. Drains with
/// batch deletes (one ReceiveMessage + one DeleteMessageBatch per 10 messages), until two
/// empty polls in a row.
async fn queue_events(moto: &Moto, queue: &str) -> Vec<Value> {
    // moto answers each ReceiveMessage slowly (~1 s) but serves several at once: drain with
    // parallel receivers (received messages are invisible to the others until deleted).
    let sqs = moto.sqs().await;
    let mut receivers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (sqs, queue) = (sqs.clone(), queue.to_string());
        receivers.spawn(async move { drain(&sqs, &queue).await });
    }
    let mut out = Vec::new();
    while let Some(part) = receivers.join_next().await {
        out.extend(part.unwrap());
    }
    // Arrival order: SentTimestamp (ms), stable.
    out.sort_by_key(|(sent, _)| *sent);
    out.into_iter().map(|(_, e)| e).collect()
}

async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
            .wait_time_seconds(if empty == 0 { 0 } else { 1 })
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let mut batch = Vec::new();
        for (n, m) in messages.into_iter().enumerate() {
            let envelope: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            assert_eq!(envelope["source"], SOURCE, "{envelope}");
            assert_eq!(envelope["detail-type"], envelope["detail"]["type"], "{envelope}");
            let sent = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok())
                .unwrap_or(u64::MAX);
            out.push((sent, envelope["detail"].clone()));
            batch.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(m.receipt_handle.unwrap())
                    .build()
                    .unwrap(),
            );
        }
        sqs.delete_message_batch()
            .queue_url(queue)
            .set_entries(Some(batch))
            .send()
            .await
            .unwrap();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_notifications_with_faults_lose_nothing() {
    let started = Instant::now();
    let seed: u64 = std::env::var("ZAAKLINK_LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = StdRng::seed_from_u64(seed);

    let moto = Moto::start();
    moto.create_links_table(TABLE).await;
    let queue = moto.create_bus_rule_queue(BUS, SOURCE).await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let rates = Rates {
        get_unavailable: 10,
        put_conflict: 30,
        put_unavailable_before: 15,
        put_unavailable_after: 15,
        sink_before: 30,
        sink_after: 20,
    };
    let faults = Arc::new(Rolls {
        store_rng: Mutex::new(StdRng::seed_from_u64(seed ^ 1)),
        sink_rng: Mutex::new(StdRng::seed_from_u64(seed ^ 2)),
        rates: Mutex::new(rates),
        counts: FaultCounts::default(),
        published: AtomicUsize::new(0),
    });
    let (store, sink, committed) =
        faulty::on_moto(&moto, TABLE, BUS, faults.clone(), (4, Duration::from_millis(20))).await;
    // The checks read DynamoDB directly, without injected faults.
    let dynamo = store.inner.clone();
    let (app, auth) = pipeline(core_args(&ok.api_root(), "5000"), store, sink);

    let mut sim = Sim {
        root: ok.api_root(),
        ok,
        objs: (0..OBJECTS)
            .map(|i| Obj {
                uuid: uuid_for("oo", i, 0),
                kc_uuid: uuid_for("kc", i, 0),
                st: St::Unborn,
                label_rev: 0,
            })
            .collect(),
    };

    let stats = Arc::new(Deliveries::default());
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent: Vec<String> = Vec::new();
    let (mut duplicates, mut late_repeats, mut reordered, mut ok_bursts) = (0usize, 0usize, 0usize, 0usize);
    let mut generated = 0usize;
    let mut window_no = 0usize;
    while generated < NOTIFICATIONS {
        window_no += 1;
        // The window's changes happen (each followed by its notification)...
        let mut window: Vec<String> = Vec::new();
        for _ in 0..WINDOW.min(NOTIFICATIONS - generated) {
            // Every object is created first (in order), then changed at random.
            let i = if generated < OBJECTS {
                generated
            } else {
                let live: Vec<usize> = (0..OBJECTS).filter(|i| sim.live(*i)).collect();
                *live.choose(&mut rng).expect("objects left")
            };
            let n = sim.mutate(i, &mut rng);
            generated += 1;
            if rng.random_range(0..100) < 15 {
                window.push(n.clone());
                duplicates += 1;
            }
            window.push(n.clone());
            sent.push(n);
        }
        // ...plus, now and then, a late repeat of an old notification...
        if rng.random_range(0..100) < 60 {
            let old = sent[rng.random_range(0..sent.len())].clone();
            window.push(old);
            late_repeats += 1;
        }
        // ...and they arrive in any order.
        let mut order: Vec<usize> = (0..window.len()).collect();
        order.shuffle(&mut rng);
        let mut highest = 0;
        for (p, &k) in order.iter().enumerate() {
            if p > 0 && k < highest {
                reordered += 1;
            }
            highest = highest.max(k);
        }
        // Open Klant has a bad moment every few windows: 503 for everything in flight, briefly.
        if window_no.is_multiple_of(6) {
            sim.ok.fail_with(Some(503));
            ok_bursts += 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
            sim.ok.fail_with(None);
        }
        for k in order {
            let body = window[k].clone();
            let permit = slots.clone().acquire_owned().await.unwrap();
            let (app, auth, stats) = (app.clone(), auth.clone(), stats.clone());
            let jitter = rng.random_range(0..15);
            tasks.spawn(async move {
                deliver(&app, &auth, &body, &stats, jitter).await;
                drop(permit);
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let run_done = started.elapsed();

    // Quiescence: how many objects had not converged?
    let mut diverged = 0;
    for i in 0..OBJECTS {
        let stored = dynamo.get(&sim.objs[i].uuid).await.unwrap().and_then(|r| r.link);
        if stored != sim.expected(i) {
            diverged += 1;
        }
    }
    // The final round, faults still on: one level-triggered notification per object.
    let final_round: Vec<String> = (0..OBJECTS)
        .map(|i| sim.notification(i, "onderwerpobject", "update"))
        .collect();
    for body in &final_round {
        let (app, auth, stats) = (app.clone(), auth.clone(), stats.clone());
        let body = body.clone();
        let permit = slots.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            deliver(&app, &auth, &body, &stats, 0).await;
            drop(permit);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    *faults.rates.lock().unwrap() = Rates {
        get_unavailable: 0,
        put_conflict: 0,
        put_unavailable_before: 0,
        put_unavailable_after: 0,
        sink_before: 0,
        sink_after: 0,
    };

    // Nothing waits in an outbox (no sweep has run).
    let pending = dynamo.with_pending().await.unwrap();
    // Every stored link is Open Klant's final state.
    let mut finals = HashMap::new();
    let mut wrong_state = Vec::new();
    for i in 0..OBJECTS {
        let stored = dynamo.get(&sim.objs[i].uuid).await.unwrap();
        let want = sim.expected(i);
        if stored.as_ref().and_then(|r| r.link.clone()) != want {
            wrong_state.push(format!(
                "{}: stored {stored:?}, Open Klant {want:?}",
                sim.objs[i].uuid
            ));
        }
        finals.insert(sim.objs[i].uuid.clone(), want);
    }
    let checks_start = Instant::now();
    let received = queue_events(&moto, &queue).await;
    eprintln!(
        "queue drained: {} messages in {:?}",
        received.len(),
        checks_start.elapsed()
    );
    let committed = committed.lock().unwrap().clone();
    let (fig, mut problems) = check_history(&committed, &received, &finals);
    let delivery_started = Instant::now();
    let at_open_zaak = through_deliver(&moto, &received, &finals, seed).await;
    eprintln!(
        "delivered to the fake Open Zaak in {:?}: {at_open_zaak}",
        delivery_started.elapsed()
    );
    for key in [
        "missing",
        "duplicated",
        "stale_resurrections",
        "parked",
        "dead_lettered",
    ] {
        if at_open_zaak[key] != 0 {
            problems.push(format!("at Open Zaak: {key} = {}", at_open_zaak[key]));
        }
    }
    problems.extend(wrong_state);
    for r in &pending {
        problems.push(format!(
            "left in the outbox: {} {:?}",
            r.onderwerpobject,
            r.pending.keys()
        ));
    }
    let ok_503 = sim.ok.requests().len();
    let injected = faults.counts.total() + duplicates + late_repeats + ok_bursts;
    let notifications = sent.len() + final_round.len();
    report(json!({
        "scenario": "load",
        "description": format!("{OBJECTS} onderwerpobjecten, {} in flight at most, seed {seed}", stats.max_in_flight.load(Ordering::SeqCst)),
        "notifications": notifications,
        "deliveries": stats.attempts.load(Ordering::SeqCst),
        "faults": injected,
        "fault_detail": {
            "duplicate_deliveries": duplicates,
            "late_repeats": late_repeats,
            "reordered_deliveries": reordered,
            "open_klant_503_bursts": ok_bursts,
            "injected": faults.counts.json(),
            "non_2xx_answers_retried": stats.non_2xx.load(Ordering::SeqCst),
            "answers": *stats.statuses.lock().unwrap(),
        },
        "events_expected": fig.expected,
        "events_delivered": fig.delivered,
        "lost": fig.lost,
        "phantom": fig.phantom,
        "duplicated": fig.duplicated,
        "stale_replays": fig.stale_replays,
        "events_published_incl_repeats": faults.published.load(Ordering::SeqCst),
        "pending_left": pending.len(),
        "diverged_before_final": diverged,
        "open_zaak": at_open_zaak,
        "open_klant_requests": ok_503,
        "max_in_flight": stats.max_in_flight.load(Ordering::SeqCst),
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "seconds_run": (run_done.as_secs_f64() * 10.0).round() / 10.0,
        "result": if problems.is_empty() { "pass" } else { "FAIL" },
    }));
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        stats.max_in_flight.load(Ordering::SeqCst) >= 32,
        "not enough concurrency"
    );
    assert!(notifications >= 1_000 && OBJECTS >= 100);
    assert!(
        fig.expected > 500,
        "the run made too few transitions: {}",
        fig.expected
    );
    let _ = HashSet::<u8>::new();
}

// ---------------------------------------------------------------------------------------------
// On through the delivery path to a fake Open Zaak
// ---------------------------------------------------------------------------------------------

/// Delivers `events` (as read from the queue) with concurrent workers and redeliveries, then
/// compares the fake Open Zaak's ZaakObjects with `finals`.
async fn through_deliver(
    moto: &Moto,
    events: &[Value],
    finals: &HashMap<String, Option<ZaakLink>>,
    seed: u64,
) -> Value {
    use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
    use std::collections::VecDeque;
    use zaaklink::deliver::log::{dynamodb::create_table, DynamoDbDeliveryLog};
    use zaaklink::deliver::sqs::{handle_batch, Queues};
    use zaaklink::deliver::{Deliverer, OpenZaakCredentials};
    use zaaklink::fake_openzaak::FakeOpenZaak;

    struct Parking(AtomicUsize);
    #[async_trait::async_trait]
    impl Queues for Parking {
        async fn park(&self, _body: &str) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn delay(&self, _arn: &str, _handle: &str, _delay: Duration) -> Result<(), String> {
            Ok(())
        }
    }

    const SECRET: &str = "load-run-open-zaak-secret-of-32-chars!";
    let oz = FakeOpenZaak::start("zaaklink-load", SECRET).await.unwrap();
    let ddb = moto.dynamodb().await;
    create_table(&ddb, "zaaklink-load-deliveries").await.unwrap();
    let d = Arc::new(
        Deliverer::new(
            &oz.base,
            OpenZaakCredentials::new("zaaklink-load", SECRET),
            DynamoDbDeliveryLog::new(ddb, "zaaklink-load-deliveries"),
            Duration::from_millis(500),
        )
        .unwrap()
        .with_zaken_api_read(true)
        .with_lease(Duration::from_secs(3)),
    );
    // faults at Open Zaak: a burst of 503s, and a few events applied but never answered
    oz.fail_next(25, 503);
    oz.hang_after_apply(4);
    let mut rng = StdRng::seed_from_u64(seed ^ 3);
    let mut pool: Vec<(usize, Value)> = events.iter().cloned().enumerate().collect();
    pool.shuffle(&mut rng);
    let queue: Arc<Mutex<VecDeque<(usize, Value, u32)>>> =
        Arc::new(Mutex::new(pool.into_iter().map(|(i, e)| (i, e, 1)).collect()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let parking = Arc::new(Parking(AtomicUsize::new(0)));
    let dead = Arc::new(AtomicUsize::new(0));
    let receives = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (d, queue, in_flight, parking, dead, receives) = (
            d.clone(),
            queue.clone(),
            in_flight.clone(),
            parking.clone(),
            dead.clone(),
            receives.clone(),
        );
        workers.spawn(async move {
            loop {
                let taken: Vec<(usize, Value, u32)> = {
                    let mut q = queue.lock().unwrap();
                    let n = q.len().min(5);
                    if n > 0 {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                    }
                    q.drain(..n).collect()
                };
                if taken.is_empty() {
                    if in_flight.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                receives.fetch_add(taken.len(), Ordering::SeqCst);
                let mut batch = SqsEvent::default();
                batch.records = taken
                    .iter()
                    .map(|(i, e, count)| {
                        let mut m = SqsMessage::default();
                        m.message_id = Some(format!("{i}-{count}"));
                        m.body = Some(
                            json!({"detail-type": e["type"], "source": SOURCE, "detail": e}).to_string(),
                        );
                        m.attributes
                            .insert("ApproximateReceiveCount".into(), count.to_string());
                        m
                    })
                    .collect();
                let resp = handle_batch(&*d, &*parking, &batch).await;
                let failed: HashSet<String> = resp
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                {
                    let mut q = queue.lock().unwrap();
                    for (i, e, count) in taken {
                        if failed.contains(&format!("{i}-{count}")) {
                            if count >= zaaklink::deliver::sqs::MAX_RECEIVE_COUNT * 20 {
                                dead.fetch_add(1, Ordering::SeqCst);
                            } else {
                                q.push_back((i, e, count + 1));
                            }
                        }
                    }
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
    while let Some(w) = workers.join_next().await {
        w.unwrap();
    }

    let expected: HashSet<(String, String)> = finals
        .values()
        .flatten()
        .map(|l| (oz.zaak_url(&l.zaak), l.link_to.clone()))
        .collect();
    let mut present: HashMap<(String, String), usize> = HashMap::new();
    for o in oz.objects() {
        *present.entry((o.zaak, o.object)).or_default() += 1;
    }
    let missing = expected.iter().filter(|k| !present.contains_key(*k)).count();
    let duplicated: usize = present.values().map(|n| n - 1).sum();
    let stale = present.keys().filter(|k| !expected.contains(*k)).count();
    json!({
        "events_from_queue": events.len(),
        "deliver_receives": receives.load(Ordering::SeqCst),
        "posts": oz.posts().len(),
        "relations_expected": expected.len(),
        "present": present.values().sum::<usize>(),
        "missing": missing,
        "duplicated": duplicated,
        "stale_resurrections": stale,
        "parked": parking.0.load(Ordering::SeqCst),
        "dead_lettered": dead.load(Ordering::SeqCst),
        "silently_dropped_by_open_zaak": oz.dropped().len(),
    })
}
