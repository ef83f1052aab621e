//! HTTP semantics shared by `zaaklink serve` and the Lambda (DESIGN §6): method, auth, size,
//! parse, handle, status code, problem+json.

use serde_json::json;
// The webhook's expected `Authorization` lives with the secrets (configuration builds it);
// `webhook::WebhookAuth` stays its public path.
pub use crate::secret::WebhookAuth;

use crate::cloudevent_in::{self, Body, Refused};
use crate::telemetry::{self, NotificationOutcome};
use crate::{Error, Outcome, Zaaklink};

/// Bodies over 64 KiB are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The HTTP answer, independent of the server or Lambda event type that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `(content type, body)`; none for 204.
    pub body: Option<(&'static str, String)>,
    /// Extra headers (`Allow` on 405, `WWW-Authenticate` on 401).
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Answer {
    pub fn no_content() -> Self {
        Answer {
            status: 204,
            body: None,
            headers: vec![],
        }
    }

    /// An RFC 9457 problem document.
    pub fn problem(status: u16, title: &str, detail: &str, field: Option<&str>) -> Self {
        let mut doc = json!({"type": "about:blank", "title": title, "status": status, "detail": detail});
        if let Some(f) = field {
            doc["field"] = json!(f);
        }
        Answer {
            status,
            body: Some((PROBLEM_JSON, doc.to_string())),
            headers: vec![],
        }
    }
}

/// One webhook request, as either transport presents it.
pub struct Request<'a> {
    pub method: &'a str,
    pub authorization: Option<&'a [u8]>,
    /// The `Content-Type` header: `application/cloudevents+json` marks a CloudEvent
    /// ([`cloudevent_in::parse`]).
    pub content_type: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// The checks before the body is read: method (405), Authorization (401), size (413).
/// `body_len` may be any length above the limit when the transport stopped reading.
/// A refusal counts as the request's `Notifications` outcome.
pub fn check(
    auth: &WebhookAuth,
    method: &str,
    authorization: Option<&[u8]>,
    body_len: usize,
) -> Result<(), Answer> {
    check_request(auth, method, authorization, body_len)
        .inspect_err(|refused| telemetry::notification(NotificationOutcome::of_status(refused.status)))
}

fn check_request(
    auth: &WebhookAuth,
    method: &str,
    authorization: Option<&[u8]>,
    body_len: usize,
) -> Result<(), Answer> {
    if !method.eq_ignore_ascii_case("POST") {
        let mut a = Answer::problem(
            405,
            "Method Not Allowed",
            &format!("{method} is not accepted: Open Notificaties delivers notifications with POST"),
            None,
        );
        a.headers.push(("allow", "POST"));
        tracing::info!(status = 405, method = %method, "webhook refused: method");
        return Err(a);
    }
    if !auth.verify(authorization) {
        let why = if authorization.is_none() {
            "missing"
        } else {
            "wrong"
        };
        tracing::info!(status = 401, reason = why, "webhook refused: Authorization");
        let mut a = Answer::problem(
            401,
            "Unauthorized",
            &format!("the Authorization header is {why}: set the abonnement's `auth` in Open Notificaties to the value of WEBHOOK_AUTH"),
            Some("Authorization"),
        );
        a.headers.push(("www-authenticate", "Token"));
        return Err(a);
    }
    if body_len > MAX_BODY_BYTES {
        tracing::info!(status = 413, bytes = body_len, "webhook refused: body too large");
        return Err(Answer::problem(
            413,
            "Content Too Large",
            &format!("the body is over {MAX_BODY_BYTES} bytes, the most a notification may be"),
            Some("body"),
        ));
    }
    Ok(())
}

/// Check and handle one webhook request: a notification or a CloudEvent (DESIGN §1, §1a).
/// Refusals (405, 401, 413, 415, 400) happen before anything is read or written, so bad
/// input changes no state.
pub async fn handle(app: &Zaaklink, auth: &WebhookAuth, req: Request<'_>) -> Answer {
    if let Err(refused) = check(auth, req.method, req.authorization, req.body.len()) {
        return refused;
    }
    let body = match cloudevent_in::parse(req.content_type, req.body) {
        Ok(b) => b,
        Err(Refused::Batch) => {
            tracing::info!(status = 415, "webhook refused: CloudEvents batch");
            telemetry::notification(NotificationOutcome::Rejected);
            let mut a = Answer::problem(
                415,
                "Unsupported Media Type",
                &Refused::Batch.to_string(),
                Some("Content-Type"),
            );
            a.headers
                .push(("accept-post", "application/json, application/cloudevents+json"));
            return a;
        }
        Err(Refused::Input(e)) => {
            tracing::info!(status = 400, field = %e.field, reason = %e.problem, what = e.what, "webhook refused: malformed body");
            telemetry::notification(NotificationOutcome::Rejected);
            return Answer::problem(400, "Bad Request", &e.to_string(), Some(&e.field));
        }
    };
    let result = match &body {
        Body::Notification(n) => app.handle(n).await,
        Body::CloudEvent(ev) => app.handle_cloudevent(ev).await,
    };
    let status = result.as_ref().map_or_else(Error::status, |_| 204);
    telemetry::notification(match &result {
        Ok(o) if o.ignored.is_some() => NotificationOutcome::Ignored,
        Ok(_) => NotificationOutcome::Handled,
        Err(_) => NotificationOutcome::of_status(status),
    });
    match &body {
        Body::Notification(n) => log_notification(n, status, &result),
        Body::CloudEvent(ev) => log_cloudevent(ev, status, &result),
    }
    match result {
        Ok(o) => {
            telemetry::events_put(o.emitted as u64);
            Answer::no_content()
        }
        Err(Error::Input(e)) => Answer::problem(400, "Bad Request", &e.to_string(), Some(&e.field)),
        Err(e) => {
            let title = if status == 502 {
                "Bad Gateway"
            } else {
                "Service Unavailable"
            };
            Answer::problem(status, title, &public_detail(&e), None)
        }
    }
}

/// The one log line per handled notification. The detail of a failure (URLs, table, bus, SDK
/// error) goes to the log, user info redacted; the answer only says what failed.
fn log_notification(n: &crate::notification::Notification, status: u16, result: &Result<Outcome, Error>) {
    match result {
        Ok(o) => {
            if let Some(why) = &o.ignored {
                tracing::debug!(status, kanaal = %n.kanaal, resource = %n.resource, actie = %n.actie, reason = %why, "notification ignored");
            } else {
                tracing::info!(status, kanaal = %n.kanaal, resource = %n.resource, actie = %n.actie,
                    resource_url = %n.resource_url, objects = o.objects, written = o.written, emitted = o.emitted, "notification handled");
            }
        }
        Err(Error::Input(e)) => {
            tracing::info!(status, field = %e.field, reason = %e.problem, resource = %n.resource, actie = %n.actie, "webhook refused: invalid notification");
        }
        Err(e) => {
            tracing::error!(status, kanaal = %n.kanaal, resource = %n.resource, actie = %n.actie,
                resource_url = %n.resource_url, error = %crate::secret::redact(&e.to_string()),
                "notification failed; Open Notificaties will retry");
        }
    }
}

/// The one log line per handled CloudEvent (its type, id and source; never its data).
fn log_cloudevent(ev: &cloudevents::Event, status: u16, result: &Result<Outcome, Error>) {
    use cloudevents::AttributesReader;
    let (ty, id, source) = (ev.ty(), ev.id(), crate::secret::redact(ev.source()));
    match result {
        Ok(o) => {
            if let Some(why) = &o.ignored {
                tracing::debug!(status, ce_type = %ty, ce_id = %id, ce_source = %source, reason = %why, "cloudevent ignored");
            } else {
                tracing::info!(status, ce_type = %ty, ce_id = %id, ce_source = %source,
                    objects = o.objects, written = o.written, emitted = o.emitted, "cloudevent handled");
            }
        }
        Err(Error::Input(e)) => {
            tracing::info!(status, field = %e.field, reason = %e.problem, ce_type = %ty, ce_id = %id, "webhook refused: invalid CloudEvent");
        }
        Err(e) => {
            tracing::error!(status, ce_type = %ty, ce_id = %id, ce_source = %source,
                error = %crate::secret::redact(&e.to_string()),
                "cloudevent failed; Open Notificaties will retry");
        }
    }
}

/// What a 502/503 problem body says about a failure: which side failed and that a retry
/// is due, never a URL, host, table, bus, ARN or SDK error (those are in the log line).
pub fn public_detail(e: &Error) -> String {
    match e {
        Error::Input(e) => e.to_string(),
        other => format!(
            "{}; Open Notificaties retries the notification",
            public_cause(other)
        ),
    }
}

/// Which side failed, for whoever receives the answer or the invocation's error (the
/// webhook's 502/503 body, a scheduled job's error): never a URL, host, table, bus, ARN or
/// SDK error — those are in the log line.
pub fn public_cause(e: &Error) -> String {
    use crate::openklant::OpenKlantError as K;
    match e {
        Error::Input(_) => "a value read from Open Klant or the store was refused".into(),
        Error::OpenKlant(K::Timeout { .. }) => "Open Klant did not answer in time".into(),
        Error::OpenKlant(K::Unreachable { .. }) => "Open Klant could not be reached".into(),
        Error::OpenKlant(K::Unauthorized { status, .. }) => {
            format!("Open Klant refused zaaklink's request ({status}); check OPEN_KLANT_API_TOKEN")
        }
        Error::OpenKlant(K::Status { status, .. }) => format!("Open Klant answered {status}"),
        Error::OpenKlant(K::Malformed { .. }) => {
            "Open Klant answered with a body zaaklink cannot read".into()
        }
        Error::OpenKlant(K::Refused(_)) => "Open Klant named an object outside its API root".into(),
        Error::Store(_) => "zaaklink's link store is unavailable".into(),
        Error::Sink(_) => "zaaklink's event sink did not accept the events".into(),
        Error::Contention(..) => "the onderwerpobject kept changing while it was being written".into(),
        Error::Held { .. } => {
            "another writer still holds the onderwerpobject's outbox (its lease runs out within seconds)"
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn problem_details_name_no_internals() {
        use crate::openklant::{OpenKlantError as K, UrlRefused};
        use crate::sink::SinkError;
        use crate::store::StoreError;
        let url =
            "https://user:pw@klant.internal.example/klantinteracties/api/v1/onderwerpobjecten/1".to_string();
        let cases: Vec<(Error, u16, &str)> = vec![
            (K::Timeout { url: url.clone(), timeout_ms: 10 }.into(), 502, "in time"),
            (K::Unreachable { url: url.clone(), reason: "dns error: klant.internal.example".into() }.into(), 502, "reached"),
            (K::Unauthorized { url: url.clone(), status: 401 }.into(), 502, "(401)"),
            (K::Status { url: url.clone(), status: 500 }.into(), 502, "answered 500"),
            (K::Malformed { url: url.clone(), reason: "expected value at line 1".into() }.into(), 502, "cannot read"),
            (K::Refused(UrlRefused { url: url.clone(), root: url.clone(), why: "other host or port" }).into(), 502, "outside"),
            (StoreError::Unavailable("DynamoDB GetItem on table zaaklink-prod-links (arn:aws:dynamodb:eu-west-1:123456789012:table/zaaklink-prod-links): dispatch failure".into()).into(), 503, "link store"),
            (SinkError::Rejected { sink: "EventBridge bus zaaklink-prod-bus", failed: 1, total: 1, reason: "AccessDeniedException: arn:aws:events:eu-west-1:123456789012:event-bus/zaaklink-prod-bus".into() }.into(), 503, "event sink"),
            (Error::Contention("5fee9673".into(), 8), 503, "kept changing"),
            (Error::Held { onderwerpobject: "5fee9673".into(), until: "2026-12-07T10:00:00.000Z".into() }, 503, "holds the onderwerpobject's outbox"),
        ];
        for (e, status, says) in cases {
            assert_eq!(e.status(), status, "{e}");
            let d = public_detail(&e);
            assert!(d.contains(says), "{d}");
            assert!(d.contains("retries"), "{d}");
            for internal in [
                "http",
                "klant.internal",
                "pw",
                "zaaklink-prod",
                "arn:",
                "123456789012",
                "DynamoDB",
                "dispatch",
                "Exception",
                "5fee9673",
            ] {
                assert!(!d.contains(internal), "{d:?} names {internal:?}");
            }
        }
    }

    #[test]
    fn auth_compares_exact_values() {
        let auth = WebhookAuth::new(&Secret::new("Token abc"));
        assert!(auth.verify(Some(b"Token abc")));
        for bad in [
            &b"Token abd"[..],
            b"token abc",
            b"Token abc ",
            b"",
            b"Bearer abc",
            b"Token ab",
        ] {
            assert!(!auth.verify(Some(bad)), "{}", String::from_utf8_lossy(bad));
        }
        assert!(!auth.verify(None));
        assert!(!format!("{auth:?}").contains("abc"));
    }
}
