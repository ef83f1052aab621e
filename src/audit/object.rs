//! What a ZaakObject's `object` names (pure): an onderwerpobject of Open Klant, a malformed
//! onderwerpobject URL, or anything else (never read as a difference, never touched).

use crate::openklant::ApiRoot;

/// The collection of Open Klant's onderwerpobjecten under `OPEN_KLANT_API_ROOT`.
pub const COLLECTION: &str = "onderwerpobjecten";

/// What a ZaakObject's `object` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// `{OPEN_KLANT_API_ROOT}onderwerpobjecten/<uuid>`: this onderwerpobject (uuid in
    /// canonical lower case, the state key).
    Onderwerpobject(String),
    /// Under `{OPEN_KLANT_API_ROOT}onderwerpobjecten` but no onderwerpobject URL (no uuid,
    /// extra segments, a query, white space, …): reported as malformed, never repaired.
    Malformed(&'static str),
    /// Anything else: another host, another Open Klant resource (a klantcontact, …), not a URL.
    Elsewhere,
}

/// Classify `object` against the root (DESIGN §9, "Which relations").
pub fn classify(root: &ApiRoot, object: &str) -> Named {
    let collection = format!("{}{COLLECTION}", root.as_str());
    // textually under the collection (also when it does not parse), or after parsing (a host
    // in capitals, a default port written out)
    let textual = object
        .strip_prefix(&collection)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']));
    let parsed = url::Url::parse(root.as_str())
        .ok()
        .zip(url::Url::parse(object).ok());
    let under = parsed.is_some_and(|(r, o)| {
        let prefix = format!("{}{COLLECTION}", r.path());
        o.scheme() == r.scheme()
            && o.host() == r.host()
            && o.port_or_known_default() == r.port_or_known_default()
            && o.path()
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if !textual && !under {
        return Named::Elsewhere;
    }
    match root.resource_uuid(object, COLLECTION) {
        Ok((_, uuid)) => Named::Onderwerpobject(uuid),
        Err(refused) => Named::Malformed(refused.why),
    }
}

/// The zaak a ZaakObject's `zaak` URL names, as zaaklink keys it: the last path segment, a
/// uuid in canonical lower case when it is one (Open Klant's `objectId` compares the same way
/// through [`zaak_key`]).
pub fn zaak_of_url(zaak_url: &str) -> String {
    let last = zaak_url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    zaak_key(last)
}

/// A zaak id compared across both sides: a uuid in canonical lower case, anything else as is
/// (Open Zaak resolves `urn:uuid:<objectId>` case-insensitively).
pub fn zaak_key(id: &str) -> String {
    match uuid::Uuid::parse_str(id) {
        Ok(u) if id.len() == 36 => u.to_string(),
        _ => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://klant.example.nl/klantinteracties/api/v1/";
    const U: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";

    #[test]
    fn objects_are_classified() {
        let root = ApiRoot::parse(ROOT).unwrap();
        let oo = |rest: &str| format!("{ROOT}onderwerpobjecten{rest}");
        for (object, want) in [
            (oo(&format!("/{U}")), Named::Onderwerpobject(U.into())),
            (oo(&format!("/{U}/")), Named::Onderwerpobject(U.into())),
            (
                oo(&format!("/{}", U.to_uppercase())),
                Named::Onderwerpobject(U.into()),
            ),
            (
                format!("https://KLANT.example.nl:443/klantinteracties/api/v1/onderwerpobjecten/{U}"),
                Named::Onderwerpobject(U.into()),
            ),
            (
                oo("/not-a-uuid"),
                Named::Malformed("its last segment is not a uuid"),
            ),
            (
                oo(&format!("/{U}/extra")),
                Named::Malformed("its last segment is not a uuid"),
            ),
            (
                oo(&format!("/{U}?x=1")),
                Named::Malformed("a resource URL has no query"),
            ),
            (
                oo(&format!("/{U} ")),
                Named::Malformed("it contains white space or control characters"),
            ),
            (
                oo(""),
                Named::Malformed("it is not a resource URL ({collection}/{uuid})"),
            ),
            (
                oo(&format!("/{}", U.replace('-', ""))),
                Named::Malformed("its last segment is not a hyphenated uuid"),
            ),
            // another Open Klant resource: not an onderwerpobject relation
            (format!("{ROOT}klantcontacten/{U}"), Named::Elsewhere),
            (format!("{ROOT}onderwerpobjectenx/{U}"), Named::Elsewhere),
            (format!("{ROOT}betrokkenen/{U}"), Named::Elsewhere),
            // elsewhere entirely
            (
                format!("https://objecten.example.nl/api/v2/objects/{U}"),
                Named::Elsewhere,
            ),
            (
                format!("http://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
                Named::Elsewhere,
            ),
            (
                format!("https://klant.example.nl/other/api/v1/onderwerpobjecten/{U}"),
                Named::Elsewhere,
            ),
            ("".into(), Named::Elsewhere),
            ("not a url".into(), Named::Elsewhere),
        ] {
            assert_eq!(classify(&root, &object), want, "{object:?}");
        }
    }

    #[test]
    fn zaak_urls_and_ids_compare_by_uuid() {
        for (url, want) in [
            (
                format!("https://oz.example/zaken/api/v1/zaken/{U}"),
                U.to_string(),
            ),
            (
                format!("https://oz.example/zaken/api/v1/zaken/{U}/"),
                U.to_string(),
            ),
            (
                format!("https://oz.example/zaken/api/v1/zaken/{}", U.to_uppercase()),
                U.to_string(),
            ),
            ("https://oz.example/zaken/api/v1/zaken/Z-1".into(), "Z-1".into()),
        ] {
            assert_eq!(zaak_of_url(&url), want, "{url}");
        }
        assert_eq!(zaak_key(&U.to_uppercase()), U);
        assert_eq!(zaak_key("zaak-7"), "zaak-7");
    }
}
