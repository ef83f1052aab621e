use super::*;
use crate::demo::samples::{self, ce};

const ROOT: &str = "http://127.0.0.1:8000/klantinteracties/api/v1/";
const OO: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
const KC: &str = "3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a";
const CT: Option<&[u8]> = Some(CONTENT_TYPE.as_bytes());

fn root() -> ApiRoot {
    ApiRoot::parse(ROOT).unwrap()
}

/// The sample with `edit` applied to its JSON.
fn edited(sample: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let mut m: Map<String, Value> = serde_json::from_str(sample).unwrap();
    edit(&mut m);
    serde_json::to_vec(&m).unwrap()
}

/// Parse as Open Notificaties sends it, then classify.
fn intent(body: &[u8]) -> Result<Intent, InputError> {
    match parse(CT, body).map_err(|e| match e {
        Refused::Input(e) => e,
        Refused::Batch => panic!("batch"),
    })? {
        Body::CloudEvent(ev) => classify(&ev, &root()),
        Body::Notification(n) => panic!("read as a notification: {n:?}"),
    }
}

fn oo_intent() -> Intent {
    Intent::Onderwerpobject {
        uuid: OO.into(),
        url: format!("{ROOT}onderwerpobjecten/{OO}"),
        destroyed: false,
    }
}

fn kc_intent(destroyed: bool) -> Intent {
    Intent::Klantcontact {
        url: format!("{ROOT}klantcontacten/{KC}"),
        destroyed,
    }
}

#[test]
fn the_samples_mean_what_their_classic_forms_mean() {
    let cases: Vec<(&str, Intent)> = vec![
        (ce::KC_CREATE, kc_intent(false)),
        (ce::KC_UPDATE, kc_intent(false)),
        (ce::KC_DESTROY, kc_intent(true)),
        // Open Klant's own events: the onderwerpobject is read, whatever the event says
        (ce::GEKOPPELD, oo_intent()),
        (ce::ONTKOPPELD, oo_intent()),
    ];
    for (sample, want) in cases {
        assert_eq!(intent(sample.as_bytes()).unwrap(), want, "{sample}");
    }
    // the classic klantcontact destroy and its transformed form agree
    let classic = notification::parse(samples::KC_DESTROY.as_bytes()).unwrap();
    assert_eq!(
        notification::classify(&classic, &root()).unwrap(),
        intent(ce::KC_DESTROY.as_bytes()).unwrap()
    );
}

#[test]
fn transformed_notifications_of_every_actie_and_resource() {
    let actions = [
        ("create", false),
        ("update", false),
        ("partial_update", false),
        ("destroy", true),
    ];
    for (actie, destroyed) in actions {
        let kc = edited(ce::KC_CREATE, |m| {
            m["type"] = format!("nl.overheid.klantcontacten.klantcontact.{actie}").into();
        });
        assert_eq!(intent(&kc).unwrap(), kc_intent(destroyed), "{actie}");
        // an onderwerpobject notification (any kanaal), hoofdObject its klantcontact
        let oo = edited(ce::KC_CREATE, |m| {
            m["type"] = format!("nl.overheid.anders.onderwerpobject.{actie}").into();
            m["subject"] = OO.into();
        });
        assert_eq!(
            intent(&oo).unwrap(),
            Intent::Onderwerpobject {
                uuid: OO.into(),
                url: format!("{ROOT}onderwerpobjecten/{OO}"),
                destroyed
            },
            "{actie}"
        );
    }
    // an upper-case uuid in subject: the canonical uuid, the canonical URL
    let upper = edited(ce::KC_CREATE, |m| {
        m["subject"] = KC.to_uppercase().into();
        m["data"]["hoofdObject"] = format!("{ROOT}klantcontacten/{}", KC.to_uppercase()).into();
    });
    assert_eq!(intent(&upper).unwrap(), kc_intent(false));
}

#[test]
fn other_types_are_ignored_without_reading_data() {
    let types = [
        "nl.overheid.zaken.zaak.create",
        "nl.overheid.klantcontacten.betrokkene.create",
        "nl.overheid.anders.klantcontact.update",
        "nl.overheid.klantinteracties.klantcontact-aangemaakt",
        "nl.overheid.zaken.zaak-gesloten",
        "nl.overheid.zaken.Zaak-Gekoppeld",
        "com.example.anything",
        "nl.overheid.",
        "nl.overheid..x.create",
    ];
    for ty in types {
        // data that would be refused if it were read
        let body = edited(ce::GEKOPPELD, |m| {
            m["type"] = ty.into();
            m["data"] = "niet gelezen".into();
            m.remove("subject");
        });
        assert!(matches!(intent(&body), Ok(Intent::Ignore(_))), "{ty}");
    }
    assert!(matches!(intent(ce::IGNORED.as_bytes()), Ok(Intent::Ignore(_))));
    // a zaak link to something other than an onderwerpobject is not ours either
    let other = edited(ce::GEKOPPELD, |m| {
        m["data"]["linkObjectType"] = "Verzoek".into();
        m["data"]["linkTo"] = "https://elders.example/verzoeken/1".into();
    });
    assert!(matches!(intent(&other), Ok(Intent::Ignore(_))));
    // without linkObjectType, a zaak link is taken as an onderwerpobject's (checked)
    let bare = edited(ce::GEKOPPELD, |m| {
        m["data"].as_object_mut().unwrap().remove("linkObjectType");
    });
    assert_eq!(intent(&bare).unwrap(), oo_intent());
}

#[test]
fn hostile_and_malformed_events_name_the_field() {
    let evil_link = |url: &str| {
        let url = url.to_string();
        edited(ce::GEKOPPELD, move |m| m["data"]["linkTo"] = url.into())
    };
    let oo_url = format!("{ROOT}onderwerpobjecten/{OO}");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // data.linkTo checked as strictly as resourceUrl
        (ce::HOSTILE_LINK_TO.as_bytes().to_vec(), "data.linkTo"),
        (
            evil_link(&oo_url.replace("127.0.0.1:8000", "evil.example")),
            "data.linkTo",
        ),
        (
            evil_link(&oo_url.replace("127.0.0.1:8000", "127.0.0.1:8001")),
            "data.linkTo",
        ),
        (evil_link(&oo_url.replace("http://", "https://")), "data.linkTo"),
        (
            evil_link(&oo_url.replace("http://", "http://user:pw@")),
            "data.linkTo",
        ),
        (
            evil_link(&format!("{ROOT}../../admin/onderwerpobjecten/{OO}")),
            "data.linkTo",
        ),
        (
            evil_link(&format!("{ROOT}%2e%2e/onderwerpobjecten/{OO}")),
            "data.linkTo",
        ),
        (evil_link(&format!("{ROOT}klantcontacten/{KC}")), "data.linkTo"),
        (
            evil_link(&format!("{ROOT}onderwerpobjecten/{OO}?x=1")),
            "data.linkTo",
        ),
        (
            evil_link(&format!("{ROOT}onderwerpobjecten/{OO}#f")),
            "data.linkTo",
        ),
        (
            evil_link(&format!("{ROOT}onderwerpobjecten/not-a-uuid")),
            "data.linkTo",
        ),
        (
            evil_link("/klantinteracties/api/v1/onderwerpobjecten/x"),
            "data.linkTo",
        ),
        (
            edited(ce::GEKOPPELD, |m| m["data"]["linkTo"] = 7.into()),
            "data.linkTo",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m["data"].as_object_mut().unwrap().remove("linkTo");
            }),
            "data.linkTo",
        ),
        (
            edited(ce::GEKOPPELD, |m| m["data"]["linkObjectType"] = 1.into()),
            "data.linkObjectType",
        ),
        // data not an object
        (edited(ce::GEKOPPELD, |m| m["data"] = "x".into()), "data"),
        (
            edited(ce::GEKOPPELD, |m| m["data"] = Value::Array(vec![])),
            "data",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.remove("data");
            }),
            "data",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m["datacontenttype"] = "text/plain".into();
                m["data"] = "{}".into();
            }),
            "data",
        ),
        // transformed: subject and hoofdObject must agree and lie under the root
        (edited(ce::KC_CREATE, |m| m["subject"] = OO.into()), "subject"),
        (
            edited(ce::KC_CREATE, |m| m["subject"] = "../../x".into()),
            "subject",
        ),
        (
            edited(ce::KC_CREATE, |m| m["subject"] = KC.replace('-', "").into()),
            "subject",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m.remove("subject");
            }),
            "subject",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m["data"]["hoofdObject"] =
                    format!("https://evil.example/klantinteracties/api/v1/klantcontacten/{KC}").into()
            }),
            "data.hoofdObject",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m["data"].as_object_mut().unwrap().remove("hoofdObject");
            }),
            "data.hoofdObject",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m["type"] = "nl.overheid.anders.onderwerpobject.create".into();
                m["subject"] = OO.into();
                m["data"]["hoofdObject"] = "https://evil.example/x".into();
            }),
            "data.hoofdObject",
        ),
        (
            edited(ce::KC_CREATE, |m| {
                m["type"] = "nl.overheid.klantcontacten.klantcontact.delete".into()
            }),
            "type",
        ),
        // the envelope
        (
            edited(ce::GEKOPPELD, |m| {
                m.remove("specversion");
            }),
            "specversion",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("specversion".into(), "0.3".into());
            }),
            "specversion",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("specversion".into(), "2.0".into());
            }),
            "specversion",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("specversion".into(), 1.into());
            }),
            "specversion",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.remove("id");
            }),
            "id",
        ),
        (edited(ce::GEKOPPELD, |m| m["id"] = "".into()), "id"),
        (
            edited(ce::GEKOPPELD, |m| {
                m.remove("source");
            }),
            "source",
        ),
        (edited(ce::GEKOPPELD, |m| m["source"] = Value::Null), "source"),
        (
            edited(ce::GEKOPPELD, |m| {
                m.remove("type");
            }),
            "type",
        ),
        (edited(ce::GEKOPPELD, |m| m["type"] = Value::Bool(true)), "type"),
        (edited(ce::GEKOPPELD, |m| m["time"] = "gisteren".into()), "time"),
        (edited(ce::GEKOPPELD, |m| m["subject"] = 3.into()), "subject"),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("dataschema".into(), "not a url".into());
            }),
            "body",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("ext".into(), serde_json::json!({"nested": 1}));
            }),
            "body",
        ),
        (
            edited(ce::GEKOPPELD, |m| {
                m.insert("data_base64".into(), "e30=".into());
            }),
            "body",
        ),
        // the body
        (b"".to_vec(), "body"),
        (b"[]".to_vec(), "body"),
        (b"{\"specversion\":".to_vec(), "body"),
        (vec![0xff, b'{', b'}'], "body"),
        ("[".repeat(10_000).into_bytes(), "body"),
    ];
    for (body, field) in cases {
        let e = intent(&body).unwrap_err();
        assert_eq!(
            e.field,
            field,
            "{} -> {e}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        assert_eq!(e.what, "CloudEvent");
        assert!(e.to_string().starts_with("invalid CloudEvent: "), "{e}");
        // The answer names the rule, never Open Klant's host or path (as for resourceUrl).
        assert!(
            !e.to_string().contains("127.0.0.1:8000") && !e.to_string().contains("/klantinteracties/api/v1/"),
            "{e}"
        );
    }
}

#[test]
fn the_form_is_recognised_by_content_type_or_specversion() {
    let body = ce::GEKOPPELD.as_bytes();
    let is_ce =
        |ct: Option<&str>, body: &[u8]| matches!(parse(ct.map(str::as_bytes), body), Ok(Body::CloudEvent(_)));
    for ct in [
        Some("application/cloudevents+json"),
        Some("Application/CloudEvents+JSON"),
        Some("application/cloudevents+json; charset=utf-8"),
        Some(" application/cloudevents+json ;charset=UTF-8"),
        // a CloudEvent under another content type: recognised by its specversion
        Some("application/json"),
        Some("text/plain"),
        None,
    ] {
        assert!(is_ce(ct, body), "{ct:?}");
    }
    // the classic form, whatever the content type
    for ct in [
        None,
        Some("application/json"),
        Some("application/cloudevents+json"),
    ] {
        let got = parse(ct.map(str::as_bytes), samples::CREATE.as_bytes());
        if ct == Some(CONTENT_TYPE) {
            // declared a CloudEvent, so read as one: a notification is no CloudEvent
            assert!(
                matches!(&got, Err(Refused::Input(e)) if e.field == "specversion"),
                "{got:?}"
            );
        } else {
            assert!(matches!(got, Ok(Body::Notification(_))), "{ct:?}");
        }
    }
    // Open Notificaties' test notification is classic
    assert!(matches!(
        parse(Some(b"application/json"), samples::TEST_CALLBACK.as_bytes()),
        Ok(Body::Notification(_))
    ));
    // a notification with a stray specversion stays a notification
    let stray = edited(samples::CREATE, |m| {
        m.insert("specversion".into(), "1.0".into());
    });
    assert!(matches!(parse(None, &stray), Ok(Body::Notification(_))));
    // a batch is refused (415), whatever it holds
    for ct in [
        "application/cloudevents-batch+json",
        "APPLICATION/CLOUDEVENTS-BATCH+JSON; charset=utf-8",
    ] {
        assert_eq!(parse(Some(ct.as_bytes()), b"[]"), Err(Refused::Batch), "{ct}");
    }
}

#[test]
fn transformed_notification_carries_kenmerken_and_source() {
    let Body::CloudEvent(ev) = parse(CT, ce::KC_CREATE.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(
        transformed(ev.ty()),
        Some(("klantcontacten", "klantcontact", "create"))
    );
    assert_eq!(transformed("nl.overheid.zaken.zaak-gekoppeld"), None);
    assert_eq!(
        transformed("nl.overheid.a.b.onderwerpobject.update"),
        Some(("a.b", "onderwerpobject", "update"))
    );
    // null dataref (as Open Klant posts it) and unknown scalar extensions are accepted
    let with_ext = edited(ce::GEKOPPELD, |m| {
        m.insert("dataref".into(), Value::Null);
        m.insert("traceparent".into(), "00-abc".into());
    });
    assert_eq!(intent(&with_ext).unwrap(), oo_intent());
}
