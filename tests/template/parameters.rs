//! The parameters: no secret values, https roots, and the SAM CLI configuration.

use serde_json::{json, Value};

use super::helpers::{functions, props, template};

#[test]
fn no_parameter_carries_a_secret_value() {
    let t = template();
    for (name, p) in t["Parameters"].as_object().unwrap() {
        let lower = name.to_lowercase();
        let sensitive = ["secret", "token", "auth", "password", "credential", "key"]
            .iter()
            .any(|w| lower.contains(w));
        if sensitive {
            assert!(
                name.ends_with("Name"),
                "{name}: a sensitive setting is given by the NAME of a secret or parameter"
            );
            let default = p.get("Default").and_then(Value::as_str).unwrap_or("");
            assert_eq!(default, "", "{name} has no default");
        }
        if let Some(d) = p.get("Default").and_then(Value::as_str) {
            assert!(
                !d.starts_with("Bearer ") && !d.starts_with("Token "),
                "{name}: default looks like a credential"
            );
        }
    }
}

#[test]
fn roots_are_https_unless_a_test_stack_allows_plain_http() {
    let t = template();
    let p = &t["Parameters"];
    let pattern = |name: &str| regex::Regex::new(p[name]["AllowedPattern"].as_str().unwrap()).unwrap();
    // First layer, the parameters: http(s) only, never user:password@.
    let ok_root = pattern("OpenKlantApiRoot");
    for good in [
        "https://klant.example.nl/klantinteracties/api/v1/",
        "https://klant.example.nl:8443/klantinteracties/api/v1",
        "http://127.0.0.1:8000/klantinteracties/api/v1/",
    ] {
        assert!(ok_root.is_match(good), "{good}");
    }
    for bad in [
        "https://user:pass@klant.example.nl/klantinteracties/api/v1/",
        "https://token@klant.example.nl/api/",
        "ftp://klant.example.nl/",
        "klant.example.nl/klantinteracties/api/v1/",
        "https://klant.example.nl/api v1/",
        "https://klant.example.nl/api/?x=1",
        "https:///api/",
    ] {
        assert!(!ok_root.is_match(bad), "{bad}");
    }
    let oz_root = pattern("OpenZaakRoot");
    for good in [
        "https://zaken.example.nl",
        "https://zaken.example.nl/open-zaak",
        "http://127.0.0.1:8001",
    ] {
        assert!(oz_root.is_match(good), "{good}");
    }
    for bad in [
        "https://zaken.example.nl/",
        "https://user:secret@zaken.example.nl",
        "https://zaken.example.nl?x=1",
        "https://zaken.example.nl/#f",
        "zaken.example.nl",
    ] {
        assert!(!oz_root.is_match(bad), "{bad}");
    }
    // Second layer, the functions: http:// only with ALLOW_PLAIN_HTTP=true, from AllowPlainHttp.
    assert_eq!(p["AllowPlainHttp"]["Default"], "false");
    assert_eq!(p["AllowPlainHttp"]["AllowedValues"], json!(["true", "false"]));
    for function in functions(&t) {
        let vars = &props(&t, &function)["Environment"]["Variables"];
        assert_eq!(
            vars["ALLOW_PLAIN_HTTP"],
            json!({"Ref": "AllowPlainHttp"}),
            "{function}"
        );
    }
    assert!(zaaklink::config::refuse_plain_http("http://127.0.0.1:8001", false).is_err());
    assert!(zaaklink::config::refuse_plain_http("https://zaken.example.nl", false).is_ok());
}

#[test]
fn samconfig_is_for_current_sam_cli_and_build_output_is_ignored() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let sam = std::fs::read_to_string(format!("{dir}/samconfig.toml")).unwrap();
    for gone in ["beta_features", "cached"] {
        assert!(
            !sam.lines().any(|l| l.trim_start().starts_with(gone)),
            "samconfig.toml: {gone}"
        );
    }
    let ignore = std::fs::read_to_string(format!("{dir}/.gitignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == ".aws-sam/"),
        ".gitignore: .aws-sam/"
    );
}
