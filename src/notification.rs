//! The Open Notificaties webhook body: parse, validate and decide what it means (pure, DESIGN §1).

use serde_json::{Map, Value};

use crate::openklant::ApiRoot;

/// A notification, as Open Notificaties POSTs it (fields camelCase).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub kanaal: String,
    pub hoofd_object: String,
    pub resource: String,
    pub resource_url: String,
    pub actie: String,
    pub aanmaakdatum: String,
    pub kenmerken: Map<String, Value>,
    pub source: Option<String>,
}

/// Bad input: which field, and what is wrong with it (answered 400, changes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: `{field}` {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
    /// What was refused: `notification`, or `CloudEvent` ([`crate::cloudevent_in`]).
    pub what: &'static str,
}

impl InputError {
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        InputError {
            field: field.to_string(),
            problem: problem.into(),
            what: "notification",
        }
    }

    /// The same refusal, about a CloudEvent.
    pub fn in_cloudevent(mut self) -> Self {
        self.what = "CloudEvent";
        self
    }
}

/// The four `actie` values Open Notificaties sends for klantinteracties resources.
pub const ACTIES: [&str; 4] = ["create", "update", "partial_update", "destroy"];

/// Parse and validate a webhook body.
pub fn parse(body: &[u8]) -> Result<Notification, InputError> {
    from_object(json_object(body)?)
}

/// The body as a JSON object (UTF-8, valid JSON, an object), or the 400 that says why.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, InputError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| InputError::new("body", "is not UTF-8 text; send the notification as JSON"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        InputError::new(
            "body",
            format!("is not valid JSON ({e}); send the notification as a JSON object"),
        )
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(InputError::new("body", "must be a JSON object")),
    }
}

/// Validate a notification already read as a JSON object ([`json_object`]).
pub fn from_object(mut obj: Map<String, Value>) -> Result<Notification, InputError> {
    let mut text_field = |name: &str, required: bool| -> Result<Option<String>, InputError> {
        match obj.remove(name) {
            Some(Value::String(s)) => Ok(Some(s)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(InputError::new(
                name,
                "is missing; Open Notificaties always sends it",
            )),
            Some(_) => Err(InputError::new(name, "must be a string")),
        }
    };
    let kanaal = text_field("kanaal", true)?.unwrap_or_default();
    let hoofd_object = text_field("hoofdObject", true)?.unwrap_or_default();
    let resource = text_field("resource", true)?.unwrap_or_default();
    let resource_url = text_field("resourceUrl", true)?.unwrap_or_default();
    let actie = text_field("actie", true)?.unwrap_or_default();
    let aanmaakdatum = text_field("aanmaakdatum", false)?.unwrap_or_default();
    let source = text_field("source", false)?;
    let kenmerken = match obj.remove("kenmerken") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(InputError::new("kenmerken", "must be an object")),
    };
    for (name, v) in [("kanaal", &kanaal), ("resource", &resource), ("actie", &actie)] {
        if v.is_empty() {
            return Err(InputError::new(name, "is empty"));
        }
    }
    Ok(Notification {
        kanaal,
        hoofd_object,
        resource,
        resource_url,
        actie,
        aanmaakdatum,
        kenmerken,
        source,
    })
}

/// Why a URL in a request is refused (400), naming the rule and the setting but never Open
/// Klant's host or path: the answer goes to whoever sent the request.
pub fn refused_url(why: &str, collection: Option<&str>) -> String {
    let place = collection.map_or(String::new(), |c| format!("{c}/<uuid> "));
    format!(
        "is refused: {why} (must be {place}under the Open Klant API root that zaaklink is configured with, OPEN_KLANT_API_ROOT)"
    )
}

/// What a notification asks zaaklink to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Reconcile this one onderwerpobject (`destroyed`: it is gone, no GET needed).
    Onderwerpobject {
        uuid: String,
        url: String,
        destroyed: bool,
    },
    /// Reconcile every onderwerpobject of this klantcontact (`destroyed`: all are gone).
    Klantcontact { url: String, destroyed: bool },
    /// Not ours: acknowledged (204) and ignored.
    Ignore(String),
}

/// Decide what the notification means; refuse (400) any URL outside the API root before
/// anything is fetched.
pub fn classify(n: &Notification, root: &ApiRoot) -> Result<Intent, InputError> {
    let kind = match (n.kanaal.as_str(), n.resource.as_str()) {
        (_, "onderwerpobject") => "onderwerpobjecten",
        ("klantcontacten", "klantcontact") => "klantcontacten",
        (kanaal, resource) => {
            return Ok(Intent::Ignore(format!(
                "kanaal {kanaal:?} resource {resource:?} is not about onderwerpobjecten"
            )))
        }
    };
    if !ACTIES.contains(&n.actie.as_str()) {
        return Err(InputError::new(
            "actie",
            format!("is {:?}; expected one of {}", n.actie, ACTIES.join(", ")),
        ));
    }
    // The answer goes to whoever sent the request: it names the rule, never Open Klant's
    // host or path (the operator knows OPEN_KLANT_API_ROOT; a stranger need not learn it).
    let (url, uuid) = root
        .resource_uuid(&n.resource_url, kind)
        .map_err(|e| InputError::new("resourceUrl", refused_url(e.why, Some(kind))))?;
    root.check(&n.hoofd_object)
        .map_err(|e| InputError::new("hoofdObject", refused_url(e.why, None)))?;
    let destroyed = n.actie == "destroy";
    Ok(match kind {
        "onderwerpobjecten" => Intent::Onderwerpobject {
            uuid,
            url: url.to_string(),
            destroyed,
        },
        _ => Intent::Klantcontact {
            url: url.to_string(),
            destroyed,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = include_str!("../tests/fixtures/notification-onderwerpobject-create.json");
    const KC_DESTROY: &str = include_str!("../tests/fixtures/notification-klantcontact-destroy.json");

    fn root() -> ApiRoot {
        ApiRoot::parse("http://open-klant.local:8000/klantinteracties/api/v1/").unwrap()
    }

    fn with(body: &str, field: &str, v: Value) -> Vec<u8> {
        let mut m: Map<String, Value> = serde_json::from_str(body).unwrap();
        if v.is_null() && field.starts_with('-') {
            m.remove(&field[1..]);
        } else {
            m.insert(field.to_string(), v);
        }
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn fixtures_parse_and_classify() {
        let n = parse(CREATE.as_bytes()).unwrap();
        assert_eq!(n.actie, "create");
        assert_eq!(
            classify(&n, &root()).unwrap(),
            Intent::Onderwerpobject {
                uuid: "5fee9673-216c-41e7-91d2-69a8d1526b9f".into(),
                url: n.resource_url.clone(),
                destroyed: false
            }
        );
        let n = parse(KC_DESTROY.as_bytes()).unwrap();
        assert_eq!(
            classify(&n, &root()).unwrap(),
            Intent::Klantcontact {
                url: n.resource_url.clone(),
                destroyed: true
            }
        );
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "body"),
            (b"{".to_vec(), "body"),
            (b"[]".to_vec(), "body"),
            (b"null".to_vec(), "body"),
            (vec![0xff, 0xfe, b'{', b'}'], "body"),
            (with(CREATE, "-resource", Value::Null), "resource"),
            (with(CREATE, "resource", Value::from(3)), "resource"),
            (with(CREATE, "-resourceUrl", Value::Null), "resourceUrl"),
            (with(CREATE, "resourceUrl", Value::Bool(true)), "resourceUrl"),
            (with(CREATE, "-actie", Value::Null), "actie"),
            (with(CREATE, "actie", Value::from("")), "actie"),
            (with(CREATE, "-kanaal", Value::Null), "kanaal"),
            (with(CREATE, "-hoofdObject", Value::Null), "hoofdObject"),
            (with(CREATE, "kenmerken", Value::from("x")), "kenmerken"),
            (with(CREATE, "aanmaakdatum", Value::from(1)), "aanmaakdatum"),
            ("[".repeat(10_000).into_bytes(), "body"),
        ];
        for (body, field) in cases {
            let e = parse(&body).unwrap_err();
            assert_eq!(
                e.field,
                field,
                "{}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
        }
    }

    #[test]
    fn classify_table() {
        let r = root();
        let base = "http://open-klant.local:8000/klantinteracties/api/v1/";
        let u = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
        let n = |kanaal: &str, resource: &str, url: String, actie: &str| {
            let mut n = parse(CREATE.as_bytes()).unwrap();
            n.kanaal = kanaal.into();
            n.resource = resource.into();
            n.resource_url = url;
            n.actie = actie.into();
            n
        };
        let oo = format!("{base}onderwerpobjecten/{u}");
        let kc = format!("{base}klantcontacten/{u}");
        // handled
        for actie in ACTIES {
            assert!(
                matches!(classify(&n("klantcontacten", "onderwerpobject", oo.clone(), actie), &r),
                Ok(Intent::Onderwerpobject { destroyed, .. }) if destroyed == (actie == "destroy"))
            );
            assert!(
                matches!(classify(&n("klantcontacten", "klantcontact", kc.clone(), actie), &r),
                Ok(Intent::Klantcontact { destroyed, .. }) if destroyed == (actie == "destroy"))
            );
        }
        // any kanaal for onderwerpobject
        assert!(matches!(
            classify(&n("anders", "onderwerpobject", oo.clone(), "update"), &r),
            Ok(Intent::Onderwerpobject { .. })
        ));
        // ignored
        for (kanaal, resource) in [
            ("zaken", "zaak"),
            ("klantcontacten", "betrokkene"),
            ("anders", "klantcontact"),
            ("klantcontacten", "Onderwerpobject"),
        ] {
            assert!(
                matches!(
                    classify(&n(kanaal, resource, oo.clone(), "create"), &r),
                    Ok(Intent::Ignore(_))
                ),
                "{kanaal}/{resource}"
            );
        }
        // refused
        let bad = [
            (
                "onderwerpobject",
                format!("https://evil.example/klantinteracties/api/v1/onderwerpobjecten/{u}"),
                "create",
                "resourceUrl",
            ),
            ("onderwerpobject", kc.clone(), "create", "resourceUrl"),
            ("klantcontact", oo.clone(), "destroy", "resourceUrl"),
            ("onderwerpobject", oo.clone(), "delete", "actie"),
            ("onderwerpobject", oo.clone(), "CREATE", "actie"),
        ];
        for (resource, url, actie, field) in bad {
            let e = classify(&n("klantcontacten", resource, url.clone(), actie), &r).unwrap_err();
            assert_eq!(e.field, field, "{url} {actie}");
            // the 400 body names the rule, not Open Klant's host
            assert!(!e.to_string().contains("open-klant.local"), "{e}");
            if field == "resourceUrl" {
                assert!(e.to_string().contains("OPEN_KLANT_API_ROOT"), "{e}");
            }
        }
        let mut hoofd = n("klantcontacten", "onderwerpobject", oo, "create");
        hoofd.hoofd_object = "https://evil.example/x".into();
        let e = classify(&hoofd, &r).unwrap_err();
        assert_eq!(e.field, "hoofdObject");
        assert!(!e.to_string().contains("open-klant.local"), "{e}");
    }
}
