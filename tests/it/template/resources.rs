//! The template's shape: long-form intrinsics, the resource types, the two tables, how the
//! functions are built, and the webhook's public entry points.

use serde_json::json;
use std::collections::BTreeSet;

use super::helpers::{get_att, props, resource, template, template_text};

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
        ("HeadPollScheduleRule", "AWS::Events::Rule"),
        ("HeadPollSchedulePermission", "AWS::Lambda::Permission"),
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
        ("VerificationUnavailableAlarm", "AWS::CloudWatch::Alarm"),
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
