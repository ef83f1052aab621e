//! The Lambda's secrets at cold start, against moto: both secrets in one request per service
//! (SSM `GetParameters` with `WithDecryption`, Secrets Manager `BatchGetSecretValue`), mixed
//! sources in parallel, and errors that name the setting and the name, never a value. A
//! small proxy in front of moto records the operation of every request the SDK sends.

use crate::common;

use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use zaaklink::aws::{fetch_secrets, SecretRef};

const WEBHOOK: &str = "Token Wh-7Kq2-geheim";
const TOKEN: &str = "Ok-9Zt4-geheim";

/// A proxy to moto that records each request's `X-Amz-Target` (the JSON protocol operation).
async fn counting_proxy(moto: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (target, log) = (moto.to_string(), seen.clone());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (target, log, client) = (target.clone(), log.clone(), client.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            if let Some(t) = parts.headers.get("x-amz-target") {
                log.lock().unwrap().push(t.to_str().unwrap().to_string());
            }
            let mut out = client.request(parts.method.clone(), format!("{target}{}", parts.uri));
            for (k, v) in &parts.headers {
                if k != "host" {
                    out = out.header(k, v);
                }
            }
            let resp = out.body(body).send().await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap();
            let mut r = axum::response::Response::new(axum::body::Body::from(bytes));
            *r.status_mut() = status;
            for (k, v) in &headers {
                if k != "transfer-encoding" && k != "content-length" {
                    r.headers_mut().insert(k, v.clone());
                }
            }
            r
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

async fn sdk(endpoint: &str) -> SdkConfig {
    zaaklink::aws::config_loader()
        .region(Region::new(common::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

fn taken(seen: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *seen.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn both_secrets_in_one_request_per_service() {
    let moto = common::Moto::start();
    for (name, value) in [
        ("/zaaklink/webhook-auth", WEBHOOK),
        ("/zaaklink/open-klant-token", TOKEN),
    ] {
        moto.put_secure_parameter(name, value).await;
    }
    for (name, value) in [
        ("zaaklink/webhook-auth", WEBHOOK),
        ("zaaklink/open-klant-token", TOKEN),
    ] {
        moto.create_secret(name, value).await;
    }
    let (proxy, seen) = counting_proxy(&moto.endpoint).await;
    let sdk = sdk(&proxy).await;
    let r = |setting, ssm, secret_id| SecretRef {
        setting,
        ssm,
        secret_id,
    };

    // Both in SSM: one GetParameters.
    let got = fetch_secrets(
        &sdk,
        &[
            r("WEBHOOK_AUTH", Some("/zaaklink/webhook-auth"), None),
            r("OPEN_KLANT_API_TOKEN", Some("/zaaklink/open-klant-token"), None),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got, [Some(WEBHOOK.to_string()), Some(TOKEN.to_string())]);
    assert_eq!(taken(&seen), ["AmazonSSM.GetParameters"]);

    // Both in Secrets Manager: one BatchGetSecretValue.
    let got = fetch_secrets(
        &sdk,
        &[
            r("WEBHOOK_AUTH", None, Some("zaaklink/webhook-auth")),
            r("OPEN_KLANT_API_TOKEN", None, Some("zaaklink/open-klant-token")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got, [Some(WEBHOOK.to_string()), Some(TOKEN.to_string())]);
    assert_eq!(taken(&seen), ["secretsmanager.BatchGetSecretValue"]);

    // One in each (at once), and one not named at all.
    let got = fetch_secrets(
        &sdk,
        &[
            r("WEBHOOK_AUTH", None, Some("zaaklink/webhook-auth")),
            r("OPEN_KLANT_API_TOKEN", Some("/zaaklink/open-klant-token"), None),
            r("UNUSED", None, None),
        ],
    )
    .await
    .unwrap();
    assert_eq!(got, [Some(WEBHOOK.to_string()), Some(TOKEN.to_string()), None]);
    let mut ops = taken(&seen);
    ops.sort();
    assert_eq!(ops, ["AmazonSSM.GetParameters", "secretsmanager.GetSecretValue"]);

    // A missing parameter or secret names the setting and the name, never a value.
    for wanted in [
        [
            r("WEBHOOK_AUTH", Some("/zaaklink/webhook-auth"), None),
            r("OPEN_KLANT_API_TOKEN", Some("/zaaklink/no-such-parameter"), None),
        ],
        [
            r("WEBHOOK_AUTH", None, Some("zaaklink/webhook-auth")),
            r("OPEN_KLANT_API_TOKEN", None, Some("zaaklink/no-such-secret")),
        ],
    ] {
        let e = fetch_secrets(&sdk, &wanted).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no-such"), "{text}");
        assert!(text.contains("OPEN_KLANT_API_TOKEN"), "{text}");
        assert!(!text.contains("geheim"), "{text}");
        assert_eq!(taken(&seen).len(), 1, "still one request: {text}");
    }
}

/// A secret read alone (`GetSecretValue`) or an SSM parameter that is not there: AWS's error
/// code, the setting, the name and the right, never a value; the same for `deliver`'s
/// Open Zaak credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_names_aws_error_and_the_right() {
    let moto = common::Moto::start();
    moto.create_secret(
        "zaaklink/open-zaak",
        r#"{"client_id":"zl","secret":"Oz-geheim-3"}"#,
    )
    .await;
    let sdk = sdk(&moto.endpoint).await;
    let e = fetch_secrets(
        &sdk,
        &[SecretRef {
            setting: "OPEN_KLANT_API_TOKEN",
            ssm: None,
            secret_id: Some("zaaklink/no-such-secret"),
        }],
    )
    .await
    .unwrap_err()
    .to_string();
    for part in [
        "OPEN_KLANT_API_TOKEN",
        "zaaklink/no-such-secret",
        "ResourceNotFoundException",
        "secretsmanager:GetSecretValue",
    ] {
        assert!(e.contains(part), "{part:?} in {e}");
    }
    let e = fetch_secrets(
        &sdk,
        &[SecretRef {
            setting: "WEBHOOK_AUTH",
            ssm: Some("/zaaklink/no-such-parameter"),
            secret_id: None,
        }],
    )
    .await
    .unwrap_err()
    .to_string();
    for part in [
        "WEBHOOK_AUTH",
        "/zaaklink/no-such-parameter",
        "does not exist",
        "ssm:GetParameters",
    ] {
        assert!(e.contains(part), "{part:?} in {e}");
    }

    use zaaklink::deliver::{load_credentials, CredentialsSource};
    let found = load_credentials(
        &CredentialsSource::SecretsManager("zaaklink/open-zaak".into()),
        &sdk,
    )
    .await
    .unwrap();
    assert_eq!(
        found,
        zaaklink::deliver::OpenZaakCredentials::new("zl", "Oz-geheim-3")
    );
    let e = load_credentials(&CredentialsSource::SecretsManager("zaaklink/gone".into()), &sdk)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("zaaklink/gone") && e.contains("ResourceNotFoundException"),
        "{e}"
    );
    assert!(
        e.contains("secretsmanager:GetSecretValue") && !e.contains("geheim"),
        "{e}"
    );
}

/// `aws::build`, as the bootstrap runs it, takes both secrets from SSM in one request and
/// validates them.
#[tokio::test(flavor = "multi_thread")]
async fn build_reads_its_secrets_by_name() {
    let moto = common::Moto::start();
    for (name, value) in [("/zl/webhook", WEBHOOK), ("/zl/token", TOKEN)] {
        moto.put_secure_parameter(name, value).await;
    }
    let (proxy, seen) = counting_proxy(&moto.endpoint).await;
    let sdk = sdk(&proxy).await;
    let args = zaaklink::aws::LambdaArgs {
        core: zaaklink::config::CoreArgs {
            enable_cloud_events: "true".into(),
            notifications_source: "urn:x".into(),
            open_klant_api_root: Some("http://127.0.0.1:9/klantinteracties/api/v1/".into()),
            label_max_chars: "80".into(),
            open_klant_timeout_ms: "1000".into(),
            ..Default::default()
        },
        links_table: Some("links".into()),
        event_bus_name: Some("bus".into()),
        allow_plain_http: "true".into(),
        webhook_auth_ssm_parameter: Some("/zl/webhook".into()),
        open_klant_api_token_ssm_parameter: Some("/zl/token".into()),
        ..Default::default()
    };
    let (_, cfg) = zaaklink::aws::build(&sdk, args).await.unwrap();
    assert_eq!(cfg.open_klant_token.expose(), TOKEN);
    assert!(cfg.webhook_auth.verify(Some(WEBHOOK.as_bytes())));
    assert_eq!(taken(&seen), ["AmazonSSM.GetParameters"]);
}
