//! Fixtures of the suites that run the pipeline in process (aws_moto, faults, load, resync):
//! the settings, the pipeline over a given store and sink, one webhook POST, and a numbered
//! scene of onderwerpobjecten in the Open Klant fake.

use std::sync::Arc;

use serde_json::json;
use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::ZaakLink;
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::sink::EventSink;
use zaaklink::store::LinkStore;
use zaaklink::webhook::{self, Answer, Request, WebhookAuth};
use zaaklink::Zaaklink;

use super::cli::SOURCE;

/// `OPEN_KLANT_API_TOKEN` of the in-process suites (the fake checks it).
pub const TOKEN: &str = "test-open-klant-token";
/// `WEBHOOK_AUTH` of the in-process suites, sent by [`post`].
pub const AUTH: &str = "Token test-webhook-secret";

/// The settings of the in-process suites: emission on, Open Klant under `root`.
pub fn core_args(root: &str, timeout_ms: &str) -> CoreArgs {
    CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: SOURCE.into(),
        webhook_auth: Some(AUTH.into()),
        open_klant_api_root: Some(root.into()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: timeout_ms.into(),
    }
}

/// The pipeline as the Lambda builds it (real Open Klant HTTP adapter), over `store` and `sink`.
pub fn pipeline(
    args: CoreArgs,
    store: Arc<dyn LinkStore>,
    sink: Arc<dyn EventSink>,
) -> (Zaaklink, WebhookAuth) {
    let cfg = args.validate().unwrap();
    let klant = HttpOpenKlant::new(
        cfg.settings.api_root.clone(),
        cfg.open_klant_token.clone(),
        cfg.open_klant_timeout,
    );
    (
        Zaaklink {
            klant: Arc::new(klant),
            store,
            sink,
            settings: cfg.settings,
        },
        cfg.webhook_auth,
    )
}

/// One webhook delivery of `body`, authorised with [`AUTH`].
pub async fn post(app: &Zaaklink, auth: &WebhookAuth, body: &str) -> Answer {
    webhook::handle(
        app,
        auth,
        Request {
            method: "POST",
            authorization: Some(AUTH.as_bytes()),
            content_type: None,
            body: body.as_bytes(),
        },
    )
    .await
}

/// A stable UUID per suite, kind and number: `id("faults", "oo", 3)`.
pub fn id(suite: &str, kind: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{suite}/{kind}/{i}").as_bytes(),
    )
    .to_string()
}

/// Numbered onderwerpobjecten under an API root, each with its own klantcontact `i`
/// (onderwerp "Onderwerp i", nummer "i"), linking zaak `z` or a besluit.
pub struct Scene {
    pub suite: &'static str,
    /// `OPEN_KLANT_API_ROOT` the objects' URLs are under (the fake's, or a proxy's).
    pub root: String,
}

impl Scene {
    pub fn id(&self, kind: &str, i: usize) -> String {
        id(self.suite, kind, i)
    }

    pub fn zaak(&self, z: usize) -> String {
        self.id("zaak", z)
    }

    pub fn oo_url(&self, i: usize) -> String {
        format!("{}onderwerpobjecten/{}", self.root, self.id("oo", i))
    }

    pub fn kc_url(&self, i: usize) -> String {
        format!("{}klantcontacten/{}", self.root, self.id("kc", i))
    }

    /// Open Klant (`ok`) now shows object `i` linking zaak `z` (Some) or a besluit (None),
    /// and its klantcontact going over it. No notification.
    pub fn put(&self, ok: &FakeOpenKlant, i: usize, z: Option<usize>) {
        let (objecttype, object_id) = match z {
            Some(z) => ("zaak", self.zaak(z)),
            None => ("besluit", self.id("besluit", i)),
        };
        let kc = json!({"uuid": self.id("kc", i), "url": self.kc_url(i)});
        ok.put(
            &json!({
                "uuid": self.id("oo", i), "url": self.oo_url(i), "klantcontact": kc, "wasKlantcontact": null,
                "onderwerpobjectidentificator": {"objectId": object_id, "codeObjecttype": objecttype,
                    "codeRegister": "openzaak", "codeSoortObjectId": "uuid"}
            })
            .to_string(),
        );
        ok.put(
            &json!({
                "uuid": self.id("kc", i), "url": self.kc_url(i), "nummer": format!("{i}"),
                "onderwerp": format!("Onderwerp {i}"),
                "gingOverOnderwerpobjecten": [{"uuid": self.id("oo", i), "url": self.oo_url(i)}]
            })
            .to_string(),
        );
    }

    /// The link zaaklink must hold for object `i` when it links zaak `z`.
    pub fn link(&self, i: usize, z: usize) -> ZaakLink {
        ZaakLink {
            zaak: self.zaak(z),
            label: format!("Onderwerp {i} - ({i})"),
            link_to: self.oo_url(i),
            klantcontact: self.kc_url(i),
            was_klantcontact: None,
        }
    }

    /// The notification Open Notificaties sends about object `i`.
    pub fn notification(&self, i: usize, actie: &str) -> String {
        json!({
            "kanaal": "klantcontacten", "hoofdObject": self.kc_url(i), "resource": "onderwerpobject",
            "resourceUrl": self.oo_url(i), "actie": actie, "aanmaakdatum": "2026-10-10T09:00:00Z",
            "kenmerken": {}
        })
        .to_string()
    }
}
