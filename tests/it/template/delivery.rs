//! The delivery path: the rule and its one target, the delivery queue and its mapping, the
//! dead-letter queue, the API destination, and the reserved concurrency.

use serde_json::json;

use super::helpers::{get_att, props, resource, template};

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
        // EventBridge's maxima, constants: fewer retries would only park events sooner.
        assert_eq!(target["RetryPolicy"]["MaximumRetryAttempts"], 185);
        assert_eq!(target["RetryPolicy"]["MaximumEventAgeInSeconds"], 86400);
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
