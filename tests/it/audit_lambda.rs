//! The scheduled audit through the real Lambda runtime loop (`bootstrap` as the resync
//! function) on moto: `{"zaaklink": "audit"}` reads the fake Open Klant and the fake Open
//! Zaak, mends the missing relation through the outbox onto the bus (a zaak-gekoppeld for
//! `deliver`), answers the report, and writes the metric `AuditDifferences` by `Kind`
//! (embedded metric format). Without `zaken.lezen` the invocation fails naming the scope and
//! puts nothing on the bus.

use crate::common;

use std::path::Path;
use std::process::{Child, Command};

use serde_json::Value;
use zaaklink::demo::samples;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::fake_openzaak::FakeOpenZaak;

const TOKEN: &str = "audit-e2e-token";
const SOURCE: &str = "urn:nld:oin:01823288444:openklant";
const CLIENT: &str = "zaaklink-audit-e2e";
const ZAAK_A_ID: &str = "a7b3c8d9-e4f5-6a7b-8c9d-e0f1a2b3c4d5";
const SECRET: &str = "een-geheim-van-minstens-32-tekens-lang!";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (Kind, value) of every AuditDifferences document in the log (a gauge: 0 is written too).
fn audit_metrics(log: &str) -> Vec<(String, u64)> {
    log.lines()
        .filter(|l| l.contains("\"_aws\"") && l.contains("AuditDifferences"))
        .map(|l| {
            let doc: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                serde_json::json!([["Kind"]]),
                "{l}"
            );
            (
                doc["Kind"].as_str().unwrap().to_owned(),
                doc["AuditDifferences"].as_f64().unwrap() as u64,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_audit_mends_through_the_bus_and_writes_its_metric() {
    use std::os::unix::process::CommandExt;
    let moto = common::Moto::start();
    let (table, bus) = ("zaaklink-audit-links", "zaaklink-audit-bus");
    moto.create_links_table(table).await;
    let queue = moto.create_bus_rule_queue(bus, SOURCE).await;
    let ok = FakeOpenKlant::start(TOKEN).await.unwrap();
    ok.put(samples::KLANTCONTACT);
    ok.put(samples::ZAAK_A);
    let oz = FakeOpenZaak::start(CLIENT, SECRET).await.unwrap();
    // an unrelated ZaakObject: never reported, never touched
    oz.insert_object(
        ZAAK_A_ID,
        "https://objecten.example.nl/api/v2/objects/1",
        "elders",
    );
    let dir = tempfile::tempdir().unwrap();
    let api = common::runtime_api::RuntimeApi::start().await;
    let log_path = dir.path().join("function.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "zaaklink-audit")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", common::REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("ZAAKLINK_FUNCTION", "resync"),
        ("LINKS_TABLE", table),
        ("EVENT_BUS_NAME", bus),
        ("ENABLE_CLOUD_EVENTS", "true"),
        ("NOTIFICATIONS_SOURCE", SOURCE),
        ("OPEN_KLANT_API_ROOT", &ok.api_root()),
        ("OPEN_KLANT_API_TOKEN", TOKEN),
        ("ALLOW_PLAIN_HTTP", "true"),
        ("OPEN_ZAAK_ROOT", &oz.base),
        ("OPEN_ZAAK_CLIENT_ID", CLIENT),
        ("OPEN_ZAAK_SECRET", SECRET),
        ("ZAAKLINK_AUDIT_SETTLE", "0s"),
        ("METRICS_NAMESPACE", "zaaklink/audit-e2e"),
        ("RUST_LOG", "info"),
    ] {
        cmd.env(k, v);
    }
    cmd.process_group(0).stdout(log.try_clone().unwrap()).stderr(log);
    let _function = Proc(cmd.spawn().unwrap());
    let function_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Open Klant links the sample object to zaak A; Open Zaak has no relation: missing.
    let report = api
        .invoke(serde_json::json!({"zaaklink": "audit"}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function_log()));
    assert_eq!(report["job"], "audit");
    assert_eq!(report["differences"]["missing"]["count"], 1, "{report}");
    assert_eq!(report["repairs"]["objects"], 1, "{report}");
    assert_eq!(
        (report["remaining"].as_u64(), report["exitStatus"].as_u64()),
        (Some(0), Some(0))
    );
    let events = moto.receive_all(&queue).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let ce = &events[0]["detail"];
    assert_eq!(ce["type"], "nl.overheid.zaken.zaak-gekoppeld");
    assert_eq!(ce["data"]["zaak"], format!("urn:uuid:{}", ZAAK_A_ID));
    assert_eq!(ce["data"]["linkTo"], ok.rewrite(samples::OO_URL));
    let mut metrics = audit_metrics(&function_log());
    metrics.sort();
    assert_eq!(
        metrics,
        vec![
            ("duplicated".into(), 0),
            ("labelDifferent".into(), 0),
            ("malformed".into(), 0),
            ("missing".into(), 1),
            ("remaining".into(), 0),
            ("stray".into(), 0),
        ]
    );
    assert_eq!(
        oz.objects().len(),
        1,
        "the unrelated one untouched; the gekoppeld waits for deliver"
    );
    assert_eq!(report["invocations"], 1, "{report}");
    // The continuation tick: the run is done, so there is nothing to go on with.
    let tick = api
        .invoke(serde_json::json!({"zaaklink": "audit", "continue": true}))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function_log()));
    assert_eq!(tick, serde_json::json!({"job": "audit", "result": "idle"}));

    // Without zaken.lezen: the invocation fails naming the scope; nothing is put.
    oz.refuse_reads(true);
    let e = api
        .invoke(serde_json::json!({"zaaklink": "audit"}))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("zaken.lezen") && text.contains(CLIENT), "{text}");
    assert!(!text.contains(SECRET) && !function_log().contains(SECRET));
    assert!(moto.receive_all(&queue).await.is_empty());
    assert!(Path::new(&log_path).exists());
}
