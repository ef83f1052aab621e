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

/// `sam deploy --guided` asks one question per parameter: few parameters, only the two roots
/// without a default, every one in a parameter group, and DEPLOY.md says how many there are.
/// The short path of samconfig.toml (and DEPLOY.md) sets only parameters that exist.
#[test]
fn a_short_list_of_parameters_and_a_short_path_through_them() {
    let t = template();
    let params = t["Parameters"].as_object().unwrap();
    let without_default: Vec<&str> = params
        .iter()
        .filter(|(_, p)| p.get("Default").is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(without_default, ["OpenKlantApiRoot", "OpenZaakRoot"]);

    let grouped: Vec<String> = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["Parameters"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    for name in params.keys() {
        assert_eq!(
            grouped.iter().filter(|g| *g == name).count(),
            1,
            "{name} in one ParameterGroup"
        );
    }
    for name in &grouped {
        assert!(
            params.contains_key(name),
            "ParameterGroups name {name}, which is no parameter"
        );
    }

    let dir = env!("CARGO_MANIFEST_DIR");
    let deploy = std::fs::read_to_string(format!("{dir}/docs/DEPLOY.md")).unwrap();
    let stated = format!("**{} parameters**", params.len());
    assert!(deploy.contains(&stated), "docs/DEPLOY.md states {stated}");

    // `#   Name=value \` lines of samconfig.toml's commented parameter_overrides
    let sam = std::fs::read_to_string(format!("{dir}/samconfig.toml")).unwrap();
    let overrides: Vec<&str> = sam
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(
        overrides.len() >= 6,
        "samconfig.toml has the short path: {overrides:?}"
    );
    for name in &overrides {
        assert!(
            params.contains_key(*name),
            "samconfig.toml sets {name}, which is no parameter"
        );
        assert!(
            deploy.contains(&format!("{name}=")),
            "docs/DEPLOY.md's short path sets {name}"
        );
    }
    for name in without_default {
        assert!(overrides.contains(&name), "the short path sets {name}");
    }
}
