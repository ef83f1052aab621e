//! The scheduled audit (DESIGN §9) on the resync function: daily by default, `off` possible,
//! only with an Open Zaak Applicatie to read with; repair on by default; the credentials
//! secret by name only; the alarm on the differences left after the repair.

use serde_json::{json, Value};

use super::helpers::{actions, get_att, props, resource, resources_of, statements, template};

#[test]
fn audits_daily_on_the_resync_function_with_deliver_s_applicatie() {
    let t = template();
    let p = &t["Parameters"];
    assert_eq!(p["AuditSchedule"]["Default"], "rate(1 day)");
    let pattern = regex::Regex::new(p["AuditSchedule"]["AllowedPattern"].as_str().unwrap()).unwrap();
    for ok in ["off", "rate(1 day)", "cron(0 3 * * ? *)"] {
        assert!(pattern.is_match(ok), "{ok}");
    }
    for bad in ["", "daily", "offf"] {
        assert!(!pattern.is_match(bad), "{bad}");
    }
    assert_eq!(p["AuditRepair"]["Default"], "true");
    assert_eq!(p["AuditRepair"]["AllowedValues"], json!(["true", "false"]));
    assert_eq!(
        t["Conditions"]["HasAuditSchedule"],
        json!({"Fn::And": [
            {"Condition": "HasOpenZaakCredentialsSecret"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AuditSchedule"}, "off"]}]}
        ]})
    );
    for r in [
        "AuditScheduleRule",
        "AuditSchedulePermission",
        "AuditContinueRule",
        "AuditContinuePermission",
        "AuditDifferencesAlarm",
    ] {
        assert_eq!(resource(&t, r)["Condition"], "HasAuditSchedule", "{r}");
    }
    let rule = props(&t, "AuditScheduleRule");
    assert_eq!(rule["ScheduleExpression"], json!({"Ref": "AuditSchedule"}));
    let target = &rule["Targets"][0];
    assert_eq!(target["Arn"], get_att("ResyncFunction", "Arn"));
    let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "audit"}));
    let perm = props(&t, "AuditSchedulePermission");
    assert_eq!(perm["FunctionName"], json!({"Ref": "ResyncFunction"}));
    assert_eq!(perm["SourceArn"], get_att("AuditScheduleRule", "Arn"));
    // a run longer than one invocation: continued by a tick every minute that starts nothing
    let tick = props(&t, "AuditContinueRule");
    assert_eq!(tick["ScheduleExpression"], "rate(1 minute)");
    assert_eq!(tick["Targets"][0]["Arn"], get_att("ResyncFunction", "Arn"));
    let input: Value = serde_json::from_str(tick["Targets"][0]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "audit", "continue": true}));
    assert!(zaaklink::lambda::is_audit(&input) && zaaklink::lambda::is_continuation(&input));
    let perm = props(&t, "AuditContinuePermission");
    assert_eq!(perm["SourceArn"], get_att("AuditContinueRule", "Arn"));

    let vars = &props(&t, "ResyncFunction")["Environment"]["Variables"];
    assert_eq!(
        vars["OPEN_ZAAK_ROOT"],
        json!({"Fn::If": ["HasAuditSchedule", {"Ref": "OpenZaakRoot"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        vars["OPEN_ZAAK_CREDENTIALS_SECRET_ID"],
        json!({"Fn::If": ["HasAuditSchedule", {"Ref": "OpenZaakCredentialsSecretName"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(vars["ZAAKLINK_AUDIT_REPAIR"], json!({"Ref": "AuditRepair"}));
    assert!(vars.get("OPEN_ZAAK_SECRET").is_none() && vars.get("OPEN_ZAAK_CLIENT_ID").is_none());
    // the Applicatie's secret, by name, only when the audit runs
    let oz: Vec<_> = statements(&t, "ResyncFunction")
        .into_iter()
        .filter(|(_, s)| s["Sid"] == "OpenZaakCredentialsSecret")
        .collect();
    assert_eq!(oz.len(), 1);
    assert_eq!(oz[0].0.as_deref(), Some("HasAuditSchedule"));
    assert_eq!(actions(&oz[0].1), vec!["secretsmanager:GetSecretValue"]);
    assert_eq!(
        resources_of(&oz[0].1),
        vec![
            json!({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${OpenZaakCredentialsSecretName}-??????"})
        ]
    );
}

#[test]
fn alarms_when_differences_remain_after_the_repair() {
    let t = template();
    let a = props(&t, "AuditDifferencesAlarm");
    assert_eq!(a["MetricName"], "AuditDifferences");
    assert_eq!(a["Namespace"], json!({"Fn::Sub": "zaaklink/${AWS::StackName}"}));
    assert_eq!(a["Dimensions"], json!([{"Name": "Kind", "Value": "remaining"}]));
    assert_eq!(a["Threshold"], 0);
    assert_eq!(a["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(a["TreatMissingData"], "notBreaching");
    assert_eq!(a["AlarmActions"][0], json!({"Ref": "DeliveryAlarmTopic"}));
}
