//! The resync's settings (DESIGN §7): the RESYNC_* arguments and what they validate to.

use std::time::Duration;

use super::error::{err, ConfigError};
use super::parse::parse_duration;
use crate::openklant::MAX_PAGE_SIZE;

/// The resync's settings (DESIGN §7), shared by the Lambda and the CLI.
#[derive(clap::Args, Debug, Clone)]
pub struct ResyncArgs {
    /// The least time between the starts of two resync passes (e.g. 90s, 30m, 1h). With a
    /// run every minute, 90s starts a pass every 2 minutes (DESIGN §7a: at 100,000 objects a
    /// silent change reaches Open Zaak within 5 minutes).
    #[arg(long = "resync-interval", env = "RESYNC_INTERVAL", default_value = "90s")]
    pub interval: String,
    /// Requests to Open Klant (and writes) the resync makes at once.
    #[arg(long = "resync-concurrency", env = "RESYNC_CONCURRENCY", default_value = "4")]
    pub concurrency: String,
    /// Objects per list page (Open Klant serves at most 500).
    #[arg(long = "resync-page-size", env = "RESYNC_PAGE_SIZE", default_value = "500")]
    pub page_size: String,
    /// How long a resync run holds a pass without renewing (renewed after every page).
    #[arg(long = "resync-lease", env = "RESYNC_LEASE", default_value = "2m")]
    pub lease: String,
    /// The least time between two passes while Open Klant's own CloudEvents arrive (one
    /// heard in the last 72 hours): the pass is then only a backstop (DESIGN §7a).
    /// `off` = always --resync-interval.
    #[arg(
        long = "resync-backstop-interval",
        env = "RESYNC_BACKSTOP_INTERVAL",
        default_value = "1h"
    )]
    pub backstop: String,
}

impl Default for ResyncArgs {
    fn default() -> Self {
        ResyncArgs {
            interval: "90s".into(),
            concurrency: "4".into(),
            page_size: "500".into(),
            lease: "2m".into(),
            backstop: "1h".into(),
        }
    }
}

impl ResyncArgs {
    pub fn validate(&self) -> Result<ResyncSettings, ConfigError> {
        let interval = parse_duration("RESYNC_INTERVAL", &self.interval)?;
        let lease = parse_duration("RESYNC_LEASE", &self.lease)?;
        if lease < Duration::from_secs(1) {
            return Err(err(
                "RESYNC_LEASE",
                "must be at least 1s (a run renews it after every page)",
            ));
        }
        let concurrency: usize = self
            .concurrency
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                err(
                    "RESYNC_CONCURRENCY",
                    format!("is {:?}; use a whole number from 1 to 64", self.concurrency),
                )
            })?;
        let page_size: u32 = self
            .page_size
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                err(
                    "RESYNC_PAGE_SIZE",
                    format!("is {:?}; use a whole number from 1 to 500", self.page_size),
                )
            })?;
        let backstop = match self.backstop.trim() {
            "off" => None,
            v => Some(
                parse_duration("RESYNC_BACKSTOP_INTERVAL", v).map_err(|e| ConfigError {
                    problem: format!("{} (or off: always RESYNC_INTERVAL)", e.problem),
                    ..e
                })?,
            ),
        };
        Ok(ResyncSettings {
            page_size,
            concurrency,
            lease,
            interval,
            backstop,
            ..Default::default()
        })
    }
}

/// How a resync runs (DESIGN §7): what [`ResyncArgs::validate`] makes of the RESYNC_*
/// settings; [`crate::resync`] reads it.
#[derive(Debug, Clone)]
pub struct ResyncSettings {
    /// Objects per list page (Open Klant serves at most 500) and per store page.
    pub page_size: u32,
    /// Requests to Open Klant (and writes) at once.
    pub concurrency: usize,
    /// How long a run holds the pass without renewing (renewed after every page).
    pub lease: Duration,
    /// The least time between the starts of two passes.
    pub interval: Duration,
    /// Retries of an Open Klant read on 429/5xx/timeouts, and the first wait.
    pub retries: u32,
    pub retry_base: Duration,
    /// Changed objects reconciled at once — each one's look at Open Klant, write and delivery
    /// — when not `concurrency`: `serve` delivers a burst side by side
    /// (`ZAAKLINK_DELIVER_CONCURRENCY`, issue 24). Label reads stay at `concurrency`.
    pub deliver_concurrency: Option<usize>,
    /// The least time between the starts of two passes while Open Klant's own CloudEvents
    /// arrive (`crate::resync::period`); None = always `interval`.
    pub backstop: Option<Duration>,
}

impl ResyncSettings {
    /// How many changed objects are reconciled (and delivered) at once.
    pub fn objects_at_once(&self) -> usize {
        self.deliver_concurrency.unwrap_or(self.concurrency).max(1)
    }
}

impl Default for ResyncSettings {
    fn default() -> Self {
        ResyncSettings {
            page_size: MAX_PAGE_SIZE,
            concurrency: 4,
            lease: Duration::from_secs(120),
            interval: Duration::from_secs(3600),
            retries: 4,
            retry_base: Duration::from_millis(200),
            deliver_concurrency: None,
            backstop: None,
        }
    }
}
