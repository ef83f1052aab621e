//! Delivery of zaaklink's CloudEvents to Open Zaak (DESIGN §4 "To Open Zaak", §5
//! "Delivery state").
//!
//! The `deliver` Lambda reads the EventBridge events (the CloudEvent is the `detail`) from the
//! delivery queue ([`sqs`]). For each CloudEvent, [`Deliverer`]:
//! 1. parses it ([`event`]): its object key and place (`sequence`), the checks that refuse
//!    what Open Zaak would answer 202 and drop, the body without zaaklink's extensions;
//! 2. applies the per-object order and once-only rule of the [`log`] (skip a repeat, wait
//!    when early, claim with a conditional write);
//! 3. `POST {OPEN_ZAAK_ROOT}/events` ([`openzaak`]) with `Content-Type:
//!    application/cloudevents+json` exactly and a fresh ZGW JWT ([`jwt`]);
//! 4. 2xx: applied; 5xx/408/429/timeout: released and retried later; other answers and
//!    refused events: parked (alarmed), and the object's later events go on.
//!
//! Neither the secret nor the JWT is ever logged or part of an error message.

pub mod credentials;
pub mod event;
pub mod handler;
pub mod jwt;
pub mod log;
pub mod openzaak;
pub mod redrive;
pub mod settings;
pub mod sink;
pub mod sqs;

pub use credentials::{load_credentials, ClientSecret, CredentialsSource, OpenZaakCredentials};
pub use handler::{Deliverer, Outcome};
pub use jwt::{sign_jwt, ZgwClaims};
pub use log::{DeliveryLog, DeliveryLogError, DynamoDbDeliveryLog, MemoryDeliveryLog};
pub use openzaak::{events_url, CLOUDEVENTS_CONTENT_TYPE};
pub use settings::{DeliverSettings, DEFAULT_TIMEOUT};

/// A setting that is missing or invalid: stops startup with a message naming it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {fix}")]
    Missing { name: &'static str, fix: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read Open Zaak credentials from Secrets Manager secret {secret_id:?}: {reason}")]
    Secret { secret_id: String, reason: String },
}

/// Why one delivery did not end (yet).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("the event is not a CloudEvent zaaklink can deliver: {0}")]
    NotACloudEvent(String),
    #[error("could not sign the Open Zaak JWT: {0}")]
    Jwt(String),
    #[error("request to Open Zaak {url} failed: {reason}; retried later")]
    Request { url: String, reason: String },
    #[error("Open Zaak answered {status} to event {event_id}: {body}; retried later")]
    Rejected {
        event_id: String,
        status: u16,
        body: String,
    },
    #[error("event {event_id} (place {seq}) is early: its onderwerpobject's events are applied up to {applied}; it waits and is retried")]
    Early {
        event_id: String,
        seq: u64,
        applied: u64,
    },
    #[error("event {event_id}'s onderwerpobject is being delivered by another invocation right now; retried later")]
    InFlight { event_id: String },
    #[error("delivery log: {0}; retried later")]
    Log(#[from] DeliveryLogError),
}

impl DeliverError {
    /// Whether a later attempt can succeed (everything but input that is no CloudEvent).
    pub fn retryable(&self) -> bool {
        !matches!(self, DeliverError::NotACloudEvent(_))
    }
}
