//! The pass period follows what zaaklink hears (issue 25 item 5, DESIGN §7a): as the Lambda
//! shape runs it — the webhook notes Open Klant's own CloudEvents in the links store, a
//! scheduled resync run in another process (here: another pipeline on the same store) reads
//! the note and backs off to `RESYNC_BACKSTOP_INTERVAL`; without the note, or with the
//! backstop off, it keeps `RESYNC_INTERVAL`. The rule itself is unit-tested in
//! `resync::period`; `zaaklink serve` in tests/serve.rs.

use std::time::Duration;

use super::serial::{hint, post_ce};
use super::*;

/// A klantcontact notification Open Notificaties turned into a CloudEvent (not Open Klant's
/// own emitter): it does not count as heard.
fn transformed(ok: &FakeOpenKlant, i: usize) -> String {
    let kc = objects(ok).id("kc", i);
    serde_json::json!({
        "specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(),
        "type": "nl.overheid.klantcontacten.klantcontact.update",
        "source": "urn:nld:oin:01823288444:openklant", "subject": kc,
        "datacontenttype": "application/json",
        "data": {"hoofdObject": objects(ok).kc_url(i), "indicatieContactGelukt": "True"}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pass_backs_off_while_open_klants_cloudevents_arrive() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    put(&ok, 0, Some(0));
    let store = Arc::new(MemoryStore::default());
    let (webhook_app, auth) = pipeline(&ok, store.clone(), Arc::new(MemorySink::default()));
    let (resync_app, _) = pipeline(&ok, store.clone(), Arc::new(MemorySink::default()));
    let auto = |backstop| {
        Resync::new(
            &resync_app,
            store.clone(),
            ResyncSettings {
                interval: Duration::ZERO,
                backstop,
                ..settings(10)
            },
        )
    };
    let resync = auto(Some(Duration::from_secs(3600)));
    // Nothing heard: a new pass at every run (RESYNC_INTERVAL 0 here).
    for _ in 0..2 {
        assert_eq!(resync.run(None, false).await.unwrap().stop, Stop::PassDone);
    }
    // A transformed notification is no sign of Open Klant's emitter.
    assert_eq!(post_ce(&webhook_app, &auth, &transformed(&ok, 0)).await.0, 204);
    assert_eq!(resync.run(None, false).await.unwrap().stop, Stop::PassDone);
    assert_eq!(webhook_app.cloudevent_heard().await.unwrap(), None);

    // Open Klant's own zaak-gekoppeld: heard; the next run waits an hour after the last start.
    assert_eq!(
        post_ce(&webhook_app, &auth, &hint(&ok, 0, "gekoppeld")).await.0,
        204
    );
    let heard = resync_app.cloudevent_heard().await.unwrap().expect("noted");
    let r = resync.run(None, false).await.unwrap();
    let Stop::Idle { next } = &r.stop else {
        panic!("backed off: {r:?}")
    };
    let next: chrono::DateTime<chrono::Utc> = next.parse().unwrap();
    let wait = next - heard;
    assert!(
        wait > chrono::Duration::minutes(59) && wait <= chrono::Duration::minutes(61),
        "a pass an hour after the last: {next} (heard {heard})"
    );
    // Forced by the operator: the backstop off keeps the short period, heard or not; the
    // head poll's forced pass still runs.
    assert_eq!(auto(None).run(None, false).await.unwrap().stop, Stop::PassDone);
    assert_eq!(resync.run(None, true).await.unwrap().stop, Stop::PassDone);
}

/// The `fields` of serve's JSON log lines with this message.
fn lines(log: &std::path::Path, message: &str) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        })
        .map(|v| v["fields"].clone())
        .collect()
}

/// Wait (generous deadline) until `f` holds for the log.
async fn until_log(log: &std::path::Path, what: &str, f: impl Fn(&std::path::Path) -> bool) {
    let until = std::time::Instant::now() + crate::common::ready_within();
    while !f(log) {
        assert!(
            std::time::Instant::now() < until,
            "{what}:\n{}",
            std::fs::read_to_string(log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn zaaklink_serve_backs_the_pass_off_once_open_klants_cloudevents_arrive() {
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    put(&ok, 0, Some(0));
    let (col, _) = crate::common::cli::collector().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, log) = super::serial::serve(
        &ok,
        dir.path(),
        &col,
        &["--resync-every", "1s", "--head-poll-every", "off"],
        &[("RESYNC_INTERVAL", "1s"), ("RESYNC_BACKSTOP_INTERVAL", "1h")],
    );
    let passes = |log: &std::path::Path| {
        lines(log, "resync run done")
            .iter()
            .filter(|f| f["stop"] == "PassDone")
            .count()
    };
    // Nothing heard: a pass every second.
    until_log(&log, "serve ran no passes", |l| passes(l) >= 2).await;
    let period = lines(&log, "resync pass period");
    assert_eq!(period[0]["why"], "NotHeard", "{period:?}");

    assert_eq!(
        super::serial::post_ce_to(&url, super::serial::hint(&ok, 0, "gekoppeld")).await,
        204
    );
    // Heard: the period is the backstop's, and every run after that finds nothing to do.
    until_log(&log, "the period never changed", |l| {
        lines(l, "resync pass period").iter().any(|f| f["why"] == "Heard")
    })
    .await;
    let done_before = passes(&log);
    let at = |l: &std::path::Path| {
        let text = std::fs::read_to_string(l).unwrap();
        let from = text.find("\"why\":\"Heard\"").unwrap();
        text[from..].matches("resync run done").count()
    };
    until_log(&log, "serve ran no more runs", |l| at(l) >= 3).await;
    let _ = child.kill();
    let _ = child.wait();
    let runs = lines(&log, "resync run done");
    let after: Vec<&Value> = runs[runs.len() - 3..].iter().collect();
    assert!(
        after
            .iter()
            .all(|f| f["stop"].as_str().unwrap().starts_with("Idle")),
        "backed off: {after:?}"
    );
    assert_eq!(
        passes(&log),
        done_before,
        "no more passes after the period changed"
    );
    assert_eq!(
        lines(&log, "resync pass period").last().unwrap()["period_s"],
        3600
    );
}
