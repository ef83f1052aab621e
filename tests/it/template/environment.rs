//! The functions' environment against the `### Configuration` table of docs/DESIGN.md.

use serde_json::json;
use std::collections::BTreeSet;

use super::helpers::{props, template};

/// The settings docs/DESIGN.md §6 lists in its `### Configuration` table (first column)
/// whose "Used by" column (second) names the webhook.
fn design_settings() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/DESIGN.md");
    let design = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = design
        .find("### Configuration")
        .expect("docs/DESIGN.md has a `### Configuration` section");
    let names: BTreeSet<String> = design[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            (cells.len() > 3 && cells[2].contains("webhook")).then(|| cells[1].to_owned())
        })
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        names.len() >= 8,
        "the configuration table of docs/DESIGN.md lists too few webhook settings: {names:?}"
    );
    names
}

#[test]
fn webhook_env_carries_every_design_setting_and_secrets_by_name_only() {
    let t = template();
    let vars = &props(&t, "WebhookFunction")["Environment"]["Variables"];
    let settings = design_settings();
    for expected in [
        "ENABLE_CLOUD_EVENTS",
        "NOTIFICATIONS_SOURCE",
        "WEBHOOK_AUTH",
        "OPEN_KLANT_API_ROOT",
        "OPEN_KLANT_API_TOKEN",
        "LINKS_TABLE",
        "EVENT_BUS_NAME",
        "LABEL_MAX_CHARS",
        "AWS_ENDPOINT_URL",
    ] {
        assert!(settings.contains(expected), "DESIGN §6 lists {expected}");
    }
    let secrets = ["WEBHOOK_AUTH", "OPEN_KLANT_API_TOKEN"];
    for setting in &settings {
        if setting == "AWS_ENDPOINT_URL" {
            // Emulators only: never set in AWS (the SDK would leave the real endpoints).
            assert!(vars.get(setting).is_none(), "{setting} must not be set");
        } else if secrets.contains(&setting.as_str()) {
            assert!(
                vars.get(setting).is_none(),
                "{setting}: the value must not be in the template"
            );
            let by_secret = format!("{setting}_SECRET_ID");
            let by_parameter = format!("{setting}_SSM_PARAMETER");
            for by_name in [&by_secret, &by_parameter] {
                let v = vars.get(by_name).unwrap_or_else(|| panic!("{by_name} is set"));
                // Only when its name parameter is given.
                assert!(v.get("Fn::If").is_some(), "{by_name} is conditional");
            }
        } else {
            assert!(vars.get(setting).is_some(), "{setting} is set on the webhook");
        }
    }
    assert_eq!(vars["LINKS_TABLE"], json!({"Ref": "LinksTable"}));
    assert_eq!(vars["EVENT_BUS_NAME"], json!({"Ref": "EventBus"}));
    assert_eq!(vars["RUST_LOG"], json!({"Ref": "LogLevel"}));
    assert_eq!(t["Parameters"]["LogLevel"]["Default"], "info");
}

/// The rows of docs/DESIGN.md's `### Configuration` table: (settings, "Used by").
fn design_rows() -> Vec<(Vec<String>, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/DESIGN.md");
    let design = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = design.find("### Configuration").unwrap();
    design[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            (cells.len() > 3).then(|| {
                let names = cells[1]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                (names, cells[2].to_owned())
            })
        })
        .collect()
}

#[test]
fn design_lists_the_settings_the_stack_gives_every_function() {
    let t = template();
    let rows = design_rows();
    for setting in ["ALLOW_PLAIN_HTTP", "METRICS_NAMESPACE", "RUST_LOG"] {
        let (_, used_by) = rows
            .iter()
            .find(|(names, _)| names.iter().any(|n| n == setting))
            .unwrap_or_else(|| panic!("DESIGN §6 Configuration lists {setting}"));
        for (who, function) in [
            ("webhook", "WebhookFunction"),
            ("resync", "ResyncFunction"),
            ("deliver", "DeliveryFunction"),
        ] {
            assert!(used_by.contains(who), "{setting}: used by {who} ({used_by})");
            assert!(
                props(&t, function)["Environment"]["Variables"]
                    .get(setting)
                    .is_some(),
                "{setting} is set on {function}"
            );
        }
    }
}
