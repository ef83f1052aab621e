//! The URL guard: `OPEN_KLANT_API_ROOT`, checked once, and every URL zaaklink fetches held
//! against it, so the token never leaves for another host.

use url::Url;

/// `OPEN_KLANT_API_ROOT`, e.g. `https://klant.example.nl/klantinteracties/api/v1/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot(Url);

/// A URL the guard refused; carries no secret, names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not an Open Klant URL under OPEN_KLANT_API_ROOT {root}: {why}")]
pub struct UrlRefused {
    pub url: String,
    pub root: String,
    pub why: &'static str,
}

impl ApiRoot {
    /// Parse and check the root: http(s), a host, no userinfo, query or fragment.
    /// Errors show the value with any user info redacted (`https://***@host/`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = &crate::secret::redact(raw);
        let mut url = Url::parse(raw.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{s:?} must start with https:// (or http:// for local use)"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{s:?} has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{s:?} must not contain user info; the token goes in OPEN_KLANT_API_TOKEN"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{s:?} must not have a query or fragment"));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(ApiRoot(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Resolve a path below the root (`onderwerpobjecten?…`).
    pub fn join(&self, rel: &str) -> Url {
        self.0
            .join(rel)
            .expect("a relative path joins onto an http(s) root")
    }

    /// Accept `url` only when it lies under the root: same scheme, host and port, no user
    /// info, path below the root's after normalisation (`..`, `%2e`, `\` are resolved by the
    /// WHATWG parser first, so they cannot climb out).
    pub fn check(&self, url: &str) -> Result<Url, UrlRefused> {
        let refuse = |why| UrlRefused {
            url: crate::secret::redact(&url.chars().take(200).collect::<String>()),
            root: self.0.to_string(),
            why,
        };
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refuse("it contains white space or control characters"));
        }
        let parsed = Url::parse(url).map_err(|_| refuse("it is not an absolute URL"))?;
        if parsed.scheme() != self.0.scheme() {
            return Err(refuse("other scheme"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refuse("it carries user info"));
        }
        if parsed.host() != self.0.host() || parsed.port_or_known_default() != self.0.port_or_known_default()
        {
            return Err(refuse("other host or port"));
        }
        if !parsed.path().starts_with(self.0.path()) {
            return Err(refuse("its path is outside the API root"));
        }
        if parsed.fragment().is_some() {
            return Err(refuse("it has a fragment"));
        }
        Ok(parsed)
    }

    /// Accept `url` only as `{root}{collection}/{uuid}` (optionally with a trailing slash)
    /// and return the canonical uuid.
    pub fn resource_uuid(&self, url: &str, collection: &str) -> Result<(Url, String), UrlRefused> {
        let parsed = self.check(url)?;
        let refuse = |why| UrlRefused {
            url: crate::secret::redact(&url.chars().take(200).collect::<String>()),
            root: self.0.to_string(),
            why,
        };
        if parsed.query().is_some() {
            return Err(refuse("a resource URL has no query"));
        }
        let rest = &parsed.path()[self.0.path().len()..];
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let Some((coll, id)) = rest.split_once('/') else {
            return Err(refuse("it is not a resource URL ({collection}/{uuid})"));
        };
        if coll != collection {
            return Err(refuse("it names another kind of resource"));
        }
        let uuid = uuid::Uuid::parse_str(id).map_err(|_| refuse("its last segment is not a uuid"))?;
        if id.len() != 36 {
            return Err(refuse("its last segment is not a hyphenated uuid"));
        }
        Ok((parsed, uuid.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://klant.example.nl/klantinteracties/api/v1/";
    const U: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";

    #[test]
    fn root_is_validated() {
        assert!(ApiRoot::parse(ROOT).is_ok());
        assert_eq!(
            ApiRoot::parse("https://klant.example.nl/klantinteracties/api/v1")
                .unwrap()
                .as_str(),
            ROOT
        );
        for bad in [
            "klant.example.nl/api",
            "ftp://klant.example.nl/api/",
            "https://user:pw@klant.example.nl/api/",
            "https://klant.example.nl/api/?x=1",
            "",
        ] {
            assert!(ApiRoot::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guard_accepts_only_urls_under_the_root() {
        let root = ApiRoot::parse(ROOT).unwrap();
        let ok = format!("{ROOT}onderwerpobjecten/{U}");
        assert_eq!(root.resource_uuid(&ok, "onderwerpobjecten").unwrap().1, U);
        assert_eq!(
            root.resource_uuid(&format!("{ok}/"), "onderwerpobjecten")
                .unwrap()
                .1,
            U
        );
        assert_eq!(
            root.resource_uuid(
                &ok.replace("klant.example.nl", "KLANT.example.nl:443"),
                "onderwerpobjecten"
            )
            .unwrap()
            .1,
            U
        );
        let refused = [
            format!("https://evil.example/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("http://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl:8443/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl@evil.example/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://x:y@klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/../../admin/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/%2e%2e/%2e%2e/x/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/..\\..\\{U}"),
            format!("https://klant.example.nl/other/api/v1/onderwerpobjecten/{U}"),
            format!("https://93.184.216.34/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://[::1]/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/klantcontacten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}?x=1"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}#f"),
            format!("https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}/extra"),
            format!(
                "https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{}",
                U.replace('-', "")
            ),
            "https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/not-a-uuid".to_string(),
            format!("file:///klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("javascript:alert(1)//klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("//klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!(" https://klant.example.nl/klantinteracties/api/v1/onderwerpobjecten/{U}"),
            format!("https://klant.example.nl/klantinteracties/api/v1onderwerpobjecten/{U}"),
        ];
        for url in refused {
            assert!(root.resource_uuid(&url, "onderwerpobjecten").is_err(), "{url}");
        }
    }
}
