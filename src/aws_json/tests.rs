//! The wire shape of the secrets calls and the mapping of AWS's error answers, against a
//! recording stand-in on 127.0.0.1 (moto runs the same calls in tests/it/secrets_aws.rs).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use serde_json::{json, Value};

use super::*;
use crate::aws::{fetch_secrets, SecretRef};

/// One request as the stand-in saw it: its headers (lower-case names) and JSON body.
type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Value)>>>;

/// A stand-in for AWS that records every request and answers from `answers` in turn.
async fn stand_in(answers: Vec<(u16, Value)>) -> (SdkConfig, Seen) {
    let seen: Seen = Arc::default();
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (log, answers) = (log.clone(), answers.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            log.lock()
                .unwrap()
                .push((headers, serde_json::from_slice(&body).unwrap()));
            let (status, answer) = answers.lock().unwrap().pop_front().expect("an answer left");
            let code = axum::http::StatusCode::from_u16(status).unwrap();
            (code, axum::Json(answer))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI-secret-key",
            None,
            None,
            "test",
        )))
        .endpoint_url(url)
        .build();
    (sdk, seen)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn ssm_ref(setting: &'static str, name: &'static str) -> SecretRef<'static> {
    SecretRef {
        setting,
        ssm: Some(name),
        secret_id: None,
    }
}

#[tokio::test]
async fn get_parameters_is_one_signed_json_1_1_post() {
    let answer = json!({"Parameters": [
        {"Name": "/zl/a", "ARN": "arn:aws:ssm:eu-west-1:1:parameter/zl/a", "Value": "va", "Type": "SecureString"},
        {"Name": "/zl/b", "Value": "vb"}], "InvalidParameters": []});
    let (sdk, seen) = stand_in(vec![(200, answer)]).await;
    let got = fetch_secrets(&sdk, &[ssm_ref("A", "/zl/a"), ssm_ref("B", "/zl/b")])
        .await
        .unwrap();
    assert_eq!(got, [Some("va".to_string()), Some("vb".to_string())]);
    let seen = seen.lock().unwrap();
    let [(headers, body)] = &seen[..] else {
        panic!("one request, not {}", seen.len())
    };
    assert_eq!(
        body,
        &json!({"Names": ["/zl/a", "/zl/b"], "WithDecryption": true})
    );
    assert_eq!(header(headers, "x-amz-target"), "AmazonSSM.GetParameters");
    assert_eq!(header(headers, "content-type"), "application/x-amz-json-1.1");
    let auth = header(headers, "authorization");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-1/ssm/aws4_request"), "{auth}");
    assert!(auth.contains("x-amz-target"), "the target is signed: {auth}");
    assert!(!auth.contains("secret-key"), "{auth}");
    assert!(!header(headers, "x-amz-date").is_empty());
}

#[tokio::test]
async fn secrets_manager_batch_and_single_shapes() {
    let batch = json!({"SecretValues": [{"Name": "zl/a", "ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:zl/a-AbCdEf", "SecretString": "geheim-a"}],
        "Errors": [{"SecretId": "zl/b", "ErrorCode": "ResourceNotFoundException", "Message": "Secrets Manager can't find the specified secret."}]});
    let single = json!({"Name": "zl/a", "SecretString": "geheim-a"});
    let (sdk, seen) = stand_in(vec![(200, batch), (200, single)]).await;
    let sm = |setting, id| SecretRef {
        setting,
        ssm: None,
        secret_id: Some(id),
    };
    let e = fetch_secrets(&sdk, &[sm("A", "zl/a"), sm("B", "zl/b")])
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("B") && text.contains("zl/b"), "{text}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    assert!(text.contains("secretsmanager:GetSecretValue"), "{text}");
    assert!(!text.contains("geheim-a"), "{text}");
    let got = fetch_secrets(&sdk, &[sm("A", "arn:aws:secretsmanager:eu-west-1:1:secret:zl/a")]).await;
    assert_eq!(got.unwrap(), [Some("geheim-a".to_string())]);
    let seen = seen.lock().unwrap();
    let shapes: Vec<(&str, &Value)> = seen.iter().map(|(h, b)| (header(h, "x-amz-target"), b)).collect();
    assert_eq!(
        shapes,
        [
            (
                "secretsmanager.BatchGetSecretValue",
                &json!({"SecretIdList": ["zl/a", "zl/b"]})
            ),
            (
                "secretsmanager.GetSecretValue",
                &json!({"SecretId": "arn:aws:secretsmanager:eu-west-1:1:secret:zl/a"})
            ),
        ]
    );
    assert!(header(&seen[0].0, "authorization").contains("/eu-west-1/secretsmanager/aws4_request"));
}

#[tokio::test]
async fn access_denied_names_the_parameters_and_the_rights() {
    let denied = json!({"__type": "AccessDeniedException", "message": "User: arn:aws:sts::1:assumed-role/fn is not authorized to perform: ssm:GetParameters"});
    let (sdk, seen) = stand_in(vec![(400, denied)]).await;
    let e = fetch_secrets(&sdk, &[ssm_ref("WEBHOOK_AUTH", "/zl/a")])
        .await
        .unwrap_err();
    let text = e.to_string();
    for part in [
        "/zl/a",
        "AccessDeniedException",
        "ssm:GetParameters",
        "kms:Decrypt",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert_eq!(seen.lock().unwrap().len(), 1, "access denied is not retried");
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_then_given_up() {
    let throttled = json!({"__type": "com.amazonaws.ssm#ThrottlingException", "message": "Rate exceeded"});
    let ok = json!({"Parameters": [{"Name": "/zl/a", "Value": "va"}], "InvalidParameters": []});
    let (sdk, seen) = stand_in(vec![(400, throttled.clone()), (500, json!({})), (200, ok)]).await;
    let got = fetch_secrets(&sdk, &[ssm_ref("A", "/zl/a")]).await.unwrap();
    assert_eq!(got, [Some("va".to_string())]);
    assert_eq!(seen.lock().unwrap().len(), 3);

    let answers = vec![
        (400, throttled.clone()),
        (400, throttled.clone()),
        (400, throttled),
    ];
    let (sdk, seen) = stand_in(answers).await;
    let e = call(&reqwest::Client::new(), &sdk, &SSM, "GetParameters", &json!({})).await;
    assert_eq!(e.unwrap_err().code(), Some("ThrottlingException"));
    assert_eq!(seen.lock().unwrap().len(), ATTEMPTS as usize);
}

#[test]
fn error_answers_map_to_their_short_code() {
    let err =
        |status, header: Option<&str>, body: &str| read_answer(status, header, body.as_bytes()).unwrap_err();
    let e = err(
        400,
        None,
        r#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"not found"}"#,
    );
    assert_eq!(
        e,
        CallError::Aws {
            code: "ResourceNotFoundException".into(),
            message: "not found".into(),
            status: 400
        }
    );
    let e = err(400, Some("ParameterNotFound:http://internal.amazon.com/"), "{}");
    assert_eq!(e.code(), Some("ParameterNotFound"));
    assert_eq!(
        err(502, None, "<html>bad gateway</html>").code(),
        Some("HTTP 502")
    );
    assert!(err(502, None, "").retryable());
    assert!(!err(400, Some("AccessDeniedException"), "").retryable());
    assert!(matches!(
        read_answer(200, None, b"not json"),
        Err(CallError::Transport(_))
    ));
    assert_eq!(read_answer(200, None, br#"{"a":1}"#), Ok(json!({"a": 1})));
}

#[test]
fn the_endpoint_is_the_regional_one_unless_overridden() {
    let sdk = |endpoint: Option<&str>, region: &str| {
        let b = SdkConfig::builder().region(Region::new(region.to_string()));
        match endpoint {
            Some(url) => b.endpoint_url(url).build(),
            None => b.build(),
        }
    };
    assert_eq!(
        endpoint(&sdk(None, "eu-west-1"), &SSM).unwrap(),
        "https://ssm.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        endpoint(&sdk(None, "cn-north-1"), &SECRETS_MANAGER).unwrap(),
        "https://secretsmanager.cn-north-1.amazonaws.com.cn/"
    );
    assert_eq!(
        endpoint(&sdk(Some("http://127.0.0.1:5000"), "eu-west-1"), &SSM).unwrap(),
        "http://127.0.0.1:5000"
    );
    assert_eq!(
        request_headers(&SECRETS_MANAGER, "GetSecretValue"),
        [
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", "secretsmanager.GetSecretValue".to_string())
        ]
    );
}
