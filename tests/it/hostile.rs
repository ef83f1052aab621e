//! Hostile input on the webhook: arbitrary bytes, malformed JSON, wrong types per field, huge
//! strings, deep nesting, non-UTF-8, oversized bodies, wrong or missing Authorization, and
//! `resourceUrl` / `hoofdObject` outside OPEN_KLANT_API_ROOT.
//!
//! For every input `webhook::handle` returns (never panics), answers exactly the status an
//! independent model of DESIGN §1/§6 predicts (400 / 401 / 405 / 413, or 204 for a well-formed
//! notification that is not about onderwerpobjecten), and changes nothing: no store write, no
//! event, and no request to Open Klant — neither to the HTTP fake (counted by the fake) nor
//! through the Open Klant port (counted by a recording adapter behind a root no network
//! reaches, so a URL that slipped through the guard would show as a call, not a 502).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

use zaaklink::config::CoreArgs;
use zaaklink::fake_openklant::FakeOpenKlant;
use zaaklink::link::{Klantcontact, Onderwerpobject};
use zaaklink::openklant::{HttpOpenKlant, OpenKlant, OpenKlantError, Page};
use zaaklink::secret::Secret;
use zaaklink::sink::MemorySink;
use zaaklink::store::memory::MemoryStore;
use zaaklink::store::{DestroyedKlantcontact, LinkRecord, LinkStore, StoreError};
use zaaklink::webhook::{self, Answer, Request, WebhookAuth, MAX_BODY_BYTES};
use zaaklink::Zaaklink;

const AUTH: &str = "Token hostile-webhook-secret";
const TOKEN: &str = "hostile-open-klant-token";
const U: &str = "5fee9673-216c-41e7-91d2-69a8d1526b9f";
/// The root of the recording (no-network) setup.
const ROOT: &str = "https://klant.example.nl/klantinteracties/api/v1/";

// ---------------------------------------------------------------------------------------------
// Setups that count every effect
// ---------------------------------------------------------------------------------------------

/// A store that counts writes (any write is a state change).
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    puts: AtomicUsize,
}

#[async_trait]
impl LinkStore for CountingStore {
    async fn epoch(&self) -> Result<u64, StoreError> {
        self.inner.epoch().await
    }
    async fn get(&self, o: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.inner.get(o).await
    }
    async fn put(&self, r: &LinkRecord, expected: u64) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(r, expected).await
    }
    async fn linked_to_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_klantcontact(kc).await
    }
    async fn linked_to_was_klantcontact(&self, kc: &str) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked_to_was_klantcontact(kc).await
    }
    async fn put_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.put_destroyed(m).await
    }
    async fn destroyed(&self) -> Result<Vec<DestroyedKlantcontact>, StoreError> {
        self.inner.destroyed().await
    }
    async fn drop_destroyed(&self, m: &DestroyedKlantcontact) -> Result<(), StoreError> {
        self.inner.drop_destroyed(m).await
    }
    async fn with_pending(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.with_pending().await
    }
    async fn linked(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.inner.linked().await
    }
}

/// The Open Klant port without a network: counts calls, answers "gone".
#[derive(Default)]
struct RecordingKlant {
    calls: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl OpenKlant for RecordingKlant {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.calls.lock().unwrap().push(url.to_string());
        Ok(None)
    }
    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.calls.lock().unwrap().push(url.to_string());
        Ok(None)
    }
    async fn klantcontact_expanded(
        &self,
        url: &str,
    ) -> Result<Option<zaaklink::openklant::ExpandedKlantcontact>, OpenKlantError> {
        self.calls.lock().unwrap().push(url.to_string());
        Ok(None)
    }

    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        _page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        self.calls.lock().unwrap().push(format!("list page {page}"));
        Ok(None)
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    app: Zaaklink,
    auth: WebhookAuth,
    store: Arc<CountingStore>,
    sink: Arc<MemorySink>,
    /// Present in the HTTP-fake setup.
    fake: Option<FakeOpenKlant>,
    /// Present in the recording setup.
    klant: Option<Arc<RecordingKlant>>,
    root: String,
}

fn args(root: &str) -> CoreArgs {
    CoreArgs {
        enable_cloud_events: "true".into(),
        notifications_source: "urn:nld:oin:01823288444:openklant".into(),
        webhook_auth: Some(AUTH.into()),
        open_klant_api_root: Some(root.into()),
        open_klant_api_token: Some(TOKEN.into()),
        label_max_chars: "80".into(),
        open_klant_timeout_ms: "2000".into(),
    }
}

impl Setup {
    /// The real HTTP adapter against the HTTP fake on 127.0.0.1.
    fn http_fake() -> Setup {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeOpenKlant::start(TOKEN)).unwrap();
        let root = fake.api_root();
        let cfg = args(&root).validate().unwrap();
        let klant = Arc::new(HttpOpenKlant::new(
            cfg.settings.api_root.clone(),
            cfg.open_klant_token.clone(),
            Duration::from_secs(2),
        ));
        Setup::build(rt, klant, cfg, Some(fake), None, root)
    }

    /// The recording port behind `ROOT`.
    fn recording() -> Setup {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cfg = args(ROOT).validate().unwrap();
        let klant = Arc::new(RecordingKlant::default());
        Setup::build(rt, klant.clone(), cfg, None, Some(klant), ROOT.into())
    }

    fn build(
        rt: tokio::runtime::Runtime,
        klant: Arc<dyn OpenKlant>,
        cfg: zaaklink::config::CoreConfig,
        fake: Option<FakeOpenKlant>,
        recording: Option<Arc<RecordingKlant>>,
        root: String,
    ) -> Setup {
        let store = Arc::new(CountingStore::default());
        let sink = Arc::new(MemorySink::default());
        Setup {
            app: Zaaklink {
                klant,
                store: store.clone(),
                sink: sink.clone(),
                settings: cfg.settings.clone(),
            },
            auth: cfg.webhook_auth,
            rt,
            store,
            sink,
            fake,
            klant: recording,
            root,
        }
    }

    fn call(&self, method: &str, auth: Option<&[u8]>, body: &[u8]) -> Answer {
        self.rt.block_on(webhook::handle(
            &self.app,
            &self.auth,
            Request {
                method,
                authorization: auth,
                content_type: None,
                body,
            },
        ))
    }

    fn post(&self, body: &[u8]) -> Answer {
        self.call("POST", Some(AUTH.as_bytes()), body)
    }

    /// Open Klant requests so far (fake and port).
    fn open_klant_requests(&self) -> Vec<String> {
        let mut v = self.fake.as_ref().map(|f| f.requests()).unwrap_or_default();
        if let Some(k) = &self.klant {
            v.extend(k.calls.lock().unwrap().iter().cloned());
        }
        v
    }

    /// Nothing happened: no write, no event, no Open Klant request.
    fn assert_untouched(&self, what: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.store.puts.load(Ordering::SeqCst), 0, "a write for {}", what);
        prop_assert!(
            self.sink.events.lock().unwrap().is_empty(),
            "an event for {}",
            what
        );
        let reqs = self.open_klant_requests();
        prop_assert!(reqs.is_empty(), "Open Klant was asked {:?} for {}", reqs, what);
        Ok(())
    }

    fn notification(&self) -> Map<String, Value> {
        let json = json!({
            "kanaal": "klantcontacten",
            "hoofdObject": format!("{}klantcontacten/3b2a0d4e-6f8c-4e1d-9a55-0c1f2e3d4b5a", self.root),
            "resource": "onderwerpobject",
            "resourceUrl": format!("{}onderwerpobjecten/{U}", self.root),
            "actie": "create",
            "aanmaakdatum": "2026-10-10T09:00:00.123456Z",
            "kenmerken": {}
        });
        json.as_object().unwrap().clone()
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn show(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The model: what the answer must be for a body (with the right Authorization)
// ---------------------------------------------------------------------------------------------

/// DESIGN §1/§6, written independently of src/notification.rs. URLs in generated bodies are
/// never valid resource URLs under the root, so a notification zaaklink handles is refused.
fn expected_status(body: &[u8]) -> u16 {
    if body.len() > MAX_BODY_BYTES {
        return 413;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return 400;
    };
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return 400;
    };
    let string = |k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(Some(s.as_str())),
        _ => None,
    };
    for k in ["kanaal", "hoofdObject", "resource", "resourceUrl", "actie"] {
        if string(k).is_none() {
            return 400;
        }
    }
    for k in ["aanmaakdatum", "source"] {
        if !matches!(m.get(k), None | Some(Value::Null) | Some(Value::String(_))) {
            return 400;
        }
    }
    if !matches!(
        m.get("kenmerken"),
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return 400;
    }
    let s = |k: &str| m[k].as_str().unwrap();
    if s("kanaal").is_empty() || s("resource").is_empty() || s("actie").is_empty() {
        return 400;
    }
    let handled = s("resource") == "onderwerpobject"
        || (s("kanaal") == "klantcontacten" && s("resource") == "klantcontact");
    if handled {
        400
    } else {
        204
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn arbitrary_bytes_never_panic_and_change_nothing() {
    let s = Setup::http_fake();
    let bodies = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..600),
        1 => proptest::collection::vec(any::<u8>(), MAX_BODY_BYTES - 4..MAX_BODY_BYTES + 4),
        2 => "\\PC{0,300}".prop_map(String::into_bytes),
    ];
    runner(400)
        .run(&bodies, |body| {
            let a = s.post(&body);
            prop_assert_eq!(a.status, expected_status(&body), "{} -> {:?}", show(&body), a);
            s.assert_untouched(&show(&body))
        })
        .unwrap();
}

/// A JSON value of any type, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field value: missing, a wrong type, a plausible or hostile string.
fn field(plausible: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        2 => any_json().prop_map(Some),
        3 => proptest::sample::select(plausible).prop_map(|s| Some(Value::from(s))),
        1 => "\\PC{0,60}".prop_map(|s| Some(Value::from(s))),
        1 => (1usize..20_000).prop_map(|n| Some(Value::from("x".repeat(n)))),
    ]
}

#[test]
fn malformed_notifications_answer_exactly_what_the_model_says() {
    let s = Setup::http_fake();
    let base = s.notification();
    let hostile_urls: &'static [&'static str] = Box::leak(
        hostile_resource_urls(&s.root)
            .into_iter()
            .map(|u| &*Box::leak(u.into_boxed_str()))
            .collect::<Vec<&'static str>>()
            .into_boxed_slice(),
    );
    let fields = (
        field(&[
            "klantcontacten",
            "zaken",
            "",
            "KLANTCONTACTEN",
            "klantcontacten\u{0}",
        ]),
        field(hostile_urls),
        field(&[
            "onderwerpobject",
            "klantcontact",
            "betrokkene",
            "",
            "Onderwerpobject",
        ]),
        field(hostile_urls),
        field(&[
            "create",
            "update",
            "partial_update",
            "destroy",
            "delete",
            "",
            "CREATE",
        ]),
        field(&["2026-10-10T09:00:00Z", "gisteren"]),
        prop_oneof![Just(None), any_json().prop_map(Some)],
        prop_oneof![Just(None), any_json().prop_map(Some)],
    );
    runner(600)
        .run(
            &fields,
            |(kanaal, hoofd, resource, url, actie, datum, kenmerken, source)| {
                let mut m = base.clone();
                for (k, v) in [
                    ("kanaal", kanaal),
                    ("hoofdObject", hoofd),
                    ("resource", resource),
                    ("resourceUrl", url),
                    ("actie", actie),
                    ("aanmaakdatum", datum),
                    ("kenmerken", kenmerken),
                    ("source", source),
                ] {
                    match v {
                        None => {
                            m.remove(k);
                        }
                        Some(v) => {
                            m.insert(k.to_string(), v);
                        }
                    }
                }
                let body = serde_json::to_vec(&m).unwrap();
                let a = s.post(&body);
                prop_assert_eq!(a.status, expected_status(&body), "{} -> {:?}", show(&body), a);
                if a.status == 400 {
                    let (ct, doc) = a.body.clone().unwrap();
                    prop_assert_eq!(ct, "application/problem+json");
                    let doc: Value = serde_json::from_str(&doc).unwrap();
                    prop_assert!(doc["field"].is_string(), "the problem names the field: {}", doc);
                }
                s.assert_untouched(&show(&body))
            },
        )
        .unwrap();
}

#[test]
fn hand_picked_hostile_bodies() {
    let s = Setup::http_fake();
    let valid = serde_json::to_string(&s.notification()).unwrap();
    let ignored = valid.replace("\"onderwerpobject\"", "\"betrokkene\"");
    let mut deep_kenmerken: Value = serde_json::from_str(&ignored).unwrap();
    deep_kenmerken["kenmerken"] = serde_json::from_str(&format!(
        "{}{}",
        "{\"a\":".repeat(100),
        "1".to_string() + &"}".repeat(100)
    ))
    .unwrap();
    let over = |n: usize| {
        let mut v: Value = serde_json::from_str(&ignored).unwrap();
        v["kenmerken"]["pad"] = "x".repeat(n).into();
        serde_json::to_vec(&v).unwrap()
    };
    // Padding that makes the whole body exactly the limit, and one byte over.
    let base_len = over(0).len();
    let at_limit = over(MAX_BODY_BYTES - base_len);
    let past_limit = over(MAX_BODY_BYTES - base_len + 1);
    assert_eq!(
        (at_limit.len(), past_limit.len()),
        (MAX_BODY_BYTES, MAX_BODY_BYTES + 1)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![], 400),
        (b"   ".to_vec(), 400),
        (b"null".to_vec(), 400),
        (b"[]".to_vec(), 400),
        (b"\"kanaal\"".to_vec(), 400),
        (b"{}".to_vec(), 400),
        ("[".repeat(10_000).into_bytes(), 400),
        ("{\"a\":".repeat(10_000).into_bytes(), 400),
        (
            format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)).into_bytes(),
            400,
        ),
        (
            valid
                .replace("{\"kanaal\"", "{\"kenmerken\":".to_string().as_str())
                .into_bytes(),
            400,
        ),
        (
            format!(
                "{{\"kanaal\":\"klantcontacten\",\"resource\":\"x\",\"kenmerken\":{}}}",
                "[".repeat(3_000) + &"]".repeat(3_000)
            )
            .into_bytes(),
            400,
        ),
        (vec![0xff, 0xfe, 0xfd], 400),
        (
            [b"{\"kanaal\":\"".as_slice(), &[0xc3, 0x28], b"\"}"].concat(),
            400,
        ),
        (valid.replacen('{', "\u{feff}{", 1).into_bytes(), 400),
        (valid.replace("\"create\"", "\"create\\u0000\"").into_bytes(), 400),
        (valid.replace("\"create\"", "1").into_bytes(), 400),
        (valid.replace("\"create\"", "[\"create\"]").into_bytes(), 400),
        (valid.replace("\"onderwerpobject\"", "null").into_bytes(), 400),
        (valid.replace("{}", "[]").into_bytes(), 400),
        ((valid.clone() + "garbage").into_bytes(), 400),
        (
            valid
                .replace("\"create\"", &format!("\"{}\"", "a".repeat(60_000)))
                .into_bytes(),
            400,
        ),
        (ignored.clone().into_bytes(), 204),
        (serde_json::to_vec(&deep_kenmerken).unwrap(), 204),
        (at_limit, 204),
        (past_limit, 413),
        (vec![b' '; MAX_BODY_BYTES + 1], 413),
        (vec![0u8; 10 * MAX_BODY_BYTES], 413),
    ];
    for (body, want) in cases {
        let a = s.post(&body);
        assert_eq!(a.status, want, "{} -> {a:?}", show(&body));
        assert_eq!(
            want,
            expected_status(&body),
            "the model agrees for {}",
            show(&body)
        );
        s.assert_untouched(&show(&body)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization and method
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_or_missing_authorization_is_refused_before_anything() {
    let s = Setup::http_fake();
    let valid = serde_json::to_vec(&s.notification()).unwrap();
    let auths = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        "\\PC{0,80}".prop_map(String::into_bytes),
        (0..AUTH.len()).prop_map(|n| AUTH.as_bytes()[..n].to_vec()),
        "\\PC{1,20}".prop_map(|t| format!("{AUTH}{t}").into_bytes()),
        Just(AUTH.to_lowercase().into_bytes()),
        Just(AUTH.replace("Token", "Bearer").into_bytes()),
        Just(format!(" {AUTH}").into_bytes()),
    ];
    runner(300)
        .run(&(auths, any::<bool>()), |(auth, missing)| {
            prop_assume!(auth != AUTH.as_bytes());
            let a = s.call("POST", (!missing).then_some(auth.as_slice()), &valid);
            prop_assert_eq!(a.status, 401, "{:?}", a);
            prop_assert!(a.headers.iter().any(|(k, _)| *k == "www-authenticate"));
            let doc = a.body.as_ref().unwrap().1.clone();
            prop_assert!(!doc.contains(AUTH), "the answer never repeats the secret");
            s.assert_untouched("wrong auth")
        })
        .unwrap();
    for method in [
        "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "", "P0ST", "POST ",
    ] {
        let a = s.call(method, Some(AUTH.as_bytes()), &valid);
        assert_eq!(a.status, 405, "{method:?}");
        s.assert_untouched(method).unwrap();
    }
}

#[test]
fn verify_compares_whole_values_of_any_length() {
    for secret in ["Token abc", "x", &"k".repeat(10_000), "Token \u{e9}\u{1F600}"] {
        let auth = WebhookAuth::new(&Secret::new(secret));
        assert!(auth.verify(Some(secret.as_bytes())));
        let b = secret.as_bytes();
        // Every proper prefix, longer values, empty, missing: refused.
        for n in (0..b.len()).step_by((b.len() / 50).max(1)) {
            assert!(!auth.verify(Some(&b[..n])), "prefix {n} of {}", b.len());
        }
        for extra in [&b"\0"[..], b" ", b"a", &[0xff]] {
            assert!(!auth.verify(Some(&[b, extra].concat())));
            assert!(!auth.verify(Some(&[extra, b].concat())));
        }
        assert!(!auth.verify(Some(b"")));
        assert!(!auth.verify(None));
        // The literal stand-in for a missing header is not a way in either.
        assert!(!auth.verify(Some(b"\0missing")));
        assert!(!format!("{auth:?}").contains(secret));
    }
    // An empty configured value is refused at startup, so verify() never sees it.
    let mut a = args(ROOT);
    a.webhook_auth = Some(String::new());
    assert!(a.validate().is_err());
    let auth = WebhookAuth::new(&Secret::new(AUTH));
    runner(500)
        .run(&proptest::collection::vec(any::<u8>(), 0..64), |v| {
            prop_assume!(v != AUTH.as_bytes());
            prop_assert!(!auth.verify(Some(&v)));
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// URLs outside OPEN_KLANT_API_ROOT
// ---------------------------------------------------------------------------------------------

/// Hand-picked resource URLs outside `root` (which ends in `/klantinteracties/api/v1/`).
fn hostile_resource_urls(root: &str) -> Vec<String> {
    let u = url::Url::parse(root).unwrap();
    let host = u.host_str().unwrap().to_string();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let scheme = u.scheme().to_string();
    let other_scheme = if scheme == "http" { "https" } else { "http" };
    let hp = format!("{host}{port}");
    let path = format!("klantinteracties/api/v1/onderwerpobjecten/{U}");
    let mut v = vec![
        format!("{scheme}://evil.example/{path}"),
        format!("{scheme}://{hp}.evil.example/{path}"),
        format!("{scheme}://evil.example/{hp}/{path}"),
        format!("{scheme}://root@evil.example/{path}"),
        format!("{scheme}://{hp}@evil.example/{path}"),
        format!("{scheme}://{host}@evil.example{port}/{path}"),
        format!("{scheme}://root@{hp}/{path}"),
        format!("{scheme}://root:pw@{hp}/{path}"),
        format!("{scheme}://evil.example#@{hp}/{path}"),
        format!("{scheme}://evil.example?@{hp}/{path}"),
        format!("{scheme}://evil.example\\@{hp}/{path}"),
        format!("{root}../../../admin/onderwerpobjecten/{U}"),
        format!("{root}../onderwerpobjecten/{U}"),
        format!("{root}%2e%2e/%2e%2e/admin/onderwerpobjecten/{U}"),
        format!("{root}%2E%2E/onderwerpobjecten/{U}"),
        format!("{root}.%2e/onderwerpobjecten/{U}"),
        format!("{root}onderwerpobjecten/../../../../admin/{U}"),
        format!("{root}onderwerpobjecten/..%2f..%2f{U}"),
        format!("{root}onderwerpobjecten%2f{U}"),
        format!("{root}..\\..\\..\\admin\\onderwerpobjecten\\{U}"),
        format!("{scheme}:\\\\evil.example\\{path}"),
        format!("{scheme}:/\\evil.example/{path}"),
        format!("{other_scheme}://{hp}/{path}"),
        format!("ftp://{hp}/{path}"),
        format!("file:///{path}"),
        format!("file://{hp}/{path}"),
        format!("javascript:alert(1)//{hp}/{path}"),
        format!("data:text/plain,{scheme}://{hp}/{path}"),
        format!("ws://{hp}/{path}"),
        format!("//{hp}/{path}"),
        format!("/{path}"),
        path.clone(),
        format!("{scheme}://{hp}:1/{path}"),
        format!("{scheme}://{host}:8443/{path}"),
        format!("{scheme}://{host}:65535/{path}"),
        format!("{scheme}://{host}./{path}"),
        format!("{scheme}://{host}../{path}"),
        format!("{scheme}://[::1]{port}/{path}"),
        format!("{scheme}://[::ffff:7f00:2]{port}/{path}"),
        format!("{scheme}://[0:0:0:0:0:0:0:1]{port}/{path}"),
        format!("{scheme}://127.0.0.2{port}/{path}"),
        format!("{scheme}://2130706434{port}/{path}"),
        format!("{scheme}://0x7f000002{port}/{path}"),
        format!("{scheme}://0177.0.0.2{port}/{path}"),
        format!("{scheme}://127.2{port}/{path}"),
        format!("{scheme}://169.254.169.254/latest/meta-data/{path}"),
        format!("{scheme}://0.0.0.0{port}/{path}"),
        format!("{scheme}://localhost{port}/{path}"),
        format!("{scheme}://{hp}/other/api/v1/onderwerpobjecten/{U}"),
        format!("{scheme}://{hp}/klantinteracties/api/v10/onderwerpobjecten/{U}"),
        format!("{scheme}://{hp}/klantinteracties/api/v1onderwerpobjecten/{U}"),
        format!("{root}onderwerpobjecten/{U}?next=http://evil.example/"),
        format!("{root}onderwerpobjecten/{U}#@evil.example"),
        format!("{root}onderwerpobjecten/{U}/extra"),
        format!(" {root}onderwerpobjecten/{U}"),
        format!("{root}onderwerpobjecten/{U}\n"),
        format!("{root}onderwerpobjecten/\t{U}"),
        format!("{root}onderwerpobjecten/{U}\u{0}"),
        format!("{root}onderwerpobjecten/{}", U.replace('-', "")),
        format!("{root}onderwerpobjecten/{{{U}}}"),
        format!("{root}onderwerpobjecten/urn:uuid:{U}"),
    ];
    if host.chars().any(|c| c.is_ascii_alphabetic()) {
        // Lookalikes of a host name (Cyrillic а/е/ӏ, Greek ο, dotless ı), where they apply.
        for (ascii, lookalike) in [
            ('a', "\u{430}"),
            ('e', "\u{435}"),
            ('l', "\u{4cf}"),
            ('o', "\u{3bf}"),
            ('i', "\u{131}"),
        ] {
            if host.contains(ascii) {
                v.push(format!(
                    "{scheme}://{}{port}/{path}",
                    host.replacen(ascii, lookalike, 1)
                ));
            }
        }
        v.push(format!("{scheme}://xn--{host}{port}/{path}"));
        v.push(format!("{scheme}://{host}%2eevil.example/{path}"));
    }
    v
}

/// Canonical spellings of the root itself (not outside it): these must be accepted.
fn equivalent_resource_urls(root: &str) -> Vec<String> {
    let u = url::Url::parse(root).unwrap();
    let host = u.host_str().unwrap().to_string();
    let p = format!("klantinteracties/api/v1/onderwerpobjecten/{U}");
    vec![
        format!("{root}onderwerpobjecten/{U}"),
        format!("{root}onderwerpobjecten/{U}/"),
        format!("https://{}/{p}", host.to_uppercase()),
        format!("https://{host}:443/{p}"),
        format!("HTTPS://{host}/{p}"),
        // Empty user info is no user info in the URL standard.
        format!("https://:@{host}/{p}"),
        format!("https://{host}/klantinteracties/api/v1/x/../onderwerpobjecten/{U}"),
        format!("https://{host}/klantinteracties/api/v1/onderwerpobjecten\\{U}"),
        format!("https://{}/{p}", host.replace('k', "\u{ff4b}")),
    ]
}

/// Whether `url` is outside `root` by the URL standard (WHATWG parsing, as browsers and the
/// `url` crate do): the oracle for hoofdObject, which may name any resource under the root.
fn outside_root(root: &str, url: &str) -> bool {
    let root = url::Url::parse(root).unwrap();
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return true;
    }
    let Ok(u) = url::Url::parse(url) else {
        return true;
    };
    u.scheme() != root.scheme()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.host() != root.host()
        || u.port_or_known_default() != root.port_or_known_default()
        || !u.path().starts_with(root.path())
        || u.fragment().is_some()
}

fn with_urls(s: &Setup, resource_url: &str, hoofd: Option<&str>) -> Vec<u8> {
    let mut m = s.notification();
    m.insert("resourceUrl".into(), resource_url.into());
    if let Some(h) = hoofd {
        m.insert("hoofdObject".into(), h.into());
    }
    serde_json::to_vec(&m).unwrap()
}

fn assert_refused(s: &Setup, url: &str, field: &str) -> Result<(), TestCaseError> {
    let (body, valid) = (
        with_urls(s, url, None),
        format!("{}onderwerpobjecten/{U}", s.root),
    );
    let body = if field == "hoofdObject" {
        with_urls(s, &valid, Some(url))
    } else {
        body
    };
    let a = s.post(&body);
    prop_assert_eq!(a.status, 400, "{} as {}: {:?}", url, field, a);
    let doc: Value = serde_json::from_str(&a.body.as_ref().unwrap().1).unwrap();
    prop_assert_eq!(doc["field"].as_str(), Some(field), "{}: {}", url, doc);
    // The answer names the rule, never Open Klant's host (nor the refused URL's).
    let root = url::Url::parse(&s.root).unwrap();
    let text = doc.to_string();
    let host = root.host_str().unwrap();
    prop_assert!(
        !text.contains(host) && !text.contains(root.path()),
        "{} as {}: the 400 body names Open Klant's root: {}",
        url,
        field,
        text
    );
    prop_assert!(text.contains("OPEN_KLANT_API_ROOT"), "{}: {}", url, text);
    s.assert_untouched(url)
}

#[test]
fn hand_picked_urls_outside_the_root_are_refused_without_a_request() {
    for s in [Setup::http_fake(), Setup::recording()] {
        let urls = hostile_resource_urls(&s.root);
        assert!(urls.len() > 60);
        for url in &urls {
            assert!(
                outside_root(&s.root, url) || url.starts_with(&s.root),
                "the hand list has {url}, which is the root itself"
            );
            assert_refused(&s, url, "resourceUrl").unwrap();
            // hoofdObject only needs to be under the root (any resource, any shape).
            if outside_root(&s.root, url) {
                assert_refused(&s, url, "hoofdObject").unwrap();
            }
        }
    }
}

#[test]
fn canonical_spellings_of_the_root_are_the_root() {
    // Precision, not only refusal: spellings the URL standard makes equal to the root reach
    // Open Klant (the recording port), as the exact root does.
    let s = Setup::recording();
    for url in equivalent_resource_urls(ROOT) {
        let before = s.klant.as_ref().unwrap().calls.lock().unwrap().len();
        let a = s.post(&with_urls(&s, &url, None));
        assert_eq!(a.status, 204, "{url}: {a:?}");
        let calls = s.klant.as_ref().unwrap().calls.lock().unwrap().clone();
        assert_eq!(calls.len(), before + 1, "{url}");
        assert_eq!(
            calls.last().unwrap().trim_end_matches('/'),
            format!("{ROOT}onderwerpobjecten/{U}"),
            "{url}"
        );
    }
}

/// Generated URLs that are outside `root` by construction.
fn outside_urls(root: &'static str) -> impl Strategy<Value = String> {
    let u = url::Url::parse(root).unwrap();
    let host: &'static str = Box::leak(u.host_str().unwrap().to_string().into_boxed_str());
    let port: u16 = u.port_or_known_default().unwrap();
    let path = format!("klantinteracties/api/v1/onderwerpobjecten/{U}");
    let path: &'static str = Box::leak(path.into_boxed_str());
    let label = "[a-z0-9][a-z0-9-]{0,14}";
    prop_oneof![
        // Another host name.
        (
            label,
            prop_oneof![Just("com"), Just("nl"), Just("example"), Just("local")]
        )
            .prop_filter("not the root's host", move |(l, t)| format!("{l}.{t}") != host)
            .prop_map(move |(l, t)| format!("https://{l}.{t}/{path}")),
        // The root's host as a subdomain / path of another.
        (label).prop_map(move |l| format!("https://{host}.{l}.example/{path}")),
        // User info, either side.
        ("[a-zA-Z0-9._~!$&'()*+,;=-]{1,12}", label)
            .prop_map(move |(user, l)| format!("https://{user}@{host}/{path}#{l}")),
        (label).prop_map(move |l| format!("https://{host}@{l}.example/{path}")),
        // Another port.
        (1u16..=65535)
            .prop_filter("another port", move |p| *p != port)
            .prop_map(move |p| format!("https://{host}:{p}/{path}")),
        // Another scheme.
        prop_oneof![
            Just("http"),
            Just("ftp"),
            Just("ws"),
            Just("wss"),
            Just("file"),
            Just("gopher")
        ]
        .prop_map(move |sch| format!("{sch}://{host}/{path}")),
        // IPv4 in dotted, decimal and hex forms, and IPv6.
        any::<u32>().prop_map(move |ip| format!("https://{}/{path}", std::net::Ipv4Addr::from(ip))),
        any::<u32>().prop_map(move |ip| format!("https://{ip}/{path}")),
        any::<u32>().prop_map(move |ip| format!("https://0x{ip:x}/{path}")),
        any::<u128>().prop_map(move |ip| format!("https://[{}]/{path}", std::net::Ipv6Addr::from(ip))),
        // Climbing out of the root path, spelled in many ways, never climbing back in.
        (
            proptest::collection::vec(
                prop_oneof![
                    Just("../"),
                    Just("%2e%2e/"),
                    Just("%2E%2E/"),
                    Just(".%2e/"),
                    Just("%2e./"),
                    Just("..\\"),
                    Just("%2e%2e\\")
                ],
                1..5
            ),
            "(admin|internal|x)[a-z]{0,6}"
        )
            .prop_map(move |(ups, rest)| format!(
                "https://{host}/klantinteracties/api/v1/{}{rest}/onderwerpobjecten/{U}",
                ups.concat()
            )),
        // A host spelled with a lookalike character.
        (
            0usize..8,
            prop_oneof![
                Just('\u{430}'),
                Just('\u{435}'),
                Just('\u{43e}'),
                Just('\u{3bf}'),
                Just('\u{131}'),
                Just('\u{200b}')
            ]
        )
            .prop_map(move |(i, c)| {
                let mut h: Vec<char> = host.chars().collect();
                let i = i % h.len();
                h[i] = c;
                format!("https://{}/{path}", h.into_iter().collect::<String>())
            }),
        // Trailing dots.
        (1usize..4).prop_map(move |n| format!("https://{host}{}/{path}", ".".repeat(n))),
    ]
}

#[test]
fn generated_urls_outside_the_root_are_refused_without_a_request() {
    let s = Setup::recording();
    runner(1500)
        .run(&(outside_urls(ROOT), any::<bool>()), |(url, as_hoofd)| {
            prop_assert!(
                outside_root(ROOT, &url),
                "the generator made {} under the root",
                url
            );
            assert_refused(&s, &url, if as_hoofd { "hoofdObject" } else { "resourceUrl" })
        })
        .unwrap();
    // Against the real HTTP adapter and the fake (127.0.0.1): IP forms around the root's.
    let s = Setup::http_fake();
    let port: u16 = url::Url::parse(&s.root).unwrap().port().unwrap();
    let p = format!("klantinteracties/api/v1/onderwerpobjecten/{U}");
    let ips = any::<u32>().prop_filter("not 127.0.0.1", |ip| *ip != 0x7f00_0001);
    runner(300)
        .run(&(ips, 0..4u8), |(ip, form)| {
            let host = match form {
                0 => std::net::Ipv4Addr::from(ip).to_string(),
                1 => ip.to_string(),
                2 => format!("0x{ip:x}"),
                _ => format!("[::ffff:{}]", std::net::Ipv4Addr::from(ip)),
            };
            assert_refused(&s, &format!("http://{host}:{port}/{p}"), "resourceUrl")
        })
        .unwrap();
}
