//! `serve`'s HTTP endpoint: an axum request in, the webhook's answer out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use zaaklink::webhook::{self, Answer, WebhookAuth, MAX_BODY_BYTES};
use zaaklink::Zaaklink;

pub(crate) struct Served {
    pub(crate) app: Zaaklink,
    pub(crate) auth: WebhookAuth,
}

fn to_response(a: Answer) -> Response {
    let mut r = match a.body {
        Some((ct, body)) => ([(axum::http::header::CONTENT_TYPE, ct)], body).into_response(),
        None => ().into_response(),
    };
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in a.headers {
        r.headers_mut().insert(k, HeaderValue::from_static(v));
    }
    r
}

pub(crate) async fn webhook_endpoint(State(s): State<Arc<Served>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();
    let authorization = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if let Err(refused) = webhook::check(&s.auth, method, authorization, declared) {
        return to_response(refused);
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return to_response(
                webhook::check(&s.auth, method, authorization, MAX_BODY_BYTES + 1).unwrap_err(),
            )
        }
    };
    to_response(
        webhook::handle(
            &s.app,
            &s.auth,
            webhook::Request {
                method,
                authorization,
                content_type: parts
                    .headers
                    .get(axum::http::header::CONTENT_TYPE)
                    .map(|v| v.as_bytes()),
                body: &bytes,
            },
        )
        .await,
    )
}
