//! The schedules: the outbox sweep on the webhook, the resync and the head poll on the
//! resync's own function (with its environment and least-privilege policy).

use serde_json::{json, Value};
use std::collections::BTreeSet;

use super::helpers::{actions, assert_no_wildcard_resource, get_att, props, resource, statements, template};

#[test]
fn schedules_the_sweep_and_the_resync_by_default() {
    let t = template();
    let sweep = &props(&t, "WebhookFunction")["Events"]["OutboxSweep"];
    assert_eq!(sweep["Type"], "Schedule");
    assert_eq!(sweep["Properties"]["Schedule"], json!({"Ref": "SweepSchedule"}));
    let input: Value = serde_json::from_str(sweep["Properties"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "sweep"}));
    assert_eq!(t["Parameters"]["SweepSchedule"]["Default"], "rate(5 minutes)");
    // The resync is on by default: its own function, a run every minute that continues the
    // pass, a new pass at most every 90 s (so every 2 minutes: the worst case of a silent
    // change at 100,000 objects stays under 5 minutes, DESIGN §7a); an empty schedule
    // switches it off.
    assert_eq!(t["Parameters"]["ResyncSchedule"]["Default"], "rate(1 minute)");
    assert_eq!(t["Parameters"]["ResyncInterval"]["Default"], "90s");
    assert_eq!(t["Parameters"]["ResyncConcurrency"]["Default"], 4);
    for r in ["ResyncScheduleRule", "ResyncSchedulePermission"] {
        assert_eq!(resource(&t, r)["Condition"], "HasResyncSchedule", "{r}");
    }
    let target = &props(&t, "ResyncScheduleRule")["Targets"][0];
    assert_eq!(target["Arn"], get_att("ResyncFunction", "Arn"));
    let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "resync"}));
    assert_eq!(
        props(&t, "ResyncSchedulePermission")["FunctionName"],
        json!({"Ref": "ResyncFunction"})
    );
    let f = props(&t, "ResyncFunction");
    assert_eq!(
        f["Timeout"], 900,
        "the longest a Lambda runs; runs stop a minute before"
    );
    assert_eq!(f["Handler"], "bootstrap");
    assert!(
        f.get("FunctionUrlConfig").is_none(),
        "no webhook on the resync function"
    );
    let vars = &f["Environment"]["Variables"];
    assert_eq!(vars["ZAAKLINK_FUNCTION"], "resync");
    assert_eq!(vars["RESYNC_INTERVAL"], json!({"Ref": "ResyncInterval"}));
    assert_eq!(vars["RESYNC_CONCURRENCY"], json!({"Ref": "ResyncConcurrency"}));
    assert_eq!(vars["LINKS_TABLE"], json!({"Ref": "LinksTable"}));
    for secret in [
        "WEBHOOK_AUTH",
        "WEBHOOK_AUTH_SECRET_ID",
        "WEBHOOK_AUTH_SSM_PARAMETER",
        "OPEN_KLANT_API_TOKEN",
    ] {
        assert!(vars.get(secret).is_none(), "{secret} is not given to the resync");
    }
    // Least privilege: the links table (with BatchGetItem, and DeleteItem for its seen
    // chunks), the bus, the Open Klant token by name only.
    for (condition, s) in statements(&t, "ResyncFunction") {
        assert_no_wildcard_resource(&s, "ResyncFunction");
        let acts = actions(&s);
        match acts[0].split(':').next().unwrap() {
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
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                        "dynamodb:Scan",
                        "dynamodb:DescribeTable"
                    ])
                );
            }
            "events" => assert_eq!(acts, vec!["events:PutEvents"]),
            "secretsmanager" => assert!(
                matches!(
                    condition.as_deref(),
                    Some("HasOpenKlantTokenSecret" | "HasAuditSchedule")
                ),
                "{condition:?}"
            ),
            "ssm" => {
                assert_eq!(condition.as_deref(), Some("HasOpenKlantTokenSsm"));
                assert_eq!(acts, vec!["ssm:GetParameters"]);
            }
            other => panic!("unexpected service {other} in the resync policy"),
        }
    }
}

#[test]
fn polls_the_head_every_minute_on_the_resync_function() {
    let t = template();
    let p = &t["Parameters"]["HeadPollSchedule"];
    assert_eq!(p["Default"], "rate(1 minute)", "a silent create within a minute");
    let pattern = regex_lite(p["AllowedPattern"].as_str().unwrap());
    assert!(pattern("") && pattern("rate(1 minute)") && pattern("cron(* * * * ? *)"));
    assert!(!pattern("every minute"));
    for r in ["HeadPollScheduleRule", "HeadPollSchedulePermission"] {
        assert_eq!(resource(&t, r)["Condition"], "HasHeadPollSchedule", "{r}");
    }
    assert_eq!(
        t["Conditions"]["HasHeadPollSchedule"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "HeadPollSchedule"}, ""]}]}),
        "empty = off"
    );
    let rule = props(&t, "HeadPollScheduleRule");
    assert_eq!(rule["ScheduleExpression"], json!({"Ref": "HeadPollSchedule"}));
    assert_eq!(rule["State"], "ENABLED");
    // On the resync function: its state lives beside the checkpoint, and the pass it asks
    // for runs there (the webhook function refuses a head event).
    let target = &rule["Targets"][0];
    assert_eq!(target["Arn"], get_att("ResyncFunction", "Arn"));
    let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "head"}));
    let perm = props(&t, "HeadPollSchedulePermission");
    assert_eq!(perm["FunctionName"], json!({"Ref": "ResyncFunction"}));
    assert_eq!(perm["Principal"], "events.amazonaws.com");
    assert_eq!(perm["SourceArn"], get_att("HeadPollScheduleRule", "Arn"));
}

/// The two shapes the schedule parameters allow (`^$|^(rate|cron)\(.+\)$`), checked by hand.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
    assert_eq!(pattern, "^$|^(rate|cron)\\(.+\\)$");
    |v: &str| {
        v.is_empty()
            || ["rate(", "cron("]
                .iter()
                .any(|p| v.starts_with(p) && v.ends_with(')') && v.len() > p.len() + 1)
    }
}
