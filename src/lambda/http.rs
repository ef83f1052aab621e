//! Webhook requests (Function URL / HTTP API payload v2, REST API payload v1): the body
//! decoded, the webhook's answer mapped to the response the invoking service expects.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use serde_json::Value;

use crate::telemetry::{self, NotificationOutcome};
use crate::webhook::{self, Answer, WebhookAuth};
use crate::Zaaklink;

/// A payload v2 request (Function URL, HTTP API) answered.
pub(super) async fn respond_v2(app: &Zaaklink, auth: &WebhookAuth, req: &ApiGatewayV2httpRequest) -> Value {
    let method = req.request_context.http.method.as_str();
    let (body, b64) = (req.body.as_deref(), req.is_base64_encoded);
    let a = answer(app, auth, method, &req.headers, body, b64).await;
    let mut resp = ApiGatewayV2httpResponse::default();
    (resp.status_code, resp.headers, resp.body) = response_parts(a);
    serde_json::to_value(resp).expect("a response serialises")
}

/// A payload v1 request (REST API) answered.
pub(super) async fn respond_v1(app: &Zaaklink, auth: &WebhookAuth, req: &ApiGatewayProxyRequest) -> Value {
    let method = req.http_method.as_str();
    let (body, b64) = (req.body.as_deref(), req.is_base64_encoded);
    let a = answer(app, auth, method, &req.headers, body, b64).await;
    let mut resp = ApiGatewayProxyResponse::default();
    (resp.status_code, resp.headers, resp.body) = response_parts(a);
    serde_json::to_value(resp).expect("a response serialises")
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
