//! Least privilege: the policies of the webhook and deliver functions (the resync's policy
//! is checked with its schedule, in `schedules.rs`).

use serde_json::json;
use std::collections::BTreeSet;

use super::helpers::{
    actions, assert_no_wildcard_resource, get_att, props, resource, resources_of, statements, template,
};

#[test]
fn webhook_policy_is_least_privilege() {
    let t = template();
    let links_arn = get_att("LinksTable", "Arn");
    let links_indexes = json!({"Fn::Sub": "${LinksTable.Arn}/index/*"});
    let mut saw = BTreeSet::new();
    for (condition, s) in statements(&t, "WebhookFunction") {
        assert_eq!(s["Effect"], "Allow");
        let acts = actions(&s);
        // The one "*": BatchGetSecretValue has no resource-level permission and returns only
        // the secrets GetSecretValue (scoped below) allows; granted only when both are named.
        if acts == vec!["secretsmanager:BatchGetSecretValue"] {
            assert_eq!(condition.as_deref(), Some("HasBothTokenSecrets"));
            assert_eq!(s["Resource"], json!("*"));
            assert_eq!(
                t["Conditions"]["HasBothTokenSecrets"],
                json!({"Fn::And": [{"Condition": "HasWebhookAuthSecret"}, {"Condition": "HasOpenKlantTokenSecret"}]})
            );
            continue;
        }
        assert_no_wildcard_resource(&s, "WebhookFunction");
        let service = acts[0].split(':').next().unwrap().to_owned();
        assert!(
            acts.iter().all(|a| a.starts_with(&format!("{service}:"))),
            "one service per statement: {acts:?}"
        );
        saw.insert(service.clone());
        match service.as_str() {
            "dynamodb" => {
                assert_eq!(condition, None);
                let set: BTreeSet<_> = acts.iter().map(String::as_str).collect();
                assert_eq!(
                    set,
                    BTreeSet::from([
                        "dynamodb:GetItem",
                        "dynamodb:BatchGetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        // the sweep removes a rechecked klantcontact-destroyed marker item
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                        // no Scan: only the resync function pages through the links
                        "dynamodb:DescribeTable"
                    ])
                );
                assert_eq!(resources_of(&s), vec![links_arn.clone(), links_indexes.clone()]);
            }
            "events" => {
                assert_eq!(acts, vec!["events:PutEvents"]);
                assert_eq!(resources_of(&s), vec![get_att("EventBus", "Arn")]);
            }
            "secretsmanager" => {
                assert_eq!(acts, vec!["secretsmanager:GetSecretValue"]);
                let c = condition.expect("secret access only when a secret is named");
                assert!(
                    c == "HasWebhookAuthSecret" || c == "HasOpenKlantTokenSecret",
                    "{c}"
                );
                let arn = resources_of(&s)[0]["Fn::Sub"].as_str().unwrap().to_owned();
                assert!(arn.contains(":secret:${"), "{arn}");
            }
            "ssm" => {
                assert_eq!(acts, vec!["ssm:GetParameters"]);
                let c = condition.expect("parameter access only when a parameter is named");
                assert!(c == "HasWebhookAuthSsm" || c == "HasOpenKlantTokenSsm", "{c}");
                let arn = resources_of(&s)[0]["Fn::Sub"].as_str().unwrap().to_owned();
                assert!(arn.contains(":parameter${"), "{arn}");
            }
            other => panic!("unexpected service {other} in the webhook policy"),
        }
    }
    assert!(saw.contains("dynamodb") && saw.contains("events"));
    // The conditions grant nothing for an empty name.
    for (cond, param) in [
        ("HasWebhookAuthSecret", "WebhookAuthSecretName"),
        ("HasWebhookAuthSsm", "WebhookAuthSsmParameterName"),
        ("HasOpenKlantTokenSecret", "OpenKlantApiTokenSecretName"),
        ("HasOpenKlantTokenSsm", "OpenKlantApiTokenSsmParameterName"),
    ] {
        assert_eq!(
            t["Conditions"][cond],
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}),
            "{cond}"
        );
    }
}

#[test]
fn delivery_policy_is_least_privilege() {
    let t = template();
    for (condition, s) in statements(&t, "DeliveryFunction") {
        assert_no_wildcard_resource(&s, "DeliveryFunction");
        let acts = actions(&s);
        if acts[0].starts_with("dynamodb:") {
            assert_eq!(acts, vec!["dynamodb:GetItem", "dynamodb:UpdateItem"]);
            assert_eq!(resources_of(&s), vec![get_att("DeliveriesTable", "Arn")]);
        } else if s["Sid"] == "DeliveryQueue" {
            assert_eq!(
                acts,
                vec![
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage"
                ]
            );
            assert_eq!(resources_of(&s), vec![get_att("DeliveryQueue", "Arn")]);
        } else if s["Sid"] == "ParkedQueue" {
            assert_eq!(acts, vec!["sqs:SendMessage"]);
            assert_eq!(resources_of(&s), vec![get_att("DeliveryDeadLetterQueue", "Arn")]);
        } else {
            assert_eq!(acts, vec!["secretsmanager:GetSecretValue"]);
            assert_eq!(condition.as_deref(), Some("HasOpenZaakCredentialsSecret"));
        }
    }
    let vars = &props(&t, "DeliveryFunction")["Environment"]["Variables"];
    assert_eq!(vars["OPEN_ZAAK_ROOT"], json!({"Ref": "OpenZaakRoot"}));
    assert_eq!(
        vars["OPEN_ZAAK_CREDENTIALS_SECRET_ID"],
        json!({"Ref": "OpenZaakCredentialsSecretName"})
    );
    assert_eq!(vars["DELIVERIES_TABLE"], json!({"Ref": "DeliveriesTable"}));
    assert_eq!(
        vars["PARKED_QUEUE_URL"],
        json!({"Ref": "DeliveryDeadLetterQueue"})
    );
    assert_eq!(
        vars["OPEN_ZAAK_ZAKEN_API_READ"],
        json!({"Ref": "OpenZaakZakenApiRead"})
    );
    // the read is on by default (issue 19): a refused read is a metric with an alarm
    assert_eq!(t["Parameters"]["OpenZaakZakenApiRead"]["Default"], "true");
    let alarm = resource(&t, "VerificationUnavailableAlarm");
    assert_eq!(alarm["Condition"], "UseDeliveryFunction");
    let p = &alarm["Properties"];
    assert_eq!(p["MetricName"], zaaklink::telemetry::VERIFICATION_UNAVAILABLE);
    assert_eq!(p["Namespace"], json!({"Fn::Sub": "zaaklink/${AWS::StackName}"}));
    assert_eq!(p["Statistic"], "Sum");
    assert_eq!(p["Threshold"], 0);
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(p["TreatMissingData"], "notBreaching");
    // no SAM events: SAM's SQS event would attach a managed policy on Resource "*"
    assert!(props(&t, "DeliveryFunction").get("Events").is_none());
}
