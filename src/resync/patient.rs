//! Open Klant, patiently: the resync's reads are retried with exponential backoff (and
//! jitter) when Open Klant says it is busy (429) or failing (5xx) or does not answer, so a
//! pass slows down instead of failing. The webhook path does not use it: there Open
//! Notificaties retries the delivery.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::link::{Klantcontact, Onderwerpobject};
use crate::openklant::{ExpandedKlantcontact, OpenKlant, OpenKlantError, Page};

pub struct Patient {
    pub inner: Arc<dyn OpenKlant>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first wait; doubled each retry.
    pub base: Duration,
}

fn retryable(e: &OpenKlantError) -> bool {
    match e {
        OpenKlantError::Status { status, .. } => *status == 429 || *status >= 500,
        OpenKlantError::Timeout { .. } | OpenKlantError::Unreachable { .. } => true,
        _ => false,
    }
}

impl Patient {
    async fn retry<T, F, Fut>(&self, f: F) -> Result<T, OpenKlantError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, OpenKlantError>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if retryable(&e) && attempt < self.retries => {
                    let wait = self.base * 2u32.pow(attempt.min(8));
                    let jitter = rand::random_range(0..=wait.as_millis() as u64 / 2);
                    tracing::debug!(error = %e, attempt, "Open Klant busy; backing off");
                    tokio::time::sleep(wait + Duration::from_millis(jitter)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl OpenKlant for Patient {
    async fn onderwerpobject(&self, url: &str) -> Result<Option<Onderwerpobject>, OpenKlantError> {
        self.retry(|| self.inner.onderwerpobject(url)).await
    }

    async fn klantcontact(&self, url: &str) -> Result<Option<Klantcontact>, OpenKlantError> {
        self.retry(|| self.inner.klantcontact(url)).await
    }

    async fn klantcontact_expanded(&self, url: &str) -> Result<Option<ExpandedKlantcontact>, OpenKlantError> {
        self.retry(|| self.inner.klantcontact_expanded(url)).await
    }

    async fn zaak_onderwerpobjecten(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Option<Page<Onderwerpobject>>, OpenKlantError> {
        self.retry(|| self.inner.zaak_onderwerpobjecten(page, page_size))
            .await
    }
}
