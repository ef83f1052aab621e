use std::time::Duration;

use super::*;

fn full() -> CoreArgs {
    CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: "urn:nld:oin:1:openklant".into(),
        webhook_auth: Some("Token geheim".into()),
        open_klant_api_root: Some("https://klant.example.nl/klantinteracties/api/v1".into()),
        open_klant_api_token: Some("tok-geheim".into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "10000".into(),
    }
}

#[test]
fn resync_settings_table() {
    for (v, want) in [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("2d", 172_800),
    ] {
        assert_eq!(parse_duration("X", v).unwrap(), Duration::from_secs(want), "{v}");
    }
    for bad in ["", "h", "1w", "-5", "1.5h"] {
        assert!(
            parse_duration("RESYNC_INTERVAL", bad)
                .unwrap_err()
                .to_string()
                .contains("RESYNC_INTERVAL"),
            "{bad}"
        );
    }
    let ok = ResyncArgs::default().validate().unwrap();
    assert_eq!((ok.page_size, ok.concurrency), (500, 4));
    assert_eq!(ok.interval, Duration::from_secs(90));
    assert_eq!(ok.backstop, Some(Duration::from_secs(3600)));
    for (v, want) in [("off", None), ("30m", Some(1800))] {
        let a = ResyncArgs {
            backstop: v.into(),
            ..Default::default()
        };
        assert_eq!(
            a.validate().unwrap().backstop,
            want.map(Duration::from_secs),
            "{v}"
        );
    }
    let e = ResyncArgs {
        backstop: "hourly".into(),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.setting, "RESYNC_BACKSTOP_INTERVAL");
    assert!(e.to_string().contains("or off"), "{e}");
    let bad = ResyncArgs {
        page_size: "501".into(),
        ..Default::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("RESYNC_PAGE_SIZE"));
    let bad = ResyncArgs {
        concurrency: "0".into(),
        ..Default::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("RESYNC_CONCURRENCY"));
}

#[test]
fn valid_settings() {
    let c = full().validate().unwrap();
    assert_eq!(c.settings.emit_source.as_deref(), Some("urn:nld:oin:1:openklant"));
    assert_eq!(
        c.settings.api_root.as_str(),
        "https://klant.example.nl/klantinteracties/api/v1/"
    );
    assert!(c.emission_off_reason.is_none());
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("geheim"), "secrets must not print: {dbg}");
}

#[test]
fn emission_off_is_explained() {
    let mut a = full();
    a.enable_cloud_events = "false".into();
    let c = a.validate().unwrap();
    assert!(c.settings.emit_source.is_none());
    assert!(c.emission_off_reason.unwrap().contains("ENABLE_CLOUD_EVENTS"));
    let mut a = full();
    a.notifications_source = " ".into();
    let c = a.validate().unwrap();
    assert!(c.settings.emit_source.is_none());
    assert!(c.emission_off_reason.unwrap().contains("NOTIFICATIONS_SOURCE"));
}

#[test]
fn lambdas_refuse_a_plain_http_open_klant_root_unless_allowed() {
    let mut a = full();
    a.open_klant_api_root = Some("http://klant.example.nl/klantinteracties/api/v1/".into());
    // the CLI (laptops) keeps accepting http
    assert!(a.validate().is_ok());
    for unset in ["", "false", "0", "no"] {
        let e = a.validate_for_lambda(unset).unwrap_err();
        assert_eq!(e.setting, "OPEN_KLANT_API_ROOT", "{unset:?}");
        let msg = e.to_string();
        assert!(msg.contains("http://") && msg.contains("https"), "{msg}");
        assert!(msg.contains("ALLOW_PLAIN_HTTP=true"), "the fix is named: {msg}");
    }
    for allow in ["true", "TRUE", "1", "yes"] {
        let c = a.validate_for_lambda(allow).unwrap();
        assert_eq!(
            c.settings.api_root.as_str(),
            "http://klant.example.nl/klantinteracties/api/v1/"
        );
    }
    // https needs no permission; a bad flag is named
    assert!(full().validate_for_lambda("").is_ok());
    assert!(full().validate_for_lambda("false").is_ok());
    assert_eq!(
        full().validate_for_lambda("misschien").unwrap_err().setting,
        "ALLOW_PLAIN_HTTP"
    );
    assert!(refuse_plain_http("HTTP://x.example", false).is_err());
    assert!(refuse_plain_http("https://x.example", false).is_ok());
    assert!(refuse_plain_http("http://x.example", true).is_ok());
}

#[test]
fn each_bad_setting_is_named() {
    type Edit = fn(&mut CoreArgs);
    let cases: Vec<(&str, Edit)> = vec![
        ("ENABLE_CLOUD_EVENTS", |a| a.enable_cloud_events = "maybe".into()),
        ("WEBHOOK_AUTH", |a| a.webhook_auth = None),
        ("WEBHOOK_AUTH", |a| a.webhook_auth = Some("  ".into())),
        ("OPEN_KLANT_API_ROOT", |a| a.open_klant_api_root = None),
        ("OPEN_KLANT_API_ROOT", |a| {
            a.open_klant_api_root = Some("klant.example.nl".into())
        }),
        ("OPEN_KLANT_API_TOKEN", |a| a.open_klant_api_token = None),
        ("LABEL_MAX_CHARS", |a| a.label_max_chars = "0".into()),
        ("LABEL_MAX_CHARS", |a| a.label_max_chars = "tachtig".into()),
        ("OPEN_KLANT_TIMEOUT_MS", |a| a.open_klant_timeout_ms = "-1".into()),
    ];
    for (setting, edit) in cases {
        let mut a = full();
        edit(&mut a);
        let e = a.validate().unwrap_err();
        assert_eq!(e.setting, setting);
        assert!(e.to_string().contains(setting));
    }
}
