//! The Lambda functions' refusal of plain-http roots.

/// The Lambda functions talk https only: an `http://` root (Open Klant's, Open Zaak's) is
/// refused unless `ALLOW_PLAIN_HTTP` is true (test stacks; the template's `AllowPlainHttp`).
/// The CLI (`serve`, `resync`, …) runs on laptops and never applies this. The `Err` is the
/// problem and the fix, without the URL (a root could carry user info).
pub fn refuse_plain_http(url: &str, allow_plain_http: bool) -> Result<(), String> {
    let scheme = url.trim().split(':').next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("http") && !allow_plain_http {
        return Err(
            "is an http:// URL, and the Lambda functions only talk https (tokens and personal data must not cross the network in clear text): \
             use the https:// URL, or for a test stack set ALLOW_PLAIN_HTTP=true (stack parameter AllowPlainHttp=true)"
                .to_string(),
        );
    }
    Ok(())
}
