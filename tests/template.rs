//! Structural checks of the SAM template (template.yaml). The template uses long-form
//! intrinsics only (`Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, ...), so it is plain YAML.
//! cfn-lint (the rules `sam validate --lint` runs) is run by scripts/check-template.

use serde_json::{json, Value};
use std::collections::BTreeSet;

fn template_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml is plain YAML")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "resource {name} is missing");
    r
}

fn props<'a>(t: &'a Value, name: &str) -> &'a Value {
    &resource(t, name)["Properties"]
}

fn get_att(resource: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [resource, attribute]})
}

/// Expands `Fn::If` in a list: every branch that is not `AWS::NoValue`, with its condition.
fn branches(v: &Value) -> Vec<(Option<String>, Value)> {
    if let Some(args) = v.get("Fn::If").and_then(Value::as_array) {
        let cond = args[0].as_str().unwrap().to_owned();
        return args[1..]
            .iter()
            .filter(|b| **b != json!({"Ref": "AWS::NoValue"}))
            .flat_map(branches)
            .map(|(_, b)| (Some(cond.clone()), b))
            .collect();
    }
    vec![(None, v.clone())]
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// All policy statements of a SAM function, `Fn::If` branches expanded.
fn statements(t: &Value, function: &str) -> Vec<(Option<String>, Value)> {
    let mut out = vec![];
    for policy in as_list(&props(t, function)["Policies"]) {
        assert!(
            policy.is_object() && policy.get("Statement").is_some(),
            "{function}: only inline policy documents (no managed or SAM policy templates)"
        );
        for s in as_list(&policy["Statement"]) {
            out.extend(branches(&s));
        }
    }
    out
}

fn actions(statement: &Value) -> Vec<String> {
    as_list(&statement["Action"])
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn uses_long_form_intrinsics_only() {
    for (i, line) in template_text().lines().enumerate() {
        let code = line.split(" #").next().unwrap();
        assert!(
            !code.contains(": !") && !code.trim_start().starts_with("- !"),
            "line {}: short-form tag; use Fn::/Ref long form: {line}",
            i + 1
        );
    }
}

#[test]
fn resources_have_the_expected_types() {
    let t = template();
    assert_eq!(t["Transform"], "AWS::Serverless-2016-10-31");
    for (name, ty) in [
        ("LinksTable", "AWS::DynamoDB::Table"),
        ("EventBus", "AWS::Events::EventBus"),
        ("WebhookFunction", "AWS::Serverless::Function"),
        ("WebhookHttpApi", "AWS::Serverless::HttpApi"),
        ("WebhookHttpApiPermission", "AWS::Lambda::Permission"),
        ("ResyncFunction", "AWS::Serverless::Function"),
        ("ResyncScheduleRule", "AWS::Events::Rule"),
        ("ResyncSchedulePermission", "AWS::Lambda::Permission"),
        ("DeliveryRule", "AWS::Events::Rule"),
        ("DeliveryFunction", "AWS::Serverless::Function"),
        ("DeliveryQueue", "AWS::SQS::Queue"),
        ("DeliveryQueuePolicy", "AWS::SQS::QueuePolicy"),
        ("DeliveryQueueMapping", "AWS::Lambda::EventSourceMapping"),
        ("DeliveryQueueAgeAlarm", "AWS::CloudWatch::Alarm"),
        ("DeliveryAlarmTopic", "AWS::SNS::Topic"),
        ("DeliveryAlarmEmail", "AWS::SNS::Subscription"),
        ("DeliveriesTable", "AWS::DynamoDB::Table"),
        ("DeliveryDeadLetterQueue", "AWS::SQS::Queue"),
        ("DeliveryDeadLetterQueuePolicy", "AWS::SQS::QueuePolicy"),
        ("DeliveryDeadLetterAlarm", "AWS::CloudWatch::Alarm"),
        ("OpenZaakConnection", "AWS::Events::Connection"),
        ("OpenZaakApiDestination", "AWS::Events::ApiDestination"),
        ("ApiDestinationRole", "AWS::IAM::Role"),
        ("WebhookLogGroup", "AWS::Logs::LogGroup"),
        ("ResyncLogGroup", "AWS::Logs::LogGroup"),
        ("DeliveryLogGroup", "AWS::Logs::LogGroup"),
        ("WebhookErrorsAlarm", "AWS::CloudWatch::Alarm"),
        ("WebhookThrottlesAlarm", "AWS::CloudWatch::Alarm"),
        ("ResyncErrorsAlarm", "AWS::CloudWatch::Alarm"),
        ("ResyncThrottlesAlarm", "AWS::CloudWatch::Alarm"),
        ("ResyncStalledAlarm", "AWS::CloudWatch::Alarm"),
        ("DeliveryErrorsAlarm", "AWS::CloudWatch::Alarm"),
        ("DeliveryThrottlesAlarm", "AWS::CloudWatch::Alarm"),
        ("Dashboard", "AWS::CloudWatch::Dashboard"),
    ] {
        assert_eq!(resource(&t, name)["Type"], ty, "{name}");
    }
}

#[test]
fn links_table_key_indexes_and_protection() {
    let t = template();
    let table = resource(&t, "LinksTable");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": "onderwerpobject", "KeyType": "HASH"}])
    );
    let attrs: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for a in ["onderwerpobject", "klantcontact", "wasKlantcontact", "outbox"] {
        assert!(attrs.contains(&(a.to_owned(), "S".to_owned())), "{a}: S");
    }
    let gsis = p["GlobalSecondaryIndexes"].as_array().unwrap();
    assert_eq!(gsis.len(), 3);
    for (index, key) in [
        ("by-klantcontact", "klantcontact"),
        ("by-was-klantcontact", "wasKlantcontact"),
        ("by-outbox", "outbox"),
    ] {
        let gsi = gsis
            .iter()
            .find(|g| g["IndexName"] == index)
            .unwrap_or_else(|| panic!("GSI {index}"));
        assert_eq!(
            gsi["KeySchema"],
            json!([{"AttributeName": key, "KeyType": "HASH"}])
        );
        assert_eq!(gsi["Projection"]["ProjectionType"], "ALL");
    }
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn deliveries_table_has_ttl_pitr_and_sse() {
    let t = template();
    let p = props(&t, "DeliveriesTable");
    // kept with the links table: the two belong together (docs/DESIGN.md §5)
    assert_eq!(resource(&t, "DeliveriesTable")["DeletionPolicy"], "Retain");
    assert_eq!(resource(&t, "DeliveriesTable")["UpdateReplacePolicy"], "Retain");
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": "id", "KeyType": "HASH"}])
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": "expiresAt", "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn functions_are_rust_on_al2023_arm64_built_by_cargo_lambda() {
    let t = template();
    for (name, binary) in [("WebhookFunction", "bootstrap"), ("DeliveryFunction", "deliver")] {
        let r = resource(&t, name);
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert_eq!(r["Metadata"]["BuildProperties"]["Binary"], binary, "{name}");
        let p = &r["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{name}");
        assert_eq!(p["Architectures"], json!(["arm64"]), "{name}");
        assert_eq!(p["Handler"], "bootstrap", "{name}");
        assert_eq!(p["CodeUri"], ".", "{name}");
    }
}

#[test]
fn webhook_is_a_public_function_url_and_optionally_an_http_api() {
    let t = template();
    let p = props(&t, "WebhookFunction");
    assert_eq!(p["FunctionUrlConfig"]["AuthType"], "NONE");
    assert_eq!(
        t["Conditions"]["CreateHttpApi"],
        json!({"Fn::Equals": [{"Ref": "ExposeHttpApi"}, "true"]})
    );
    for r in ["WebhookHttpApi", "WebhookHttpApiPermission"] {
        assert_eq!(resource(&t, r)["Condition"], "CreateHttpApi", "{r}");
    }
    let post = &props(&t, "WebhookHttpApi")["DefinitionBody"]["paths"]["/"]["post"]
        ["x-amazon-apigateway-integration"];
    assert_eq!(post["uri"], get_att("WebhookFunction", "Arn"));
    assert_eq!(post["payloadFormatVersion"], "2.0");
    assert_eq!(t["Outputs"]["HttpApiUrl"]["Condition"], "CreateHttpApi");
}

#[test]
fn schedules_the_sweep_and_the_resync_by_default() {
    let t = template();
    let sweep = &props(&t, "WebhookFunction")["Events"]["OutboxSweep"];
    assert_eq!(sweep["Type"], "Schedule");
    assert_eq!(sweep["Properties"]["Schedule"], json!({"Ref": "SweepSchedule"}));
    let input: Value = serde_json::from_str(sweep["Properties"]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"zaaklink": "sweep"}));
    assert_eq!(t["Parameters"]["SweepSchedule"]["Default"], "rate(5 minutes)");
    // The resync is on by default: its own function, runs that continue the pass every 10
    // minutes, a new pass at most hourly; an empty schedule switches it off.
    assert_eq!(t["Parameters"]["ResyncSchedule"]["Default"], "rate(10 minutes)");
    assert_eq!(t["Parameters"]["ResyncInterval"]["Default"], "1h");
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
            "secretsmanager" => assert_eq!(condition.as_deref(), Some("HasOpenKlantTokenSecret")),
            "ssm" => {
                assert_eq!(condition.as_deref(), Some("HasOpenKlantTokenSsm"));
                assert_eq!(acts, vec!["ssm:GetParameters"]);
            }
            other => panic!("unexpected service {other} in the resync policy"),
        }
    }
}

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

fn resources_of(statement: &Value) -> Vec<Value> {
    as_list(&statement["Resource"])
}

fn assert_no_wildcard_resource(statement: &Value, what: &str) {
    for r in resources_of(statement) {
        assert_ne!(r, json!("*"), "{what}: Resource \"*\"");
    }
}

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
                        "dynamodb:Query",
                        "dynamodb:Scan",
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
    // no SAM events: SAM's SQS event would attach a managed policy on Resource "*"
    assert!(props(&t, "DeliveryFunction").get("Events").is_none());
}

#[test]
fn delivery_queue_rides_out_a_day_long_outage_with_partial_batch_failures() {
    let t = template();
    let q = props(&t, "DeliveryQueue");
    assert_eq!(q["MessageRetentionPeriod"], 1_209_600, "14 days");
    assert_eq!(
        q["RedrivePolicy"]["deadLetterTargetArn"],
        get_att("DeliveryDeadLetterQueue", "Arn")
    );
    // the receive budget matches the retry delays deliver sets (> 24 h, unit-tested there)
    assert_eq!(
        q["RedrivePolicy"]["maxReceiveCount"],
        zaaklink::deliver::sqs::MAX_RECEIVE_COUNT
    );
    let timeout = props(&t, "DeliveryFunction")["Timeout"].as_u64().unwrap();
    assert!(q["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
    let m = props(&t, "DeliveryQueueMapping");
    assert_eq!(m["EventSourceArn"], get_att("DeliveryQueue", "Arn"));
    assert_eq!(m["FunctionName"], json!({"Ref": "DeliveryFunction"}));
    assert_eq!(m["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    // a batch fits the function timeout: per event up to 3 requests (read check, POST,
    // verification) of Open Zaak's timeout (10 s default)
    assert!(m["BatchSize"].as_u64().unwrap() * 3 * 10 < timeout);
    let p = &props(&t, "DeliveryQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(p["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(p["Action"], "sqs:SendMessage");
    assert_eq!(
        p["Condition"]["ArnEquals"]["aws:SourceArn"],
        get_att("DeliveryRule", "Arn")
    );
    for r in [
        "DeliveryQueue",
        "DeliveryQueuePolicy",
        "DeliveryQueueMapping",
        "DeliveryQueueAgeAlarm",
    ] {
        assert_eq!(resource(&t, r)["Condition"], "UseDeliveryFunction", "{r}");
    }
}

#[test]
fn delivery_alarms_reach_a_topic_the_stack_creates() {
    let t = template();
    for alarm in ["DeliveryDeadLetterAlarm", "DeliveryQueueAgeAlarm"] {
        let actions = props(&t, alarm)["AlarmActions"].as_array().unwrap().clone();
        assert_eq!(actions[0], json!({"Ref": "DeliveryAlarmTopic"}), "{alarm}");
        assert_eq!(actions[1]["Fn::If"][0], "HasAlarmTopic", "{alarm}");
    }
    let age = props(&t, "DeliveryQueueAgeAlarm");
    assert_eq!(age["MetricName"], "ApproximateAgeOfOldestMessage");
    assert_eq!(
        age["Dimensions"][0]["Value"],
        get_att("DeliveryQueue", "QueueName")
    );
    assert_eq!(age["Threshold"], json!({"Ref": "DeliveryMaxAgeAlarmSeconds"}));
    let sub = resource(&t, "DeliveryAlarmEmail");
    assert_eq!(sub["Condition"], "HasAlarmEmail");
    assert_eq!(sub["Properties"]["Protocol"], "email");
    assert_eq!(sub["Properties"]["Endpoint"], json!({"Ref": "AlarmEmail"}));
    assert_eq!(
        sub["Properties"]["TopicArn"],
        json!({"Ref": "DeliveryAlarmTopic"})
    );
    assert_eq!(t["Parameters"]["AlarmEmail"]["Default"], "");
}

#[test]
fn rule_routes_both_event_types_to_exactly_one_target_with_the_dlq() {
    let t = template();
    let p = props(&t, "DeliveryRule");
    assert_eq!(p["EventBusName"], json!({"Ref": "EventBus"}));
    assert_eq!(
        p["EventPattern"]["source"],
        json!([{"Ref": "NotificationsSource"}])
    );
    let detail_types = p["EventPattern"]["detail-type"].as_array().unwrap();
    for ty in [
        "nl.overheid.zaken.zaak-gekoppeld",
        "nl.overheid.zaken.zaak-ontkoppeld",
    ] {
        assert!(detail_types.contains(&json!(ty)), "{ty}");
    }

    let targets = p["Targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "one target entry, chosen by DeliveryMode");
    let choice = targets[0]["Fn::If"].as_array().expect("Fn::If on DeliveryMode");
    assert_eq!(choice[0], "UseDeliveryFunction");
    let (function, api) = (&choice[1], &choice[2]);
    assert_eq!(function["Arn"], get_att("DeliveryQueue", "Arn"));
    assert_eq!(api["Arn"], get_att("OpenZaakApiDestination", "Arn"));
    for target in [function, api] {
        assert_eq!(
            target["DeadLetterConfig"]["Arn"],
            get_att("DeliveryDeadLetterQueue", "Arn")
        );
        assert!(target["RetryPolicy"]["MaximumRetryAttempts"].is_object());
        assert!(target["RetryPolicy"]["MaximumEventAgeInSeconds"].is_object());
    }
    assert_eq!(api["InputPath"], "$.detail");
    assert_eq!(
        api["HttpParameters"]["HeaderParameters"]["Content-Type"],
        "application/cloudevents+json"
    );
    assert_eq!(api["RoleArn"], get_att("ApiDestinationRole", "Arn"));

    // Exactly one path exists.
    assert_eq!(
        t["Parameters"]["DeliveryMode"]["AllowedValues"],
        json!(["function", "api-destination"])
    );
    assert_eq!(t["Parameters"]["DeliveryMode"]["Default"], "function");
    for r in ["DeliveryFunction", "DeliveriesTable"] {
        assert_eq!(resource(&t, r)["Condition"], "UseDeliveryFunction", "{r}");
    }
    for r in [
        "OpenZaakConnection",
        "OpenZaakApiDestination",
        "ApiDestinationRole",
    ] {
        assert_eq!(resource(&t, r)["Condition"], "UseApiDestination", "{r}");
    }
    // deliver is no longer invoked asynchronously: no async retry config
    assert!(props(&t, "DeliveryFunction").get("EventInvokeConfig").is_none());
}

#[test]
fn api_destination_posts_to_events_with_the_authorization_from_secrets_manager() {
    let t = template();
    let c = props(&t, "OpenZaakConnection");
    assert_eq!(c["AuthorizationType"], "API_KEY");
    let key = &c["AuthParameters"]["ApiKeyAuthParameters"];
    assert_eq!(key["ApiKeyName"], "Authorization");
    let value = key["ApiKeyValue"]["Fn::Sub"].as_str().unwrap();
    assert!(
        value.starts_with("{{resolve:secretsmanager:${OpenZaakAuthorizationSecretName}"),
        "{value}"
    );
    let d = props(&t, "OpenZaakApiDestination");
    assert_eq!(
        d["InvocationEndpoint"],
        json!({"Fn::Sub": "${OpenZaakRoot}/events"})
    );
    assert_eq!(d["HttpMethod"], "POST");
}

#[test]
fn dlq_accepts_only_the_rule_and_alarms_when_not_empty() {
    let t = template();
    let s = &props(&t, "DeliveryDeadLetterQueuePolicy")["PolicyDocument"]["Statement"][0];
    assert_eq!(s["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(s["Action"], "sqs:SendMessage");
    assert_eq!(
        s["Condition"]["ArnEquals"]["aws:SourceArn"],
        get_att("DeliveryRule", "Arn")
    );
    let a = props(&t, "DeliveryDeadLetterAlarm");
    assert_eq!(a["Namespace"], "AWS/SQS");
    assert_eq!(a["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(a["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(a["Threshold"], 0);
    assert_eq!(
        a["Dimensions"][0]["Value"],
        get_att("DeliveryDeadLetterQueue", "QueueName")
    );
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

/// Every `AWS::Serverless::Function` of the template.
fn functions(t: &Value) -> Vec<String> {
    let fs: Vec<String> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        fs.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["WebhookFunction", "ResyncFunction", "DeliveryFunction"]),
        "the functions this file knows (the sweep runs on WebhookFunction)"
    );
    fs
}

#[test]
fn reserved_concurrency_caps_webhook_and_deliver_and_zero_switches_it_off() {
    let t = template();
    let p = &t["Parameters"];
    for (function, param, cond) in [
        (
            "WebhookFunction",
            "WebhookReservedConcurrency",
            "HasWebhookReservedConcurrency",
        ),
        (
            "DeliveryFunction",
            "DeliveryReservedConcurrency",
            "HasDeliveryReservedConcurrency",
        ),
    ] {
        assert_eq!(p[param]["Type"], "Number", "{param}");
        assert_eq!(p[param]["MinValue"], 0, "{param}: 0 = no reservation");
        assert!(
            p[param]["Default"].as_u64().unwrap() > 0,
            "{param}: on by default"
        );
        // ReservedConcurrentExecutions 0 would throttle everything: 0 means "leave it out"
        assert_eq!(
            t["Conditions"][cond],
            json!({"Fn::Not": [{"Fn::Equals": [{"Ref": param}, "0"]}]}),
            "{cond}"
        );
        assert_eq!(
            props(&t, function)["ReservedConcurrentExecutions"],
            json!({"Fn::If": [cond, {"Ref": param}, {"Ref": "AWS::NoValue"}]}),
            "{function}"
        );
    }
    // the mapping never runs more deliver invocations than are reserved (throttled batches
    // would count towards the queue's 120 receives)
    let max = &p["DeliveryMaximumConcurrency"];
    assert_eq!(max["MinValue"], 2, "SQS event source mappings need at least 2");
    assert_eq!(max["Default"], p["DeliveryReservedConcurrency"]["Default"]);
    assert_eq!(
        props(&t, "DeliveryQueueMapping")["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "DeliveryMaximumConcurrency"})
    );
    let rule = &t["Rules"]["DeliveryConcurrencyIsConsistent"];
    assert_eq!(
        rule["RuleCondition"],
        json!({"Fn::Equals": [{"Ref": "DeliveryMode"}, "function"]})
    );
    assert_eq!(
        rule["Assertions"][0]["Assert"],
        json!({"Fn::Or": [
            {"Fn::Equals": [{"Ref": "DeliveryReservedConcurrency"}, "0"]},
            {"Fn::Equals": [{"Ref": "DeliveryReservedConcurrency"}, {"Ref": "DeliveryMaximumConcurrency"}]}
        ]})
    );
}

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
        "above ResyncInterval (1h)"
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
