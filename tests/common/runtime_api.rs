//! A Lambda Runtime API for one function process, served in the test (axum on 127.0.0.1):
//! `GET /2018-06-01/runtime/invocation/next` hands out the events [`RuntimeApi::invoke`]
//! queues, `POST .../invocation/<id>/response` and `.../error` answer them,
//! `POST .../init/error` records a failed init. Point the function's
//! `AWS_LAMBDA_RUNTIME_API` at [`RuntimeApi::address`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

type Answer = Result<Value, Value>;

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<String>>,
    arrived: Notify,
}

pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    inner: Arc<Inner>,
    n: std::sync::atomic::AtomicUsize,
}

async fn next(State(s): State<Arc<Inner>>) -> impl IntoResponse {
    loop {
        let notified = s.arrived.notified();
        if let Some((id, event)) = s.queue.lock().unwrap().pop_front() {
            // Lambda's longest timeout (15 min): a resync invocation stops short of it, so a
            // nearer deadline would let a busy machine cut a pass short
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 900_000;
            let mut h = HeaderMap::new();
            h.insert("content-type", "application/json".parse().unwrap());
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            h.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:zaaklink-test"
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            return (StatusCode::OK, h, event.to_string());
        }
        notified.await;
    }
}

fn answer(s: &Inner, id: &str, a: Answer) -> StatusCode {
    match s.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(a);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(s): State<Arc<Inner>>, Path(id): Path<String>, body: String) -> StatusCode {
    answer(
        &s,
        &id,
        Ok(serde_json::from_str(&body).unwrap_or(Value::String(body))),
    )
}

async fn error(State(s): State<Arc<Inner>>, Path(id): Path<String>, body: String) -> StatusCode {
    answer(
        &s,
        &id,
        Err(serde_json::from_str(&body).unwrap_or(Value::String(body))),
    )
}

async fn init_error(State(s): State<Arc<Inner>>, body: String) -> StatusCode {
    *s.init_error.lock().unwrap() = Some(body);
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", axum::routing::get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                axum::routing::post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                axum::routing::post(error),
            )
            .route("/2018-06-01/runtime/init/error", axum::routing::post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            address,
            inner,
            n: Default::default(),
        }
    }

    /// Hand `event` to the function and wait (≤ [`super::ready_within`]) for its answer:
    /// `Ok(response)` or `Err(error document)`.
    pub async fn invoke(&self, event: Value) -> Answer {
        let id = format!("req-{}", self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let (tx, rx) = oneshot::channel();
        self.inner.waiting.lock().unwrap().insert(id.clone(), tx);
        self.inner.queue.lock().unwrap().push_back((id, event));
        self.inner.arrived.notify_waiters();
        self.inner.arrived.notify_one();
        let within = super::ready_within();
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(a)) => a,
            _ => panic!(
                "the function did not answer within {} s (init error: {:?})",
                within.as_secs(),
                self.init_error()
            ),
        }
    }

    /// What the function posted to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        self.inner.init_error.lock().unwrap().clone()
    }
}
