//! Round trips, counted: how many AWS and Open Klant requests one notification costs.
//!
//! [`CallCounter`] is an AWS SDK interceptor that counts every request an SDK client puts
//! on the wire, per `Service.Operation` (`DynamoDB.GetItem`, `EventBridge.PutEvents`, ...),
//! read from the operation [`Metadata`] in the config bag. It counts *attempts*: a retried
//! request counts once per try, as it costs a round trip each time. [`CountingOpenKlant`]
//! does the same for the Open Klant port (`OpenKlant.GET onderwerpobject`, ...), into the
//! same counter. The benchmarks (`scripts/bench`) use both; production wiring needs neither.
//!
//! ```ignore
//! let counter = CallCounter::new();
//! let ddb = aws_sdk_dynamodb::Client::from_conf(counter.dynamodb_config(&sdk_config));
//! let klant = CountingOpenKlant::new(HttpOpenKlant::new(root, token, timeout), counter.clone());
//! // ... handle one notification ...
//! let calls = counter.snapshot(); // {"DynamoDB.GetItem": 1, "OpenKlant.GET onderwerpobject": 1, ...}
//! counter.reset();
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::link::{Klantcontact, Onderwerpobject};
use crate::openklant::{ExpandedKlantcontact, OpenKlant, OpenKlantError, Page};

/// The service name [`CountingOpenKlant`] counts under.
pub const OPEN_KLANT: &str = "OpenKlant";

/// Shared request counts per `Service.Operation`; clones share the same counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one request of `operation` on `service`.
    pub fn record(&self, service: &str, operation: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(format!("{service}.{operation}")).or_default() += 1;
    }

    /// The counts so far, keyed `Service.Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forget every count.
    pub fn reset(&self) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Requests to one service so far (all its operations).
    pub fn service_total(&self, service: &str) -> u64 {
        service_total(&self.snapshot(), service)
    }

    /// A DynamoDB client config from `sdk` with this counter attached.
    pub fn dynamodb_config(&self, sdk: &SdkConfig) -> aws_sdk_dynamodb::Config {
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build()
    }

    /// An EventBridge client config from `sdk` with this counter attached.
    pub fn eventbridge_config(&self, sdk: &SdkConfig) -> aws_sdk_eventbridge::Config {
        aws_sdk_eventbridge::config::Builder::from(sdk)
            .interceptor(self.clone())
            .build()
    }
}

/// Sum of the counts of one service in a [`CallCounter::snapshot`].
pub fn service_total(snapshot: &BTreeMap<String, u64>, service: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(k, _)| k.split_once('.').is_some_and(|(s, _)| s == service))
        .map(|(_, n)| n)
        .sum()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "zaaklink::callcount::CallCounter"
    }

    /// Once per attempt, just before the request goes on the wire.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) => self.record(m.service(), m.name()),
            None => self.record("unknown", "unknown"),
        }
        Ok(())
    }
}

/// An [`OpenKlant`] that counts each GET it makes (one per call; a list call is one page)
/// into a [`CallCounter`], under [`OPEN_KLANT`].
pub struct CountingOpenKlant<T: OpenKlant> {
    inner: T,
    counter: CallCounter,
}

impl<T: OpenKlant> CountingOpenKlant<T> {
    pub fn new(inner: T, counter: CallCounter) -> Self {
        CountingOpenKlant { inner, counter }
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }
}

#[async_trait]
impl<T: OpenKlant> OpenKlant for CountingOpenKlant<T> {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.counter.record(OPEN_KLANT, "GET onderwerpobject");
        self.inner.onderwerpobject(url).await
    }

    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.counter.record(OPEN_KLANT, "GET klantcontact");
        self.inner.klantcontact(url).await
    }

    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        self.counter.record(OPEN_KLANT, "GET klantcontact expanded");
        self.inner.klantcontact_expanded(url).await
    }

    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        self.counter.record(OPEN_KLANT, "GET onderwerpobjecten");
        self.inner.zaak_onderwerpobjecten(page, page_size).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};

    struct Nothing;

    #[async_trait]
    impl OpenKlant for Nothing {
        async fn onderwerpobject(&self, _: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
            Ok(None)
        }
        async fn klantcontact(&self, _: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
            Ok(None)
        }
        async fn klantcontact_expanded(
            &self,
            _: &str,
        ) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
            Ok(None)
        }
        async fn zaak_onderwerpobjecten(
            &self,
            _: u32,
            _: u32,
        ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
            Ok(None)
        }
    }

    #[tokio::test]
    async fn counts_open_klant_gets_and_resets() {
        let counter = CallCounter::new();
        let klant = CountingOpenKlant::new(Nothing, counter.clone());
        klant.onderwerpobject("x").await.unwrap();
        klant.onderwerpobject("x").await.unwrap();
        klant.klantcontact("y").await.unwrap();
        let s = counter.snapshot();
        assert_eq!(s["OpenKlant.GET onderwerpobject"], 2);
        assert_eq!(s["OpenKlant.GET klantcontact"], 1);
        assert_eq!(counter.service_total(OPEN_KLANT), 3);
        counter.reset();
        assert!(counter.snapshot().is_empty());
    }

    #[tokio::test]
    async fn counts_sdk_requests_per_service_and_operation() {
        let get = mock!(aws_sdk_dynamodb::Client::get_item)
            .sequence()
            .output(|| aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build())
            .repeatedly()
            .build();
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "a", "b", None, None, "test",
            )))
            .build();
        let counter = CallCounter::new();
        let conf = counter
            .dynamodb_config(&sdk)
            .to_builder()
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&get),
            )
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        for _ in 0..2 {
            client.get_item().table_name("t").send().await.unwrap();
        }
        assert_eq!(
            counter.snapshot()["DynamoDB.GetItem"],
            2,
            "{:?}",
            counter.snapshot()
        );
        assert_eq!(counter.service_total("DynamoDB"), 2);
        assert_eq!(counter.service_total("EventBridge"), 0);
    }
}
