//! Operating the stack: log groups, alarms, the dashboard and the outputs.

use serde_json::{json, Value};
use std::collections::BTreeSet;

use super::helpers::{as_list, functions, get_att, props, resource, template};

#[test]
fn every_function_logs_json_to_a_log_group_of_the_stack_with_a_retention() {
    let t = template();
    let retention = &t["Parameters"]["LogRetentionDays"];
    let default = retention["Default"].as_u64().unwrap();
    assert!(
        (1..=90).contains(&default),
        "personal data: a short default ({default})"
    );
    assert!(retention["AllowedValues"]
        .as_array()
        .unwrap()
        .contains(&json!(default)));
    for function in functions(&t) {
        let logging = &props(&t, &function)["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{function}");
        // Lambda's level filter passes everything: RUST_LOG (LogLevel) is the one filter, and
        // lines without a level (embedded metrics) are never dropped
        assert_eq!(logging["ApplicationLogLevel"], "TRACE", "{function}");
        let group = logging["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{function}: LogGroup is a Ref to a log group of the stack"));
        let g = resource(&t, group);
        assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{group}");
        assert_eq!(
            g["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"}),
            "{group}"
        );
        assert_eq!(
            g["DeletionPolicy"], "Delete",
            "{group}: the logs go with the stack"
        );
        // a conditional function has a conditional group
        assert_eq!(g["Condition"], resource(&t, &function)["Condition"], "{group}");
        let vars = &props(&t, &function)["Environment"]["Variables"];
        assert_eq!(vars["RUST_LOG"], json!({"Ref": "LogLevel"}), "{function}");
    }
}

fn notifies_the_topic(t: &Value, alarm: &str) {
    let actions = props(t, alarm)["AlarmActions"].as_array().unwrap().clone();
    assert_eq!(actions[0], json!({"Ref": "DeliveryAlarmTopic"}), "{alarm}");
    assert_eq!(
        actions[1],
        json!({"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}),
        "{alarm}"
    );
}

#[test]
fn every_function_has_error_and_throttle_alarms_and_the_resync_a_stall_alarm() {
    let t = template();
    let alarms: Vec<(String, Value)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect();
    for (name, _) in &alarms {
        notifies_the_topic(&t, name);
    }
    for function in functions(&t) {
        for metric in ["Errors", "Throttles"] {
            let found: Vec<&(String, Value)> = alarms
                .iter()
                .filter(|(_, a)| {
                    let p = &a["Properties"];
                    p["Namespace"] == "AWS/Lambda"
                        && p["MetricName"] == metric
                        && p["Dimensions"] == json!([{"Name": "FunctionName", "Value": {"Ref": function}}])
                })
                .collect();
            assert_eq!(found.len(), 1, "{function} {metric}: one alarm");
            let (name, a) = found[0];
            let p = &a["Properties"];
            assert_eq!(p["Statistic"], "Sum", "{name}");
            assert_eq!(p["Threshold"], 0, "{name}");
            assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{name}");
            assert_eq!(a["Condition"], resource(&t, &function)["Condition"], "{name}");
        }
    }
    let stalled = resource(&t, "ResyncStalledAlarm");
    assert_eq!(stalled["Condition"], "HasResyncSchedule");
    let p = &stalled["Properties"];
    assert_eq!(
        p["Namespace"],
        props(&t, "ResyncFunction")["Environment"]["Variables"]["METRICS_NAMESPACE"]
    );
    assert_eq!(p["MetricName"], "ResyncPassesCompleted");
    assert_eq!(p["Statistic"], "Sum");
    assert_eq!(p["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(p["Threshold"], 1);
    // the metric is only written when a pass completes: no data is a stall
    assert_eq!(p["TreatMissingData"], "breaching");
    assert_eq!(p["EvaluationPeriods"], json!({"Ref": "ResyncStalledAlarmHours"}));
    // CloudWatch evaluates at most one day
    let hours = &t["Parameters"]["ResyncStalledAlarmHours"];
    assert!(p["Period"].as_u64().unwrap() * hours["MaxValue"].as_u64().unwrap() <= 86_400);
    assert!(
        hours["Default"].as_u64().unwrap() > 1,
        "above ResyncInterval (90s) plus a pass"
    );
}

/// The metrics the functions write in the embedded metric format (the metrics contract).
const METRICS: [&str; 8] = [
    "Notifications",
    "EventsPut",
    "Deliveries",
    "StaleEventsSkipped",
    "DeliveryLag",
    "ResyncObjects",
    "ResyncChanges",
    "ResyncPassesCompleted",
];

/// The dashboard body with `Fn::Sub` applied (stack `zaaklink`), every `${...}` checked to
/// be a pseudo parameter, a resource (attribute) or a variable of the `Fn::Sub`.
fn dashboard_body(t: &Value) -> Value {
    let sub = props(t, "Dashboard")["DashboardBody"]["Fn::Sub"]
        .as_array()
        .expect("Fn::Sub [body, variables]")
        .clone();
    let (body, vars) = (sub[0].as_str().unwrap(), sub[1].as_object().unwrap());
    let re = regex::Regex::new(r"\$\{([^}]+)\}").unwrap();
    let text = re.replace_all(body, |c: &regex::Captures| {
        let name = &c[1];
        match name {
            "AWS::StackName" => "zaaklink".to_owned(),
            "AWS::Region" => "eu-west-1".to_owned(),
            _ => {
                let logical = name.split('.').next().unwrap();
                assert!(
                    vars.contains_key(name) || t["Resources"][logical].is_object(),
                    "${{{name}}} names nothing"
                );
                // a conditional resource is only reachable through the variables
                if let Some(r) = t["Resources"].get(logical) {
                    assert!(r.get("Condition").is_none(), "${{{name}}} is conditional");
                }
                format!("<{name}>")
            }
        }
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("dashboard body is JSON: {e}\n{text}"))
}

#[test]
fn dashboard_finds_the_embedded_metrics_by_search_and_shows_functions_and_queues() {
    let t = template();
    assert_eq!(resource(&t, "Dashboard")["Type"], "AWS::CloudWatch::Dashboard");
    // one namespace on every function, the one the dashboard searches
    for function in functions(&t) {
        assert_eq!(
            props(&t, &function)["Environment"]["Variables"]["METRICS_NAMESPACE"],
            json!({"Fn::Sub": "zaaklink/${AWS::StackName}"}),
            "{function}"
        );
    }
    let body = dashboard_body(&t);
    let widgets = body["widgets"].as_array().unwrap();
    let mut expressions = vec![];
    let mut plain: BTreeSet<(String, String, String)> = BTreeSet::new();
    for w in widgets {
        for m in as_list(&w["properties"]["metrics"]) {
            let m = m.as_array().unwrap();
            if let Some(e) = m[0].get("expression") {
                expressions.push(e.as_str().unwrap().to_owned());
            } else {
                // [namespace, metric, dimension name, dimension value, {options}]
                let s = |i: usize| m[i].as_str().unwrap().to_owned();
                plain.insert((s(0), s(1), s(3)));
            }
        }
    }
    for metric in METRICS {
        let want = format!("SEARCH('Namespace=\"zaaklink/zaaklink\" MetricName=\"{metric}\"', ");
        assert!(
            expressions.iter().any(|e| e.starts_with(&want)),
            "{metric}: a SEARCH over every dimension set, in {expressions:?}"
        );
    }
    for function in ["<WebhookFunction>", "<ResyncFunction>", "<DeliverFunctionName>"] {
        for metric in ["Errors", "Throttles", "Duration"] {
            assert!(
                plain.contains(&("AWS/Lambda".into(), metric.into(), function.into())),
                "{function} {metric}"
            );
        }
    }
    for queue in ["<DeliveryQueueName>", "<DeliveryDeadLetterQueue.QueueName>"] {
        for metric in [
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
        ] {
            assert!(
                plain.contains(&("AWS/SQS".into(), metric.into(), queue.into())),
                "{queue} {metric}"
            );
        }
    }
    let vars = &props(&t, "Dashboard")["DashboardBody"]["Fn::Sub"][1];
    assert_eq!(vars["DeliverFunctionName"]["Fn::If"][0], "UseDeliveryFunction");
    assert_eq!(vars["DeliveryQueueName"]["Fn::If"][0], "UseDeliveryFunction");
}

#[test]
fn outputs_are_present() {
    let t = template();
    let outputs = t["Outputs"].as_object().unwrap();
    for o in [
        "WebhookUrl",
        "HttpApiUrl",
        "EventBusName",
        "LinksTableName",
        "DeliveryDeadLetterQueueUrl",
        "DeliveryQueueUrl",
        "DeliveryAlarmTopicArn",
        "WebhookFunctionName",
        "ResyncFunctionName",
        "DeliveryFunctionName",
        "DeliveryQueueArn",
        "DeliveryDeadLetterQueueArn",
        "DeliveriesTableName",
        "DashboardUrl",
    ] {
        assert!(outputs.contains_key(o), "output {o}");
    }
    assert_eq!(
        t["Outputs"]["WebhookUrl"]["Value"],
        get_att("WebhookFunctionUrl", "FunctionUrl")
    );
    // what `cargo lambda deploy` needs: the physical function names
    for (o, f) in [
        ("WebhookFunctionName", "WebhookFunction"),
        ("ResyncFunctionName", "ResyncFunction"),
        ("DeliveryFunctionName", "DeliveryFunction"),
    ] {
        assert_eq!(t["Outputs"][o]["Value"], json!({"Ref": f}), "{o}");
    }
    assert_eq!(
        t["Outputs"]["DeliveryQueueArn"]["Value"],
        get_att("DeliveryQueue", "Arn")
    );
    assert_eq!(
        t["Outputs"]["DeliveryDeadLetterQueueArn"]["Value"],
        get_att("DeliveryDeadLetterQueue", "Arn")
    );
    assert_eq!(
        t["Outputs"]["DeliveryAlarmTopicArn"]["Value"],
        json!({"Ref": "DeliveryAlarmTopic"})
    );
    // an output of a conditional resource carries its condition
    for (name, o) in outputs {
        let refs = serde_json::to_string(&o["Value"]).unwrap();
        for conditional in ["DeliveryFunction", "DeliveryQueue\"", "DeliveriesTable"] {
            if refs.contains(conditional) {
                assert_eq!(o["Condition"], "UseDeliveryFunction", "output {name}");
            }
        }
    }
}
