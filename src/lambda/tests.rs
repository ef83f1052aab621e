use super::*;
use std::sync::Arc;

use base64::Engine;

use crate::demo::samples;
use crate::fake_openklant::FakeOpenKlant;
use crate::openklant::HttpOpenKlant;
use crate::sink::MemorySink;
use crate::store::memory::MemoryStore;
use crate::store::LinkStore;
use crate::webhook::{self, WebhookAuth};

const AUTH: &str = "Token demo-webhook-secret";

async fn setup() -> (
    FakeOpenKlant,
    Zaaklink,
    Arc<MemorySink>,
    Arc<MemoryStore>,
    WebhookAuth,
) {
    let ok = FakeOpenKlant::start("t").await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let cfg = crate::config::CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: "urn:x".into(),
        webhook_auth: Some(AUTH.into()),
        open_klant_api_root: Some(ok.api_root()),
        open_klant_api_token: Some("t".into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "2000".into(),
    }
    .validate()
    .unwrap();
    let sink = Arc::new(MemorySink::default());
    let store = Arc::new(MemoryStore::default());
    let app = Zaaklink {
        klant: Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            cfg.open_klant_timeout,
        )),
        store: store.clone(),
        sink: sink.clone(),
        settings: cfg.settings,
    };
    (ok, app, sink, store, cfg.webhook_auth)
}

fn sample(ok: &FakeOpenKlant, path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/events/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&ok.rewrite(&text)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn function_url_samples_get_the_webhook_status_codes() {
    let (ok, app, sink, store, auth) = setup().await;
    let cases = [
        ("function-url/unauthenticated.json", 401),
        ("function-url/missing-authorization.json", 401),
        ("function-url/malformed.json", 400),
        ("function-url/not-json.json", 400),
        ("function-url/method-not-allowed.json", 405),
        ("function-url/ignored-other-kanaal.json", 204),
    ];
    for (file, status) in cases {
        let resp = handle(&app, &auth, sample(&ok, file)).await.unwrap();
        assert_eq!(resp["statusCode"], status, "{file}: {resp}");
        if status != 204 {
            assert_eq!(
                resp["headers"]["content-type"], "application/problem+json",
                "{file}"
            );
        }
    }
    assert!(sink.take().is_empty());
    assert!(store.with_pending().await.unwrap().is_empty());
    assert_eq!(
        store.get("5fee9673-216c-41e7-91d2-69a8d1526b9f").await.unwrap(),
        None
    );

    let resp = handle(&app, &auth, sample(&ok, "function-url/link-created.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204);
    assert_eq!(sink.take().len(), 1);
    let resp = handle(&app, &auth, sample(&ok, "function-url/duplicate-delivery.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204);
    assert!(sink.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_api_v1_and_base64_bodies() {
    let (ok, app, sink, _, auth) = setup().await;
    let resp = handle(&app, &auth, sample(&ok, "apigw-rest/link-created.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert_eq!(sink.take().len(), 1);
    let mut ev = sample(&ok, "function-url/relinked.json");
    ok.put(samples::ZAAK_B);
    let body = ev["body"].as_str().unwrap().to_string();
    ev["body"] = base64::engine::general_purpose::STANDARD.encode(body).into();
    ev["isBase64Encoded"] = true.into();
    let resp = handle(&app, &auth, ev).await.unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert_eq!(sink.take().len(), 2);
}

/// The CloudEvent samples through the handler: the content type is read from the
/// Function URL's (lower-case) and the REST API's (any case) headers, base64 or not.
#[tokio::test(flavor = "multi_thread")]
async fn cloudevent_samples_by_content_type() {
    let (ok, app, sink, store, auth) = setup().await;
    let refused = [
        ("function-url/ce-hostile-linkto-outside-root.json", 400),
        ("function-url/ce-batch.json", 415),
        ("function-url/ce-ignored-other-type.json", 204),
    ];
    for (file, status) in refused {
        let resp = handle(&app, &auth, sample(&ok, file)).await.unwrap();
        assert_eq!(resp["statusCode"], status, "{file}: {resp}");
    }
    assert!(ok.requests().is_empty(), "{:?}", ok.requests());
    assert!(sink.take().is_empty());
    assert_eq!(
        store.get("5fee9673-216c-41e7-91d2-69a8d1526b9f").await.unwrap(),
        None
    );

    let resp = handle(&app, &auth, sample(&ok, "function-url/ce-zaak-gekoppeld.json"))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert_eq!(sink.take().len(), 1);
    // the transformed klantcontact create, as a REST API request, base64: nothing new
    let mut ev = sample(&ok, "apigw-rest/link-created.json");
    let body = sample(&ok, "function-url/ce-klantcontact-create.json")["body"].clone();
    ev["headers"]["Content-Type"] = "application/cloudevents+json; charset=utf-8".into();
    ev["multiValueHeaders"]["Content-Type"] =
        serde_json::json!(["application/cloudevents+json; charset=utf-8"]);
    ev["body"] = base64::engine::general_purpose::STANDARD
        .encode(body.as_str().unwrap())
        .into();
    ev["isBase64Encoded"] = true.into();
    let resp = handle(&app, &auth, ev.clone()).await.unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert!(sink.take().is_empty());
    // declared application/json, it is still read as a CloudEvent (a specversion, no kanaal)
    ev["headers"]["Content-Type"] = "application/json".into();
    ev["multiValueHeaders"]["Content-Type"] = serde_json::json!(["application/json"]);
    let resp = handle(&app, &auth, ev.clone()).await.unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    // the REST API's mixed-case header is read: a batch is refused
    ev["headers"]["Content-Type"] = "Application/CloudEvents-Batch+JSON".into();
    ev["multiValueHeaders"]["Content-Type"] = serde_json::json!(["Application/CloudEvents-Batch+JSON"]);
    let resp = handle(&app, &auth, ev).await.unwrap();
    assert_eq!(resp["statusCode"], 415, "{resp}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_413() {
    let (ok, app, _, _, auth) = setup().await;
    let mut ev = sample(&ok, "function-url/link-created.json");
    ev["body"] = "x".repeat(webhook::MAX_BODY_BYTES + 1).into();
    let resp = handle(&app, &auth, ev).await.unwrap();
    assert_eq!(resp["statusCode"], 413);
}

/// A notification padded to `decoded` bytes of JSON.
fn padded(ev: &Value, decoded: usize) -> String {
    let mut n: Value = serde_json::from_str(ev["body"].as_str().unwrap()).unwrap();
    n["kenmerken"]["opvulling"] = "".into();
    let base = n.to_string().len();
    n["kenmerken"]["opvulling"] = "x".repeat(decoded - base).into();
    let text = n.to_string();
    assert_eq!(text.len(), decoded);
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limit_is_on_the_decoded_body() {
    let (ok, app, sink, _, auth) = setup().await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ev = sample(&ok, "function-url/link-created.json");
    let encoded = |decoded: usize| {
        let mut e = ev.clone();
        e["body"] = b64(&padded(&ev, decoded)).into();
        e["isBase64Encoded"] = true.into();
        e
    };
    // 50 KiB decoded is about 67 KiB encoded: accepted and handled
    let e = encoded(50 * 1024);
    assert!(e["body"].as_str().unwrap().len() > webhook::MAX_BODY_BYTES);
    let resp = handle(&app, &auth, e).await.unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    assert_eq!(sink.take().len(), 1);
    // exactly 64 KiB decoded: accepted (nothing changed: duplicate)
    let resp = handle(&app, &auth, encoded(webhook::MAX_BODY_BYTES))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 204, "{resp}");
    // one byte more, decoded: 413, nothing done
    ok.put(samples::ZAAK_B);
    let resp = handle(&app, &auth, encoded(webhook::MAX_BODY_BYTES + 1))
        .await
        .unwrap();
    assert_eq!(resp["statusCode"], 413, "{resp}");
    assert!(sink.take().is_empty());
    // far over, encoded: 413 before decoding (and also when it is not valid base64)
    let mut e = ev.clone();
    e["body"] = "!".repeat(webhook::MAX_BODY_BYTES * 2).into();
    e["isBase64Encoded"] = true.into();
    let resp = handle(&app, &auth, e).await.unwrap();
    assert_eq!(resp["statusCode"], 413, "{resp}");
    // not base64: the limit is on the body as it is
    let mut e = ev.clone();
    e["body"] = padded(&ev, webhook::MAX_BODY_BYTES + 1).into();
    let resp = handle(&app, &auth, e).await.unwrap();
    assert_eq!(resp["statusCode"], 413, "{resp}");
}

#[test]
fn scheduled_events_are_recognised() {
    let sweep: Value = serde_json::from_str(include_str!("../../events/schedule/sweep.json")).unwrap();
    assert!(matches!(recognise(sweep), Ok(Incoming::Scheduled(Job::Sweep))));
    let resync: Value = serde_json::from_str(include_str!("../../events/schedule/resync.json")).unwrap();
    assert!(matches!(recognise(resync), Ok(Incoming::Scheduled(Job::Resync))));
    assert!(matches!(
        recognise(serde_json::json!({"zaaklink": "resync"})),
        Ok(Incoming::Scheduled(Job::Resync))
    ));
    let head: Value = serde_json::from_str(include_str!("../../events/schedule/head.json")).unwrap();
    assert!(matches!(recognise(head), Ok(Incoming::Scheduled(Job::Head))));
    assert!(matches!(
        recognise(serde_json::json!({"zaaklink": "head"})),
        Ok(Incoming::Scheduled(Job::Head))
    ));
    assert!(recognise(serde_json::json!({"zaaklink": "drop-table"})).is_err());
    assert!(recognise(serde_json::json!({"hello": 1})).is_err());
    let audit: Value = serde_json::from_str(include_str!("../../events/schedule/audit.json")).unwrap();
    assert!(is_audit(&audit) && is_audit(&serde_json::json!({"zaaklink": "audit"})));
    assert!(!is_audit(&serde_json::json!({"zaaklink": "resync"})));
    let tick = serde_json::json!({"zaaklink": "audit", "continue": true});
    assert!(is_audit(&tick) && super::is_continuation(&tick) && !super::is_continuation(&audit));
}

#[tokio::test]
async fn an_audit_without_open_zaak_is_refused_naming_the_fix() {
    let (_ok, app, _sink, _store, auth) = setup().await;
    let e = handle(&app, &auth, serde_json::json!({"zaaklink": "audit"}))
        .await
        .unwrap_err();
    assert!(matches!(e, LambdaError::NoAudit), "{e}");
    let e = audit_job(&app, None, None, true).await.unwrap_err();
    assert!(e.to_string().contains("OPEN_ZAAK_ROOT"), "{e}");
    let sdk = aws_config::SdkConfig::builder().build();
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    };
    assert!(crate::aws::AuditJob::from_lookup(&sdk, env(&[]))
        .unwrap()
        .is_none());
    let e = crate::aws::AuditJob::from_lookup(&sdk, env(&[("OPEN_ZAAK_ROOT", "https://oz.example")]))
        .err()
        .unwrap();
    assert_eq!(e.setting, "OPEN_ZAAK_CREDENTIALS_SECRET_ID");
    let e = crate::aws::AuditJob::from_lookup(
        &sdk,
        env(&[
            ("OPEN_ZAAK_ROOT", "http://oz.example"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "s"),
        ]),
    )
    .err()
    .unwrap();
    assert_eq!(e.setting, "OPEN_ZAAK_ROOT");
    let e = crate::aws::AuditJob::from_lookup(
        &sdk,
        env(&[
            ("OPEN_ZAAK_ROOT", "https://oz.example"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "s"),
            ("ZAAKLINK_AUDIT_REPAIR", "ja"),
        ]),
    )
    .err()
    .unwrap();
    assert_eq!(e.setting, "ZAAKLINK_AUDIT_REPAIR");
    assert!(crate::aws::AuditJob::from_lookup(
        &sdk,
        env(&[
            ("OPEN_ZAAK_ROOT", "https://oz.example"),
            ("OPEN_ZAAK_CREDENTIALS_SECRET_ID", "s")
        ]),
    )
    .unwrap()
    .is_some());
}

#[test]
fn the_head_job_polls_every_period_for_the_minute() {
    let secs = |v: &[u64]| {
        v.iter()
            .map(|s| std::time::Duration::from_secs(*s))
            .collect::<Vec<_>>()
    };
    // (schedule Input, poll moments in seconds from the invocation's start)
    let cases: Vec<(Value, Vec<u64>)> = vec![
        (serde_json::json!({"zaaklink": "head"}), vec![0]),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": 15}),
            vec![0, 15, 30, 45],
        ),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": "20"}),
            vec![0, 20, 40],
        ),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": 7}),
            vec![0, 7, 14, 21, 28, 35, 42, 49, 56],
        ),
        (serde_json::json!({"zaaklink": "head", "pollEvery": 60}), vec![0]),
        (serde_json::json!({"zaaklink": "head", "pollEvery": 0}), vec![0]),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": "soon"}),
            vec![0],
        ),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": 2, "pollFor": 10}),
            vec![0, 2, 4, 6, 8],
        ),
        (
            serde_json::json!({"zaaklink": "head", "pollEvery": 0.01, "pollFor": 3}),
            vec![0, 1, 2],
        ),
    ];
    for (event, want) in cases {
        assert_eq!(HeadPolls::of(&event).offsets(), secs(&want), "{event}");
    }
    // The template's Input (HeadPollEvery substituted) is still a head job.
    let input = serde_json::json!({"zaaklink": "head", "pollEvery": 15});
    assert!(matches!(recognise(input), Ok(Incoming::Scheduled(Job::Head))));
}
