//! The operator's docs against the template: what DEPLOY.md, OPERATIONS.md and
//! CONFIGURATION.md say the stack creates, grants, logs to and alarms on is what
//! template.yaml declares (issue 26: the docs had drifted from it).

use serde_json::Value;
use std::collections::BTreeSet;

use super::helpers::{actions, as_list, branches, props, resource, statements, template};

fn doc(name: &str) -> String {
    let path = format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text between `<!-- marker -->` and `<!-- /marker -->` of a doc.
fn marked<'a>(text: &'a str, file: &str, marker: &str) -> &'a str {
    let open = format!("<!-- {marker} -->");
    let close = format!("<!-- /{marker} -->");
    let start = text.find(&open).unwrap_or_else(|| panic!("{file} has no {open}"));
    let end = text[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("{file} has no {close}"));
    &text[start + open.len()..start + end]
}

/// Every name in backticks in `text` (`` `a` ``, `` `b`, `c` `` → a, b, c).
fn code_spans(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn resources_of_type(t: &Value, ty: &str) -> BTreeSet<String> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn the_docs_name_the_log_groups_the_functions_write_to() {
    let t = template();
    let groups = resources_of_type(&t, "AWS::Logs::LogGroup");
    assert_eq!(groups.len(), 3, "{groups:?}");
    let (deploy, operations) = (doc("DEPLOY.md"), doc("OPERATIONS.md"));
    for g in &groups {
        let name = props(&t, g)["LogGroupName"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{g}: LogGroupName is a Fn::Sub"));
        let documented = name.replace("${AWS::StackName}", "<stack>");
        assert!(documented.starts_with("/zaaklink/<stack>/"), "{name}");
        for (file, text) in [("DEPLOY.md", &deploy), ("OPERATIONS.md", &operations)] {
            assert!(
                text.contains(&format!("`{documented}`")),
                "{file} does not name the log group `{documented}` ({g})"
            );
        }
    }
    for (file, text) in [("DEPLOY.md", &deploy), ("OPERATIONS.md", &operations)] {
        assert!(
            !text.contains("/aws/lambda/"),
            "{file} sends the reader to /aws/lambda/…; the functions log to /zaaklink/<stack>/…"
        );
    }
}

#[test]
fn the_docs_name_every_index_of_the_links_table() {
    let t = template();
    let indexes: BTreeSet<String> = as_list(&props(&t, "LinksTable")["GlobalSecondaryIndexes"])
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(indexes.len(), 3, "{indexes:?}");
    // the code queries the same names
    let code = BTreeSet::from(
        [
            zaaklink::store::dynamodb::BY_KLANTCONTACT,
            zaaklink::store::dynamodb::BY_OUTBOX,
            zaaklink::store::dynamodb::BY_WAS_KLANTCONTACT,
        ]
        .map(str::to_owned),
    );
    assert_eq!(indexes, code);
    let rows = [
        ("DEPLOY.md", "| `LinksTable` |"),
        ("CONFIGURATION.md", "| `LINKS_TABLE` |"),
    ];
    for (file, row_start) in rows {
        let text = doc(file);
        let row = text
            .lines()
            .find(|l| l.starts_with(row_start))
            .unwrap_or_else(|| panic!("{file} has no row {row_start}"));
        for i in &indexes {
            assert!(
                row.contains(&format!("`{i}`")),
                "{file}'s {row_start} row does not name the index {i}"
            );
        }
    }
}

#[test]
fn the_alarm_list_of_operations_is_the_templates() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let text = doc("OPERATIONS.md");
    let listed: BTreeSet<String> = code_spans(marked(&text, "OPERATIONS.md", "alarms"))
        .into_iter()
        .filter(|n| n.ends_with("Alarm"))
        .collect();
    assert_eq!(
        listed, alarms,
        "OPERATIONS.md's alarm list (left) against the template's alarms"
    );
}

#[test]
fn deploy_names_every_resource_the_stack_creates() {
    let t = template();
    let text = doc("DEPLOY.md");
    let start = text
        .find("What the stack creates:")
        .expect("DEPLOY.md has its resource table");
    let table: String = text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let named = code_spans(&table);
    for name in t["Resources"].as_object().unwrap().keys() {
        assert!(
            named.contains(name),
            "DEPLOY.md's table of what the stack creates leaves out {name}"
        );
    }
}

/// The actions of an `AWS::IAM::Role`'s inline policies.
fn role_actions(t: &Value, role: &str) -> BTreeSet<String> {
    as_list(&props(t, role)["Policies"])
        .iter()
        .flat_map(|p| as_list(&p["PolicyDocument"]["Statement"]))
        .flat_map(|s| branches(&s))
        .flat_map(|(_, s)| actions(&s))
        .collect()
}

#[test]
fn deploy_grants_each_role_exactly_what_its_policy_allows() {
    let t = template();
    let text = doc("DEPLOY.md");
    // `| role of | may | on |` rows; a row with an empty first cell continues the role above
    let mut documented: Vec<(String, BTreeSet<String>)> = vec![];
    for row in marked(&text, "DEPLOY.md", "iam")
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<&str> = row.split('|').collect();
        let (role, may) = (cells[1].trim(), cells[2]);
        if !role.is_empty() {
            documented.push((role.trim_matches('`').to_owned(), BTreeSet::new()));
        }
        let (_, acts) = documented.last_mut().expect("the first row names its role");
        acts.extend(code_spans(may).into_iter().filter(|a| a.contains(':')));
    }
    let mut roles: Vec<(String, BTreeSet<String>)> =
        ["WebhookFunction", "ResyncFunction", "DeliveryFunction"]
            .iter()
            .map(|f| {
                let acts = statements(&t, f).iter().flat_map(|(_, s)| actions(s)).collect();
                (f.to_string(), acts)
            })
            .collect();
    assert_eq!(resource(&t, "ApiDestinationRole")["Type"], "AWS::IAM::Role");
    roles.push((
        "ApiDestinationRole".into(),
        role_actions(&t, "ApiDestinationRole"),
    ));
    assert_eq!(
        documented.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        roles.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        "DEPLOY.md's IAM table names these roles, in this order"
    );
    for ((role, doc_acts), (_, acts)) in documented.iter().zip(&roles) {
        assert_eq!(
            doc_acts, acts,
            "{role}: DEPLOY.md's IAM table (left) against the template's policy"
        );
    }
    // the webhook's role cannot Scan: only the resync pages through the links
    assert!(!roles[0].1.contains("dynamodb:Scan"));
    assert!(roles[1].1.contains("dynamodb:Scan"));
    // the queue policies, as the prose under the table says
    for q in ["DeliveryQueuePolicy", "DeliveryDeadLetterQueuePolicy"] {
        let acts: BTreeSet<String> = as_list(&props(&t, q)["PolicyDocument"]["Statement"])
            .iter()
            .flat_map(actions)
            .collect();
        assert_eq!(acts, BTreeSet::from(["sqs:SendMessage".to_owned()]), "{q}");
    }
}
