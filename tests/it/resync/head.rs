//! The head poll (DESIGN §7a) against the fake Open Klant over HTTP: one list request a poll;
//! new objects reconciled through the pipeline; an object committed late (a lower position,
//! appearing after higher ones were seen) is not missed; a count that drops makes a pass due
//! until one has started; more new objects than a page fall back to a pass; the Lambda's
//! `head` job runs the pass it asks for in the same invocation; `zaaklink serve` polls on its
//! own timer.

use std::time::Duration;

use serde_json::json;

use super::*;
use zaaklink::resync::head::Why;
use zaaklink::resync::HeadPoll;

struct Head {
    ok: FakeOpenKlant,
    store: Arc<MemoryStore>,
    sink: Arc<MemorySink>,
    resync: Resync,
    head: HeadPoll,
}

async fn head_world(page_size: u32) -> Head {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let store = Arc::new(MemoryStore::default());
    let sink = Arc::new(MemorySink::default());
    let (app, _) = pipeline(&ok, store.clone(), sink.clone());
    let resync = Resync::new(&app, store.clone(), settings(2));
    let head = HeadPoll::new(&resync).page_size(page_size);
    Head {
        ok,
        store,
        sink,
        resync,
        head,
    }
}

impl Head {
    fn events(&self) -> Vec<(String, EventKind, String)> {
        let events: Vec<Value> = self
            .sink
            .take()
            .iter()
            .map(|e| serde_json::from_str(&e.json).unwrap())
            .collect();
        summary(&events)
    }

    /// The list requests since `from`.
    fn list_requests(&self, from: usize) -> Vec<String> {
        self.ok.requests()[from..]
            .iter()
            .filter(|r| r.contains("onderwerpobjecten?"))
            .cloned()
            .collect()
    }
}

/// Object `i` linking zaak `z`, as Open Klant serves it (its klantcontact put apart).
fn object_json(ok: &FakeOpenKlant, i: usize, z: usize) -> String {
    let s = objects(ok);
    json!({
        "uuid": id("oo", i), "url": s.oo_url(i),
        "klantcontact": {"uuid": id("kc", i), "url": s.kc_url(i)}, "wasKlantcontact": null,
        "onderwerpobjectidentificator": {"objectId": zaak(z), "codeObjecttype": "zaak",
            "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
    })
    .to_string()
}

fn gekoppeld(i: usize, z: usize) -> (String, EventKind, String) {
    (id("oo", i), EventKind::Gekoppeld, zaak(z))
}

/// Sorted as [`summary`] sorts.
fn sorted(mut v: Vec<(String, EventKind, String)>) -> Vec<(String, EventKind, String)> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn head_poll_does_not_miss_an_object_committed_late_below_seen_ones() {
    let w = head_world(3).await;
    put(&w.ok, 0, Some(0));
    put(&w.ok, 1, Some(1));

    // The first poll reconciles its page.
    let before = w.ok.requests().len();
    let r = w.head.poll().await.unwrap();
    assert_eq!((r.listed, r.count, r.new, r.pass_due), (2, 2, 2, false), "{r:?}");
    assert_eq!(w.events(), sorted(vec![gekoppeld(0, 0), gekoppeld(1, 1)]));
    let lists = w.list_requests(before);
    assert_eq!(lists.len(), 1, "one list request a poll: {lists:?}");
    assert!(
        lists[0].contains("page=1") && lists[0].contains("pageSize=3"),
        "{lists:?}"
    );

    // Object 2's insert takes its position (pk) and has not committed; object 3 is created
    // after it and commits at once. The poll sees 3 only.
    let late = w.ok.reserve();
    put_kc(&w.ok, 2, &[2]);
    put(&w.ok, 3, Some(3));
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.count, r.new, r.why.clone(), r.pass_due),
        (3, 1, None, false),
        "{r:?}"
    );
    assert_eq!(w.events(), vec![gekoppeld(3, 3)]);

    // Object 2 commits: it lists BELOW object 3, which was already seen (a high-water mark
    // at object 3 would skip it).
    w.ok.commit_reserved(late, &object_json(&w.ok, 2, 2));
    let before = w.ok.requests().len();
    let page = w.resync_list_order().await;
    assert_eq!(
        page,
        vec![id("oo", 3), id("oo", 2), id("oo", 1)],
        "the late one lists below 3"
    );
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.count, r.new, r.why.clone(), r.pass_due),
        (4, 1, None, false),
        "{r:?}"
    );
    assert_eq!(w.events(), vec![gekoppeld(2, 2)], "the late commit is not missed");
    assert_eq!(w.list_requests(before).len(), 2, "the check above and the poll");

    // Nothing changed: one request, nothing written, no events.
    let before = w.ok.requests().len();
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.new, r.written, r.emitted, r.pass_due),
        (0, 0, 0, false),
        "{r:?}"
    );
    assert!(w.events().is_empty());
    assert_eq!(
        w.ok.requests().len() - before,
        1,
        "one Open Klant request when idle"
    );
    for i in 0..4 {
        assert!(w.store.get(&id("oo", i)).await.unwrap().unwrap().link.is_some());
    }
}

impl Head {
    /// The uuids of the first list page as Open Klant serves them now.
    async fn resync_list_order(&self) -> Vec<String> {
        let url = format!(
            "{}onderwerpobjecten?onderwerpobjectidentificatorCodeObjecttype=zaak&onderwerpobjectidentificatorCodeSoortObjectId=uuid&pageSize=3",
            self.ok.api_root()
        );
        let v: Value = reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("Token {TOKEN}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["uuid"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_count_that_drops_makes_a_pass_due_until_one_has_started() {
    let w = head_world(2).await;
    for i in 0..5 {
        put(&w.ok, i, Some(i));
    }
    assert_eq!(w.resync.full_pass().await.unwrap().stop, Stop::PassDone);
    assert_eq!(w.events().len(), 5);
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.new, r.emitted, r.pass_due),
        (2, 0, false),
        "the first poll: known already"
    );

    // Object 0 (the oldest, far below the head page) is deleted silently.
    w.ok.remove(&objects(&w.ok).oo_url(0));
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        r.why,
        Some(Why::Shrunk {
            expected: 5,
            count: 4
        }),
        "{r:?}"
    );
    assert!(r.pass_due);
    assert!(w.events().is_empty(), "the poll itself reads no further");
    // Until a pass has started, every poll says so (a Lambda cut short, a failed run).
    let r = w.head.poll().await.unwrap();
    assert_eq!((r.why.clone(), r.pass_due), (None, true), "{r:?}");

    // The pass it asks for (forced: the interval has not passed) finds the delete.
    let run = w.resync.run(None, true).await.unwrap();
    assert_eq!(run.stop, Stop::PassDone);
    assert_eq!(w.events(), vec![(id("oo", 0), EventKind::Ontkoppeld, zaak(0))]);
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.why, r.pass_due),
        (None, false),
        "a pass started after the drop"
    );
}

/// Issue 24: the count changes in two polls in a row, and the pass the first asked for has
/// started (and completed) in between, as `serve` and the Lambda start it at once. The second
/// change still gets its pass: the first request being met does not swallow it, and the count
/// baseline (moved on by the second poll) would never show it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_in_the_poll_after_a_pass_request_gets_a_pass_of_its_own() {
    for first in ["shrink", "overflow", "grow"] {
        let w = head_world(2).await;
        // Object 1 starts as a besluit link: not in the list.
        for i in 0..6 {
            put(&w.ok, i, (i != 1).then_some(i));
        }
        assert_eq!(w.resync.full_pass().await.unwrap().stop, Stop::PassDone);
        w.events();
        w.head.poll().await.unwrap();

        // Poll 1: a change the count shows.
        match first {
            // object 0, far below the head page, deleted silently
            "shrink" => w.ok.remove(&objects(&w.ok).oo_url(0)),
            // more creates than a page
            "overflow" => (6..9).for_each(|i| put(&w.ok, i, Some(i))),
            // old object 1 relinked onto a zaak: it arrives below the page
            _ => put(&w.ok, 1, Some(1)),
        }
        let r = w.head.poll().await.unwrap();
        assert!(
            r.why.is_some() && r.pass_due,
            "{first}: poll 1 asks for a pass: {r:?}"
        );
        // The pass it asks for starts at once and completes.
        assert_eq!(w.resync.run(None, true).await.unwrap().stop, Stop::PassDone);
        w.events();

        // Poll 2: object 2 (below the page) is deleted silently.
        w.ok.remove(&objects(&w.ok).oo_url(2));
        let r = w.head.poll().await.unwrap();
        assert!(
            matches!(r.why, Some(Why::Shrunk { .. })) && r.pass_due,
            "{first}, then shrink: poll 2 keeps a pass due: {r:?}"
        );
        let r = w.head.poll().await.unwrap();
        assert_eq!(
            (r.why.clone(), r.pass_due),
            (None, true),
            "{first}: until one starts: {r:?}"
        );
        assert_eq!(w.resync.run(None, true).await.unwrap().stop, Stop::PassDone);
        assert_eq!(
            w.events(),
            vec![(id("oo", 2), EventKind::Ontkoppeld, zaak(2))],
            "{first}: the second change's pass finds the delete"
        );
        let r = w.head.poll().await.unwrap();
        assert_eq!((r.why, r.pass_due), (None, false), "{first}: met");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn more_new_objects_than_a_page_fall_back_to_a_pass() {
    let w = head_world(2).await;
    put(&w.ok, 0, Some(0));
    w.head.poll().await.unwrap();
    assert_eq!(w.events(), vec![gekoppeld(0, 0)]);
    for i in 1..=4 {
        put(&w.ok, i, Some(i));
    }
    let r = w.head.poll().await.unwrap();
    assert_eq!(
        (r.new, r.why.clone(), r.pass_due),
        (2, Some(Why::Overflow), true),
        "{r:?}"
    );
    assert_eq!(
        w.events(),
        sorted(vec![gekoppeld(3, 3), gekoppeld(4, 4)]),
        "the page's are done at once"
    );
    w.resync.run(None, true).await.unwrap();
    assert_eq!(
        w.events(),
        sorted(vec![gekoppeld(1, 1), gekoppeld(2, 2)]),
        "the pass does the rest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_head_job_polls_and_runs_the_pass_it_asks_for() {
    let w = head_world(zaaklink::resync::head::HEAD_PAGE_SIZE).await;
    let (app, auth) = pipeline(&w.ok, w.store.clone(), w.sink.clone());
    let job = json!({"zaaklink": "head"});
    for i in 0..3 {
        put(&w.ok, i, Some(i));
    }
    let a = zaaklink::lambda::handle_with(&app, &auth, job.clone(), Some(&w.resync), None)
        .await
        .unwrap();
    assert_eq!(a["job"], "head");
    assert_eq!(a["poll"]["new"], 3, "{a}");
    assert!(a.get("resync").is_none(), "no pass asked for: {a}");
    assert_eq!(w.events().len(), 3);

    // A silent create is on the bus after the next poll.
    put(&w.ok, 3, Some(3));
    let a = zaaklink::lambda::handle_with(&app, &auth, job.clone(), Some(&w.resync), None)
        .await
        .unwrap();
    assert_eq!(a["poll"]["new"], 1, "{a}");
    assert_eq!(w.events(), vec![gekoppeld(3, 3)]);

    // A silent delete: the count drops, and the pass runs in the same invocation.
    w.ok.remove(&objects(&w.ok).oo_url(1));
    let a = zaaklink::lambda::handle_with(&app, &auth, job.clone(), Some(&w.resync), None)
        .await
        .unwrap();
    assert_eq!(a["poll"]["pass_due"], true, "{a}");
    assert_eq!(a["resync"]["stop"], "PassDone", "{a}");
    assert_eq!(w.events(), vec![(id("oo", 1), EventKind::Ontkoppeld, zaak(1))]);

    // The webhook function has no resync: a head event sent to it is refused by name.
    let e = zaaklink::lambda::handle_with(&app, &auth, job, None, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("head") && e.to_string().contains("resync function"),
        "{e}"
    );
}

/// Issue 24: on AWS one scheduled invocation a minute polls every `pollEvery` seconds (the
/// template's HeadPollEvery) for its window: a silent create made after the first poll is
/// found by a later poll of the same invocation. (Here every 2 s for 10 s.)
#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_head_job_polls_every_period_within_one_invocation() {
    let w = head_world(zaaklink::resync::head::HEAD_PAGE_SIZE).await;
    let (app, auth) = pipeline(&w.ok, w.store.clone(), w.sink.clone());
    put(&w.ok, 0, Some(0));
    let job = json!({"zaaklink": "head", "pollEvery": 2, "pollFor": 10});
    let before = w.ok.requests().len();
    let resync = w.resync.clone();
    let invocation =
        tokio::spawn(
            async move { zaaklink::lambda::handle_with(&app, &auth, job, Some(&resync), None).await },
        );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while w.list_requests(before).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // After the first poll: created silently.
    put(&w.ok, 1, Some(1));
    let a = invocation.await.unwrap().unwrap();
    let polls = a["polls"].as_array().expect("one answer per poll");
    assert!((2..=5).contains(&polls.len()), "{a}");
    assert_eq!(polls[0]["poll"]["new"], 1, "{a}");
    let later: u64 = polls[1..]
        .iter()
        .map(|p| p["poll"]["new"].as_u64().unwrap())
        .sum();
    assert_eq!(later, 1, "a later poll of the same invocation found it: {a}");
    assert_eq!(
        w.list_requests(before).len(),
        polls.len(),
        "one list request a poll"
    );
    assert_eq!(w.events(), sorted(vec![gekoppeld(0, 0), gekoppeld(1, 1)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn zaaklink_serve_polls_the_head_on_its_own() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (col, seen) = common::cli::collector().await;
    let port = common::cli::free_port();
    let mut child = common::cli::zaaklink_cli("serve", &dir.path().join("z.db"), &ok.api_root(), AUTH, TOKEN)
        .args([
            "--sink",
            &col,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--resync-every",
            "off",
            "--head-poll-every",
            "1s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Created silently after serve started: only the head poll can find it (no resync runs).
    put(&ok, 1, Some(0));
    let wait = |n: usize| {
        let seen = seen.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while seen.lock().unwrap().len() < n && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait(1).await;
    // Deleted silently: the count drops, the head poll wakes the resync task.
    ok.remove(&objects(&ok).oo_url(1));
    wait(2).await;
    let _ = child.kill();
    let _ = child.wait();
    let events = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        summary(&events),
        sorted(vec![
            (id("oo", 1), EventKind::Gekoppeld, zaak(0)),
            (id("oo", 1), EventKind::Ontkoppeld, zaak(0))
        ]),
        "the silent create and the silent delete reached the sink without a notification"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_gone_from_the_head_page_are_looked_up_within_the_poll() {
    let w = head_world(3).await;
    for i in 0..3 {
        put(&w.ok, i, Some(i));
    }
    w.head.poll().await.unwrap();
    assert_eq!(
        w.events(),
        sorted(vec![gekoppeld(0, 0), gekoppeld(1, 1), gekoppeld(2, 2)])
    );

    // Object 2 is deleted (as a klantcontact delete's cascade does, announced by nobody) and
    // object 1 is relinked to a besluit: both leave the head page.
    w.ok.remove(&objects(&w.ok).oo_url(2));
    put(&w.ok, 1, None);
    let r = w.head.poll().await.unwrap();
    assert_eq!((r.new, r.vanished), (0, 2), "{r:?}");
    assert_eq!(
        w.events(),
        sorted(vec![
            (id("oo", 1), EventKind::Ontkoppeld, zaak(1)),
            (id("oo", 2), EventKind::Ontkoppeld, zaak(2)),
        ]),
        "the poll itself emits both, before any pass"
    );
    assert!(r.pass_due, "the count dropped: a pass still looks below the page");

    // Object 0 pushed below the page by three creates is looked up and changes nothing.
    for i in 3..5 {
        put(&w.ok, i, Some(i));
    }
    w.head.poll().await.unwrap();
    assert_eq!(w.events(), sorted(vec![gekoppeld(3, 3), gekoppeld(4, 4)]));
    put(&w.ok, 5, Some(5));
    let r = w.head.poll().await.unwrap();
    assert_eq!((r.new, r.vanished), (1, 1), "{r:?}");
    assert_eq!(
        w.events(),
        vec![gekoppeld(5, 5)],
        "object 0 is still linked: nothing for it"
    );
}

/// Issue 24: `zaaklink serve` delivers a burst to Open Zaak side by side — different
/// onderwerpobjecten at once (at most `--deliver-concurrency`, 8 by default), each object's
/// events in order, each once, a refused one parked while the rest go on. The fake Open Zaak
/// answers every POST after 1 s and counts how many it is answering at once.
#[tokio::test(flavor = "multi_thread")]
async fn serve_delivers_a_burst_side_by_side_in_order_per_object() {
    const N: usize = 24;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    let secret = "een-geheim-van-minstens-32-tekens-lang!";
    let oz = zaaklink::fake_openzaak::FakeOpenZaak::start("zaaklink-burst", secret)
        .await
        .unwrap();
    // Long enough that the POSTs in flight overlap on a busy machine too.
    oz.set_delay(Some(Duration::from_secs(1)));
    // One POST of the burst is refused (400): that event is parked, the others go on.
    oz.fail_next(1, 400);
    let dir = tempfile::tempdir().unwrap();
    let port = common::cli::free_port();
    let log = dir.path().join("serve.log");
    let mut child = common::cli::zaaklink_cli("serve", &dir.path().join("z.db"), &ok.api_root(), AUTH, TOKEN)
        .args([
            "--sink",
            &format!("{}/events", oz.base),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--resync-every",
            "1s",
            "--resync-interval",
            "1s",
            "--head-poll-every",
            "1s",
        ])
        .env("OPEN_ZAAK_CLIENT_ID", "zaaklink-burst")
        .env("OPEN_ZAAK_SECRET", secret)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_applied = |n: usize| {
        let oz = &oz;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(180);
            while oz.applied().len() < n && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            oz.applied().len()
        }
    };
    // A burst of silent creates, all on zaak 0.
    for i in 0..N {
        put(&ok, i, Some(0));
    }
    let first = wait_applied(N - 1).await;
    assert_eq!(first, N - 1, "the burst (one parked) reached Open Zaak");
    let burst_at_once = oz.max_in_flight();
    // Every object relinked silently to zaak 1: the pass finds them all.
    for i in 0..N {
        put(&ok, i, Some(1));
    }
    let all = wait_applied(N - 1 + 2 * N).await;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(all, N - 1 + 2 * N, "every relink reached Open Zaak; log:\n{text}");

    // More than RESYNC_CONCURRENCY (4), which bounded it before; never more than 8, though
    // the head poll and the pass (each 8 at once) run side by side here.
    assert!(
        (5..=8).contains(&burst_at_once),
        "side by side, at most 8 at once: {burst_at_once} POSTs were answered at once"
    );
    assert!(oz.max_in_flight() <= 8, "{}", oz.max_in_flight());
    // Once: every event POSTed once (the refused one too: parked, not retried).
    let posts = oz.posts();
    let ids: std::collections::HashSet<&str> = posts
        .iter()
        .filter(|(s, _)| *s == 202)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(posts.len(), 3 * N, "{posts:?}");
    assert_eq!(posts.iter().filter(|(s, _)| *s == 400).count(), 1, "{posts:?}");
    assert_eq!(
        ids.len(),
        3 * N - 1,
        "no event twice (the 400 answer names no id)"
    );
    assert!(text.contains("parked"), "the refused event is parked: {text}");
    // In order per object: gekoppeld on zaak 0, then ontkoppeld from it, then gekoppeld on 1
    // (the parked object lacks only its first).
    let (a, b) = (oz.zaak_url(&zaak(0)), oz.zaak_url(&zaak(1)));
    let gek = "nl.overheid.zaken.zaak-gekoppeld";
    let ont = "nl.overheid.zaken.zaak-ontkoppeld";
    let short = |(t, _, z): &(String, String, String)| {
        let kind = if t == gek {
            "gekoppeld"
        } else if t == ont {
            "ontkoppeld"
        } else {
            "?"
        };
        (
            kind,
            if *z == a {
                "a"
            } else if *z == b {
                "b"
            } else {
                "?"
            },
        )
    };
    let full = [("gekoppeld", "a"), ("ontkoppeld", "a"), ("gekoppeld", "b")];
    let applied = oz.applied();
    let mut parked = 0;
    for i in 0..N {
        let url = objects(&ok).oo_url(i);
        let seen: Vec<(&str, &str)> = applied.iter().filter(|e| e.1 == url).map(short).collect();
        if seen == full[1..] {
            parked += 1;
        } else {
            assert_eq!(seen, full, "object {i}: in order");
        }
    }
    assert_eq!(parked, 1, "one object's first event was parked");
    let objects_now = oz.objects();
    assert_eq!(objects_now.len(), N, "{objects_now:?}");
    assert!(objects_now.iter().all(|o| o.zaak == b));
}
