//! What every template check uses: the template loaded as YAML, its resources, and the
//! policy statements of a function with `Fn::If` branches expanded.

use serde_json::{json, Value};
use std::collections::BTreeSet;

pub fn template_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml is plain YAML")
}

pub fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "resource {name} is missing");
    r
}

pub fn props<'a>(t: &'a Value, name: &str) -> &'a Value {
    &resource(t, name)["Properties"]
}

pub fn get_att(resource: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [resource, attribute]})
}

/// Expands `Fn::If` in a list: every branch that is not `AWS::NoValue`, with its condition.
pub fn branches(v: &Value) -> Vec<(Option<String>, Value)> {
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

pub fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// All policy statements of a SAM function, `Fn::If` branches expanded.
pub fn statements(t: &Value, function: &str) -> Vec<(Option<String>, Value)> {
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

pub fn actions(statement: &Value) -> Vec<String> {
    as_list(&statement["Action"])
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

pub fn resources_of(statement: &Value) -> Vec<Value> {
    as_list(&statement["Resource"])
}

pub fn assert_no_wildcard_resource(statement: &Value, what: &str) {
    for r in resources_of(statement) {
        assert_ne!(r, json!("*"), "{what}: Resource \"*\"");
    }
}

/// Every `AWS::Serverless::Function` of the template.
pub fn functions(t: &Value) -> Vec<String> {
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
