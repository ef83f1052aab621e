//! The Lambda's event handling (DESIGN §6): Function URL / HTTP API (payload v2) and REST API
//! (payload v1) webhook requests answered with the webhook's status codes, and scheduled
//! events that run the outbox sweep (or, when asked, the resync). Parses, calls the core,
//! maps the answer; nothing else.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use serde_json::Value;

use crate::resync::{HeadPoll, Resync, Stop};
use crate::telemetry::{self, NotificationOutcome};
use crate::webhook::{self, Answer, WebhookAuth};
use crate::Zaaklink;

/// A scheduled job: `{"zaaklink": "sweep"|"resync"|"head"}` (the schedule's Input), or a
/// plain EventBridge "Scheduled Event" (sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Sweep,
    Resync,
    /// The head poll (DESIGN §7a), on the resync function: its state lives beside the
    /// checkpoint, and a pass it asks for runs in the same invocation.
    Head,
    /// The audit (DESIGN §9), on the resync function: Open Zaak against Open Klant, repaired
    /// through the outbox; metric `AuditDifferences`.
    Audit,
}

/// What arrived.
#[derive(Debug)]
pub enum Incoming {
    HttpV2(Box<ApiGatewayV2httpRequest>),
    HttpV1(Box<ApiGatewayProxyRequest>),
    Scheduled(Job),
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("unrecognised Lambda event: {0}; zaaklink accepts Function URL / API Gateway requests and scheduled events")]
    Unrecognised(String),
    /// The invocation's error (what the invoker and the console show): which side failed,
    /// never a table, bus, URL or SDK error — those are in the job's log line.
    #[error("scheduled {job:?} failed: {}; it runs again on the next schedule (the function's log line of this invocation has the details)", webhook::public_cause(.error))]
    Job { job: Job, error: crate::Error },
    #[error("a {0} event arrived but this function was built without the resync (its checkpoint store); invoke the resync function of the stack")]
    NoResync(&'static str),
    #[error("an audit event arrived but this function has no Open Zaak to read (OPEN_ZAAK_ROOT and its credentials): invoke the resync function of a stack that delivers with DeliveryMode=function")]
    NoAudit,
    #[error("scheduled audit failed: {0}; it runs again on the next schedule")]
    Audit(String),
}

/// Recognise the event by its shape.
pub fn recognise(v: Value) -> Result<Incoming, LambdaError> {
    let job = |name: &str| match name {
        "sweep" => Ok(Job::Sweep),
        "resync" => Ok(Job::Resync),
        "head" => Ok(Job::Head),
        "audit" => Ok(Job::Audit),
        other => Err(LambdaError::Unrecognised(format!(
            "unknown job {other:?} (use sweep, resync, head or audit)"
        ))),
    };
    if let Some(name) = v.get("zaaklink").and_then(Value::as_str) {
        return job(name).map(Incoming::Scheduled);
    }
    if v.get("source").and_then(Value::as_str) == Some("aws.events") {
        let name = v
            .pointer("/detail/zaaklink")
            .and_then(Value::as_str)
            .unwrap_or("sweep");
        return job(name).map(Incoming::Scheduled);
    }
    if v.pointer("/requestContext/http").is_some() {
        return serde_json::from_value(v)
            .map(|r| Incoming::HttpV2(Box::new(r)))
            .map_err(|e| LambdaError::Unrecognised(format!("payload v2 request: {e}")));
    }
    if v.get("httpMethod").is_some() {
        return serde_json::from_value(v)
            .map(|r| Incoming::HttpV1(Box::new(r)))
            .map_err(|e| LambdaError::Unrecognised(format!("payload v1 request: {e}")));
    }
    Err(LambdaError::Unrecognised(
        "neither an HTTP request nor a scheduled event".into(),
    ))
}

fn body_bytes(body: Option<&str>, base64: bool) -> Result<Vec<u8>, Answer> {
    let body = body.unwrap_or("");
    if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| {
                Answer::problem(
                    400,
                    "Bad Request",
                    "the body is marked base64 but is not valid base64",
                    Some("body"),
                )
            })
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

async fn answer(
    app: &Zaaklink,
    auth: &WebhookAuth,
    method: &str,
    headers: &HeaderMap,
    body: Option<&str>,
    base64: bool,
) -> Answer {
    let authorization = headers.get("authorization").map(HeaderValue::as_bytes);
    let content_type = headers.get("content-type").map(HeaderValue::as_bytes);
    let raw_len = body.map_or(0, str::len);
    // The 64 KiB limit is on the notification itself, i.e. the decoded body. Before decoding,
    // a body longer than the base64 form of 64 KiB is refused at once (it cannot decode to
    // 64 KiB or less); `webhook::handle` checks the decoded size.
    let encoded_limit = if base64 {
        webhook::MAX_BODY_BYTES.div_ceil(3) * 4
    } else {
        webhook::MAX_BODY_BYTES
    };
    let early = if raw_len > encoded_limit { raw_len } else { 0 };
    if let Err(refused) = webhook::check(auth, method, authorization, early) {
        return refused;
    }
    match body_bytes(body, base64) {
        Ok(bytes) => {
            webhook::handle(
                app,
                auth,
                webhook::Request {
                    method,
                    authorization,
                    content_type,
                    body: &bytes,
                },
            )
            .await
        }
        Err(refused) => {
            telemetry::notification(NotificationOutcome::of_status(refused.status));
            refused
        }
    }
}

/// The parts every HTTP response type shares: status, headers, body.
fn response_parts(a: Answer) -> (i64, HeaderMap, Option<Body>) {
    let mut h = HeaderMap::new();
    if let Some((ct, _)) = &a.body {
        h.insert("content-type", HeaderValue::from_static(ct));
    }
    for (k, v) in &a.headers {
        h.insert(*k, HeaderValue::from_static(v));
    }
    (a.status.into(), h, a.body.map(|(_, b)| Body::Text(b)))
}

/// Handle one Lambda event; the `Value` is the response the invoking service expects.
/// (A resync event needs [`handle_with`].)
pub async fn handle(app: &Zaaklink, auth: &WebhookAuth, event: Value) -> Result<Value, LambdaError> {
    handle_with(app, auth, event, None, None).await
}

/// [`handle`], with the resync and the moment the run must stop (the invocation's deadline
/// minus a margin): a resync run saves its checkpoint and ends before it.
pub async fn handle_with(
    app: &Zaaklink,
    auth: &WebhookAuth,
    event: Value,
    resync: Option<&Resync>,
    stop_at: Option<std::time::Instant>,
) -> Result<Value, LambdaError> {
    match recognise(event)? {
        Incoming::HttpV2(req) => {
            let method = req.request_context.http.method.as_str();
            let (body, b64) = (req.body.as_deref(), req.is_base64_encoded);
            let a = answer(app, auth, method, &req.headers, body, b64).await;
            let mut resp = ApiGatewayV2httpResponse::default();
            (resp.status_code, resp.headers, resp.body) = response_parts(a);
            Ok(serde_json::to_value(resp).expect("a response serialises"))
        }
        Incoming::HttpV1(req) => {
            let method = req.http_method.as_str();
            let (body, b64) = (req.body.as_deref(), req.is_base64_encoded);
            let a = answer(app, auth, method, &req.headers, body, b64).await;
            let mut resp = ApiGatewayProxyResponse::default();
            (resp.status_code, resp.headers, resp.body) = response_parts(a);
            Ok(serde_json::to_value(resp).expect("a response serialises"))
        }
        Incoming::Scheduled(Job::Resync) => {
            let resync = resync.ok_or(LambdaError::NoResync("resync"))?;
            resync_job(resync, stop_at, false).await
        }
        Incoming::Scheduled(Job::Audit) => Err(LambdaError::NoAudit),
        Incoming::Scheduled(Job::Head) => {
            let resync = resync.ok_or(LambdaError::NoResync("head"))?;
            let head = HeadPoll::new(resync);
            let r = match head.poll().await {
                Ok(r) => r,
                Err(error) => {
                    tracing::error!(error = %error, "head poll failed; the next poll (a minute on) sees the same objects as new");
                    return Err(LambdaError::Job {
                        job: Job::Head,
                        error,
                    });
                }
            };
            telemetry::events_put(r.emitted as u64);
            tracing::info!(listed = r.listed, count = r.count, new = r.new, written = r.written,
                emitted = r.emitted, why = ?r.why, pass_due = r.pass_due, "head poll done");
            let mut answer = serde_json::json!({"job": "head", "poll": r});
            if r.pass_due {
                // The count showed objects left the list (or more arrived than one page):
                // the pass runs now, in this invocation, until it completes or time is up.
                answer["resync"] = resync_job(resync, stop_at, true).await?;
            }
            Ok(answer)
        }
        Incoming::Scheduled(job) => {
            let result = app.sweep().await;
            match result {
                Ok(o) => {
                    telemetry::events_put(o.emitted as u64);
                    tracing::info!(job = ?job, objects = o.objects, written = o.written, emitted = o.emitted, "scheduled job done");
                    Ok(
                        serde_json::json!({"job": format!("{job:?}").to_lowercase(), "objects": o.objects, "written": o.written, "emitted": o.emitted}),
                    )
                }
                Err(error) => {
                    tracing::error!(job = ?job, error = %error, "scheduled job failed; it runs again on the next schedule");
                    Err(LambdaError::Job { job, error })
                }
            }
        }
    }
}

/// Whether `event` is the audit's schedule (the resync function runs it with its
/// [`crate::aws::AuditJob`], [`audit_job`]).
pub fn is_audit(event: &Value) -> bool {
    matches!(recognise(event.clone()), Ok(Incoming::Scheduled(Job::Audit)))
}

/// One scheduled audit (DESIGN §9): the metric `AuditDifferences` per kind and `remaining`
/// after the repair; the report's summary in the log and the answer. It must end before
/// `stop_at`; an audit that does not is stopped (repairs made so far stand; the next audit
/// sees the rest).
pub async fn audit_job(
    app: &Zaaklink,
    job: Option<&crate::aws::AuditJob>,
    stop_at: Option<std::time::Instant>,
) -> Result<Value, LambdaError> {
    use crate::audit::Kind;
    let audit = job.ok_or(LambdaError::NoAudit)?.audit(app).await.map_err(|e| {
        tracing::error!(error = %e, "scheduled audit cannot start");
        LambdaError::Audit(e)
    })?;
    let report = match stop_at {
        Some(t) => tokio::time::timeout_at(t.into(), audit.run())
            .await
            .map_err(|_| {
                tracing::error!("scheduled audit did not finish within the invocation");
                LambdaError::Audit(
                    "it did not finish within the invocation (repairs made so far stand)".into(),
                )
            })?,
        None => audit.run().await,
    };
    if let Some(e) = &report.error {
        return Err(LambdaError::Audit(e.message.clone()));
    }
    for kind in Kind::ALL {
        telemetry::audit_differences(kind.name(), report.count(kind) as u64);
    }
    telemetry::audit_differences("remaining", report.remaining as u64);
    let repaired = report.repairs.as_ref().map_or(0, |r| r.differences);
    if report.remaining > 0 {
        tracing::error!(result = %report.result, counted = report.counted, remaining = report.remaining, repaired,
            alarm = "audit_differences", "scheduled audit: differences remain (AuditDifferencesAlarm; `zaaklink audit` shows them)");
    } else {
        tracing::info!(result = %report.result, counted = report.counted, repaired, "scheduled audit done");
    }
    let mut answer = serde_json::to_value(&report).expect("a report serialises");
    answer["job"] = "audit".into();
    Ok(answer)
}

/// One resync run (`force`: start a pass even when the interval has not passed).
async fn resync_job(
    resync: &Resync,
    stop_at: Option<std::time::Instant>,
    force: bool,
) -> Result<Value, LambdaError> {
    match resync.run(stop_at, force).await {
        Ok(r) => {
            telemetry::resync_run(
                r.run.objects,
                r.run.written,
                r.run.emitted,
                r.stop == Stop::PassDone,
            );
            tracing::info!(stop = ?r.stop, pass = ?r.pass, phase = ?r.phase, objects = r.run.objects,
                        written = r.run.written, emitted = r.run.emitted, pages = r.run.pages,
                        pass_objects = r.pass_counts.objects, "resync run done");
            Ok(serde_json::json!({
                "job": "resync", "stop": format!("{:?}", r.stop), "pass": r.pass,
                "phase": r.phase, "objects": r.run.objects, "written": r.run.written,
                "emitted": r.run.emitted, "pages": r.run.pages,
            }))
        }
        Err(error) => {
            tracing::error!(error = %error, "resync run failed; the next run continues from the checkpoint");
            Err(LambdaError::Job {
                job: Job::Resync,
                error,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::demo::samples;
    use crate::fake_openklant::FakeOpenKlant;
    use crate::openklant::HttpOpenKlant;
    use crate::sink::MemorySink;
    use crate::store::memory::MemoryStore;
    use crate::store::LinkStore;

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
        let sweep: Value = serde_json::from_str(include_str!("../events/schedule/sweep.json")).unwrap();
        assert!(matches!(recognise(sweep), Ok(Incoming::Scheduled(Job::Sweep))));
        let resync: Value = serde_json::from_str(include_str!("../events/schedule/resync.json")).unwrap();
        assert!(matches!(recognise(resync), Ok(Incoming::Scheduled(Job::Resync))));
        assert!(matches!(
            recognise(serde_json::json!({"zaaklink": "resync"})),
            Ok(Incoming::Scheduled(Job::Resync))
        ));
        let head: Value = serde_json::from_str(include_str!("../events/schedule/head.json")).unwrap();
        assert!(matches!(recognise(head), Ok(Incoming::Scheduled(Job::Head))));
        assert!(matches!(
            recognise(serde_json::json!({"zaaklink": "head"})),
            Ok(Incoming::Scheduled(Job::Head))
        ));
        assert!(recognise(serde_json::json!({"zaaklink": "drop-table"})).is_err());
        assert!(recognise(serde_json::json!({"hello": 1})).is_err());
        let audit: Value = serde_json::from_str(include_str!("../events/schedule/audit.json")).unwrap();
        assert!(is_audit(&audit) && is_audit(&serde_json::json!({"zaaklink": "audit"})));
        assert!(!is_audit(&serde_json::json!({"zaaklink": "resync"})));
    }

    #[tokio::test]
    async fn an_audit_without_open_zaak_is_refused_naming_the_fix() {
        let (_ok, app, _sink, _store, auth) = setup().await;
        let e = handle(&app, &auth, serde_json::json!({"zaaklink": "audit"}))
            .await
            .unwrap_err();
        assert!(matches!(e, LambdaError::NoAudit), "{e}");
        let e = audit_job(&app, None, None).await.unwrap_err();
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
}
