//! `zaaklink demo`: the bundled samples under `events/` end to end — a fake Open Klant on
//! 127.0.0.1, the real HTTP adapter, the embedded store, the webhook checks — with no AWS and
//! no real Open Klant. Events go to the given sink; the story goes to stderr.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cloudevent::OutboxEvent;
use crate::config::CoreArgs;
use crate::fake_openklant::FakeOpenKlant;
use crate::openklant::HttpOpenKlant;
use crate::sink::{EventSink, SinkError};
use crate::store::LinkStore;
use crate::webhook::{self, Request};
use crate::Zaaklink;

pub const WEBHOOK_AUTH: &str = "Token demo-webhook-secret";
const TOKEN: &str = "demo-open-klant-token";
pub const SOURCE: &str = "urn:nld:oin:01823288444:openklant";

pub mod samples {
    pub const CREATE: &str = include_str!("../events/notifications/onderwerpobject-create.json");
    pub const UPDATE: &str = include_str!("../events/notifications/onderwerpobject-update.json");
    pub const PARTIAL_UPDATE: &str =
        include_str!("../events/notifications/onderwerpobject-partial-update.json");
    pub const DESTROY: &str = include_str!("../events/notifications/onderwerpobject-destroy.json");
    pub const KC_DESTROY: &str = include_str!("../events/notifications/klantcontact-destroy.json");
    pub const KC_UPDATE: &str = include_str!("../events/notifications/klantcontact-update.json");
    pub const IGNORED: &str = include_str!("../events/notifications/ignored-other-kanaal.json");
    pub const MALFORMED: &str = include_str!("../events/notifications/malformed-missing-resourceUrl.json");
    pub const KLANTCONTACT: &str = include_str!("../events/openklant/klantcontact.json");
    pub const ZAAK_A: &str = include_str!("../events/openklant/onderwerpobject-zaak-a.json");
    pub const ZAAK_B: &str = include_str!("../events/openklant/onderwerpobject-zaak-b.json");
    pub const BESLUIT: &str = include_str!("../events/openklant/onderwerpobject-besluit.json");
    /// The test notification Open Notificaties POSTs when an abonnement is saved.
    pub const TEST_CALLBACK: &str = include_str!("../events/notifications/test-callback.json");
    /// CloudEvents as Open Notificaties POSTs them (`application/cloudevents+json`).
    pub mod ce {
        pub const KC_CREATE: &str = include_str!("../events/cloudevents/klantcontact-create.json");
        pub const KC_UPDATE: &str = include_str!("../events/cloudevents/klantcontact-update.json");
        pub const KC_DESTROY: &str = include_str!("../events/cloudevents/klantcontact-destroy.json");
        pub const GEKOPPELD: &str = include_str!("../events/cloudevents/zaak-gekoppeld.json");
        pub const ONTKOPPELD: &str = include_str!("../events/cloudevents/zaak-ontkoppeld.json");
        pub const IGNORED: &str = include_str!("../events/cloudevents/ignored-other-type.json");
        pub const HOSTILE_LINK_TO: &str =
            include_str!("../events/cloudevents/hostile-linkto-outside-root.json");
    }
    pub const KLANTCONTACT_URL: &str =
        "http://127.0.0.1:8000/klantinteracties/api/v1/klantcontacten/3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a";
    pub const OO_URL: &str = "http://127.0.0.1:8000/klantinteracties/api/v1/onderwerpobjecten/5fee9673-216c-41e7-91d2-69a8d1526b9f";
}

/// Run the story. Returns how many events were emitted.
pub async fn run(store: Arc<dyn LinkStore>, sink: Arc<dyn EventSink>) -> Result<usize, String> {
    let ok = FakeOpenKlant::start(TOKEN)
        .await
        .map_err(|e| format!("cannot start the demo Open Klant: {e}"))?;
    let args = CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: SOURCE.into(),
        webhook_auth: Some(WEBHOOK_AUTH.into()),
        open_klant_api_root: Some(ok.api_root()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "5000".into(),
    };
    let cfg = args.validate().map_err(|e| e.to_string())?;
    let counter = Arc::new(Counting {
        inner: sink,
        n: AtomicUsize::new(0),
    });
    let app = Zaaklink {
        klant: Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            Duration::from_secs(5),
        )),
        store,
        sink: counter.clone(),
        settings: cfg.settings.clone(),
    };
    for (i, step) in steps().iter().enumerate() {
        (step.setup)(&ok);
        let body = ok.rewrite(step.notification);
        let before = counter.count();
        let answer = webhook::handle(
            &app,
            &cfg.webhook_auth,
            Request {
                method: "POST",
                content_type: None,
                authorization: Some(step.authorization.unwrap_or(WEBHOOK_AUTH).as_bytes()),
                body: body.as_bytes(),
            },
        )
        .await;
        let detail = answer
            .body
            .as_ref()
            .map(|(_, b)| format!(" {b}"))
            .unwrap_or_default();
        eprintln!(
            "step {}: {}\n  -> HTTP {}{detail}; {} event(s) emitted",
            i + 1,
            step.story,
            answer.status,
            counter.count() - before
        );
    }
    Ok(counter.count())
}

/// One step of the story.
struct Step {
    /// What happens, as the demo tells it.
    story: &'static str,
    /// What Open Klant holds once it happened.
    setup: fn(&FakeOpenKlant),
    /// The notification Open Notificaties then POSTs.
    notification: &'static str,
    /// Its `Authorization` header (None: the right one).
    authorization: Option<&'static str>,
}

/// The story: an onderwerpobject linked, relinked, unlinked and relinked, a repeat, the
/// notifications zaaklink refuses or ignores, and the klantcontact's delete.
fn steps() -> [Step; 9] {
    use samples::*;
    fn step(
        story: &'static str,
        setup: fn(&FakeOpenKlant),
        notification: &'static str,
        authorization: Option<&'static str>,
    ) -> Step {
        Step {
            story,
            setup,
            notification,
            authorization,
        }
    }
    [
        step(
            "an onderwerpobject is created that links a zaak",
            |ok| {
                ok.put(KLANTCONTACT);
                ok.put(ZAAK_A)
            },
            CREATE,
            None,
        ),
        step(
            "the same notification arrives again (at-least-once delivery)",
            |_| {},
            CREATE,
            None,
        ),
        step(
            "the onderwerpobject is changed to point at another zaak",
            |ok| ok.put(ZAAK_B),
            UPDATE,
            None,
        ),
        step(
            "it is changed to a besluit: no zaak any more",
            |ok| ok.put(BESLUIT),
            PARTIAL_UPDATE,
            None,
        ),
        step(
            "it is changed back to the first zaak",
            |ok| ok.put(ZAAK_A),
            UPDATE,
            None,
        ),
        step("a notification from another kanaal", |_| {}, IGNORED, None),
        step("a malformed notification", |_| {}, MALFORMED, None),
        step(
            "a notification with the wrong Authorization",
            |_| {},
            CREATE,
            Some("Token wrong"),
        ),
        step(
            "the klantcontact is deleted (Open Klant cascades silently)",
            |ok| {
                ok.remove(KLANTCONTACT_URL);
                ok.remove(OO_URL)
            },
            KC_DESTROY,
            None,
        ),
    ]
}

/// Forwards to the real sink and counts what it accepted.
struct Counting {
    inner: Arc<dyn EventSink>,
    n: AtomicUsize,
}

impl Counting {
    fn count(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl EventSink for Counting {
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.inner.publish(events).await?;
        self.n.fetch_add(events.len(), Ordering::SeqCst);
        Ok(())
    }
}
