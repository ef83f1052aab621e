//! The `deliver` path against a fake Open Zaak served on 127.0.0.1.
//!
//! Body contract: the CloudEvent is the EventBridge event's `detail`; zaaklink POSTs it
//! re-serialised compactly with `serde_json` (`serde_json::to_vec(&detail)`, key order kept
//! by the `preserve_order` feature). The tests assert the body bytes equal exactly that.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use zaaklink::deliver::jwt::verify_hs256;
use zaaklink::deliver::{
    DeliverError, Deliverer, DeliveryLog, MemoryDeliveryLog, OpenZaakCredentials, Outcome, ZgwClaims,
    CLOUDEVENTS_CONTENT_TYPE,
};

const CLIENT_ID: &str = "zaaklink-test";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";
const ANSWER_BODY: &str = r#"{"detail":"accepted"}"#;
/// The fixture has no `sequence` (as events from before the upgrade): it is delivered once
/// per id, under this key.
const LEGACY_KEY: &str = "event:f347fd1f-dac1-4870-9dd0-f6c00edf4bf7";

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct FakeState {
    requests: Mutex<Vec<Recorded>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

/// A fake Open Zaak: records every request, answers `status` after `delay_ms`.
struct FakeOpenZaak {
    root: String,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeOpenZaak {
    async fn start(status: u16) -> Self {
        let state = Arc::new(FakeState::default());
        state.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/events", post(record))
            .fallback(record_other)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeOpenZaak {
            root: format!("http://{addr}"),
            state,
            task,
        }
    }
    fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }
    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeOpenZaak {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    state.requests.lock().unwrap().push(Recorded {
        path: "/events".into(),
        headers,
        body,
    });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    let body = if status.is_success() {
        ANSWER_BODY.to_owned()
    } else {
        format!(r#"{{"status":{},"detail":"nope"}}"#, status.as_u16())
    };
    (status, body)
}

async fn record_other(
    State(state): State<Arc<FakeState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    StatusCode::NOT_FOUND
}

fn fixture_cloudevent() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cloudevent-zaak-gekoppeld.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The EventBridge event as the rule hands it to the Lambda (JSON, as on the wire).
fn eventbridge_event(cloudevent: &Value) -> EventBridgeEvent<Value> {
    let envelope = serde_json::json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": cloudevent["type"],
        "source": cloudevent["source"],
        "account": "111122223333",
        "time": "2025-10-10T00:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": cloudevent,
    });
    serde_json::from_value(envelope).unwrap()
}

fn credentials() -> OpenZaakCredentials {
    OpenZaakCredentials::new(CLIENT_ID, SECRET)
}

fn deliverer(root: &str) -> Deliverer<MemoryDeliveryLog> {
    Deliverer::new(
        root,
        credentials(),
        MemoryDeliveryLog::new(),
        Duration::from_secs(5),
    )
    .unwrap()
    // the wire shape of the POST alone: this recording server has no zaakobjecten (the
    // read checks are tested against the fake Open Zaak, tests/deliver_order.rs)
    .with_zaken_api_read(false)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn assert_valid_jwt(headers: &HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .expect("Authorization header")
        .to_str()
        .unwrap();
    let token = auth.strip_prefix("Bearer ").expect("Bearer scheme");
    // HS256 (the verifier refuses any other `alg`), signed with the Applicatie secret
    let claims: ZgwClaims =
        verify_hs256(token, SECRET.as_bytes()).expect("JWT signed with the Applicatie secret");
    assert_eq!(claims.iss, CLIENT_ID);
    assert_eq!(claims.client_id, CLIENT_ID);
    // who acts, for Open Zaak's audit trail (the defaults)
    assert_eq!(claims.user_id, "zaaklink");
    assert_eq!(claims.user_representation, "zaaklink (Open Klant koppelingen)");
    let n = now();
    assert!(
        claims.iat <= n + 2 && claims.iat + 10 >= n,
        "iat {} is not close to now {n}",
        claims.iat
    );
    token.to_owned()
}

#[tokio::test]
async fn posts_the_cloudevent_structured_with_exact_content_type_and_fresh_jwt() {
    let oz = FakeOpenZaak::start(202).await;
    let cloudevent = fixture_cloudevent();
    let event = eventbridge_event(&cloudevent);
    // A root with a trailing slash still posts to /events.
    let d = deliverer(&format!("{}/", oz.root));

    let outcome = d.deliver_eventbridge(&event).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 202,
            body: ANSWER_BODY.into()
        }
    );

    let reqs = oz.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.path, "/events");
    let content_types: Vec<_> = req.headers.get_all("content-type").iter().collect();
    assert_eq!(content_types.len(), 1);
    assert_eq!(content_types[0].as_bytes(), CLOUDEVENTS_CONTENT_TYPE.as_bytes());
    assert_eq!(content_types[0], "application/cloudevents+json");
    assert_valid_jwt(&req.headers);

    // Body: the detail re-serialised compactly, byte for byte.
    assert_eq!(req.body.as_ref(), serde_json::to_vec(&event.detail).unwrap());
    assert_eq!(req.body.as_ref(), serde_json::to_vec(&cloudevent).unwrap());
    let parsed: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(parsed, cloudevent);
    // Key order is the fixture's (preserve_order): specversion first, data last.
    let text = std::str::from_utf8(&req.body).unwrap();
    assert!(text.starts_with(r#"{"specversion":"1.0","type":"nl.overheid.zaken.zaak-gekoppeld""#));

    assert_eq!(d.log().state(LEGACY_KEY).await.unwrap().applied, 1);
}

#[tokio::test]
async fn each_request_gets_its_own_jwt_and_root_without_slash_works() {
    let oz = FakeOpenZaak::start(202).await;
    let d = deliverer(&oz.root);
    let mut a = fixture_cloudevent();
    let mut b = fixture_cloudevent();
    a["id"] = "00000000-0000-0000-0000-00000000000a".into();
    b["id"] = "00000000-0000-0000-0000-00000000000b".into();
    d.deliver(&a).await.unwrap();
    d.deliver(&b).await.unwrap();
    let reqs = oz.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.path == "/events"));
    for r in &reqs {
        assert_valid_jwt(&r.headers);
    }
}

#[tokio::test]
async fn a_repeated_event_id_is_posted_exactly_once() {
    let oz = FakeOpenZaak::start(202).await;
    let cloudevent = fixture_cloudevent();
    let event = eventbridge_event(&cloudevent);
    let d = deliverer(&oz.root);

    assert!(matches!(
        d.deliver_eventbridge(&event).await.unwrap(),
        Outcome::Delivered { status: 202, .. }
    ));
    // The same CloudEvent again, e.g. put twice by the outbox (a new EventBridge id).
    let mut again = eventbridge_event(&cloudevent);
    again.id = Some("another-eventbridge-id".into());
    assert_eq!(
        d.deliver_eventbridge(&again).await.unwrap(),
        Outcome::AlreadyDelivered
    );
    assert_eq!(
        d.deliver_eventbridge(&event).await.unwrap(),
        Outcome::AlreadyDelivered
    );
    assert_eq!(oz.requests().len(), 1);
}

async fn rejected_then_retried(status: u16) {
    let oz = FakeOpenZaak::start(status).await;
    let cloudevent = fixture_cloudevent();
    let event = eventbridge_event(&cloudevent);
    let d = deliverer(&oz.root);

    let err = d.deliver_eventbridge(&event).await.unwrap_err();
    match &err {
        DeliverError::Rejected {
            status: s,
            body,
            event_id,
        } => {
            assert_eq!(*s, status);
            assert!(body.contains("nope"), "{body}");
            assert_eq!(event_id, "f347fd1f-dac1-4870-9dd0-f6c00edf4bf7");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&status.to_string()), "{message}");
    assert!(message.contains("nope"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    let token = assert_valid_jwt(&oz.requests()[0].headers);
    assert!(!message.contains(&token), "{message}");

    // Not applied and the claim released: the retry POSTs again and succeeds.
    let state = d.log().state(LEGACY_KEY).await.unwrap();
    assert_eq!(state.applied, 0);
    assert!(state.claim_owner.is_none());
    oz.set_status(202);
    assert!(matches!(
        d.deliver_eventbridge(&event).await.unwrap(),
        Outcome::Delivered { status: 202, .. }
    ));
    assert_eq!(oz.requests().len(), 2);
    assert_eq!(oz.requests()[0].body, oz.requests()[1].body);
}

#[tokio::test]
async fn status_408_and_429_are_retried() {
    rejected_then_retried(408).await;
    rejected_then_retried(429).await;
}

/// Any other 4xx is a configuration error: parked at once with Open Zaak's answer, applied
/// moves past it, and a repeat is not POSTed again.
#[tokio::test]
async fn status_400_403_415_park_at_once() {
    for status in [400u16, 403, 415] {
        let oz = FakeOpenZaak::start(status).await;
        let d = deliverer(&oz.root);
        let event = eventbridge_event(&fixture_cloudevent());
        match d.deliver_eventbridge(&event).await.unwrap() {
            Outcome::Parked { reason } => {
                assert!(
                    reason.contains(&status.to_string()) && reason.contains("nope"),
                    "{reason}"
                );
                assert!(!reason.contains(SECRET));
            }
            other => panic!("{status}: expected Parked, got {other:?}"),
        }
        let state = d.log().state(LEGACY_KEY).await.unwrap();
        assert_eq!((state.applied, state.parked_seq), (1, Some(1)));
        assert_eq!(oz.requests().len(), 1);
    }
}

#[tokio::test]
async fn status_500_is_retried_and_a_retry_delivers() {
    rejected_then_retried(500).await;
}

#[tokio::test]
async fn a_slow_open_zaak_times_out() {
    let oz = FakeOpenZaak::start(202).await;
    oz.state.delay_ms.store(3_000, Ordering::SeqCst);
    let d = Deliverer::new(
        &oz.root,
        credentials(),
        MemoryDeliveryLog::new(),
        Duration::from_millis(300),
    )
    .unwrap()
    .with_zaken_api_read(false);
    let err = d.deliver(&fixture_cloudevent()).await.unwrap_err();
    assert!(
        matches!(&err, DeliverError::Request { reason, .. } if reason == "timed out"),
        "{err:?}"
    );
    assert_eq!(d.log().state(LEGACY_KEY).await.unwrap().applied, 0);
}

#[tokio::test]
async fn open_zaak_unreachable_is_an_error() {
    // Bind and drop a listener: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = deliverer(&format!("http://127.0.0.1:{port}"));
    let err = d.deliver(&fixture_cloudevent()).await.unwrap_err();
    assert!(matches!(err, DeliverError::Request { .. }), "{err:?}");
}

#[tokio::test]
async fn a_detail_that_is_no_cloudevent_is_refused_without_a_request() {
    let oz = FakeOpenZaak::start(202).await;
    let d = deliverer(&oz.root);
    for bad in [
        serde_json::json!("text"),
        serde_json::json!({"specversion": "1.0"}),
        serde_json::json!({"id": "", "specversion": "1.0"}),
        serde_json::json!({"id": "x"}),
    ] {
        let err = d.deliver(&bad).await.unwrap_err();
        assert!(matches!(err, DeliverError::NotACloudEvent(_)), "{err:?}");
    }
    assert!(oz.requests().is_empty());
}

#[tokio::test]
async fn a_default_built_eventbridge_event_works_too() {
    let oz = FakeOpenZaak::start(202).await;
    let cloudevent = fixture_cloudevent();
    let mut event: EventBridgeEvent<Value> = EventBridgeEvent::default();
    event.detail_type = "nl.overheid.zaken.zaak-gekoppeld".into();
    event.source = "urn:nld:oin:01823288444:openklant".into();
    event.detail = cloudevent.clone();
    let d = deliverer(&oz.root);
    d.deliver_eventbridge(&event).await.unwrap();
    assert_eq!(
        oz.requests()[0].body.as_ref(),
        serde_json::to_vec(&cloudevent).unwrap()
    );
}
