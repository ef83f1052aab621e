//! The options every local subcommand shares (state file, sink, Open Zaak credentials, the
//! core and resync settings) and how they build the pipeline over the embedded store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zaaklink::config::{CoreArgs, CoreConfig, ResyncArgs};
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::resync::Resync;
use zaaklink::sink::{http::HttpSink, stdout::StdoutSink, EventSink};
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::Zaaklink;

#[derive(clap::Args)]
pub(crate) struct LocalArgs {
    /// The embedded state file.
    #[arg(long, env = "ZAAKLINK_STATE", default_value = "./zaaklink.db")]
    pub(crate) state: PathBuf,
    /// Where events go: `stdout` (one JSON object per line) or an http(s) URL (POSTed in
    /// CloudEvents structured mode).
    #[arg(long, env = "ZAAKLINK_SINK", default_value = "stdout")]
    pub(crate) sink: String,
    /// With an http(s) --sink: the Open Zaak Applicatie's client id. With --open-zaak-secret
    /// the sink is Open Zaak itself: each event is POSTed to `{root}/events` with a fresh ZGW
    /// JWT, in order per onderwerpobject and once (delivery log next to --state).
    #[arg(long, env = "OPEN_ZAAK_CLIENT_ID")]
    pub(crate) open_zaak_client_id: Option<String>,
    /// The Applicatie's secret (prefer the env variable: a flag is visible in `ps`).
    #[arg(long, env = "OPEN_ZAAK_SECRET", hide_env_values = true)]
    pub(crate) open_zaak_secret: Option<String>,
    /// With the Open Zaak sink: the JWT's `user_id` (Open Zaak's audit trail).
    #[arg(long, env = "OPEN_ZAAK_USER_ID", default_value = zaaklink::deliver::credentials::DEFAULT_USER_ID)]
    pub(crate) open_zaak_user_id: String,
    /// With the Open Zaak sink: the JWT's `user_representation` (Open Zaak's audit trail).
    #[arg(long, env = "OPEN_ZAAK_USER_REPRESENTATION", default_value = zaaklink::deliver::credentials::DEFAULT_USER_REPRESENTATION)]
    pub(crate) open_zaak_user_representation: String,
    /// With the Open Zaak sink: read Open Zaak's zaakobjecten (the Applicatie needs
    /// zaken.lezen) to skip a ZaakObject that is already there, and verify each 2xx. `false`
    /// delivers without these checks (a lost answer can then duplicate a ZaakObject).
    #[arg(long, env = "OPEN_ZAAK_ZAKEN_API_READ", default_value_t = true, action = clap::ArgAction::Set)]
    open_zaak_zaken_api_read: bool,
    /// How many onderwerpobjecten' changes are reconciled and delivered at once, each
    /// object's events in order: a head poll or pass that finds a burst delivers it side by
    /// side; with Open Zaak as the sink, at most this many POSTs are in flight. 1–64.
    #[arg(long, env = "ZAAKLINK_DELIVER_CONCURRENCY", default_value = "8")]
    deliver_concurrency: String,
    #[command(flatten)]
    core: CoreArgs,
    #[command(flatten)]
    pub(crate) resync: ResyncArgs,
}

impl LocalArgs {
    /// The sink that is Open Zaak itself: same rules as the `deliver` Lambda, delivery log
    /// in `<state>.deliveries`.
    fn open_zaak_sink(&self, url: &str, id: &str, secret: &str) -> Result<Arc<dyn EventSink>, String> {
        use zaaklink::deliver::{log::EmbeddedDeliveryLog, sink, Deliverer, OpenZaakCredentials};
        let root = sink::open_zaak_root(url).map_err(|e| format!("configuration error: {e}"))?;
        let mut log_path = self.state.clone().into_os_string();
        log_path.push(".deliveries");
        let log = EmbeddedDeliveryLog::open(std::path::Path::new(&log_path))?;
        let deliverer = Deliverer::new(
            &root,
            OpenZaakCredentials::new(id, secret)
                .with_user(&self.open_zaak_user_id, &self.open_zaak_user_representation),
            log,
            zaaklink::deliver::DEFAULT_TIMEOUT,
        )
        .map_err(|e| format!("configuration error: {e}"))?
        .with_zaken_api_read(self.open_zaak_zaken_api_read);
        tracing::info!(events_url = %zaaklink::secret::redact_url(deliverer.events_url()), client_id = id,
            zaken_api_read = self.open_zaak_zaken_api_read, "events go to Open Zaak with a ZGW JWT");
        Ok(Arc::new(
            sink::OpenZaakSink::new(deliverer).at_most(self.deliver_concurrency()?),
        ))
    }

    /// `--deliver-concurrency` (issue 24: a burst side by side).
    fn deliver_concurrency(&self) -> Result<usize, String> {
        self.deliver_concurrency
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| {
                format!(
                    "configuration error: --deliver-concurrency / ZAAKLINK_DELIVER_CONCURRENCY is {:?}; use a whole number from 1 to 64",
                    self.deliver_concurrency
                )
            })
    }

    /// The pipeline and the resync over the embedded store.
    pub(crate) fn build_with_resync(&self) -> Result<(Zaaklink, CoreConfig, Resync), String> {
        let mut settings = self.resync.validate().map_err(|e| e.to_string())?;
        settings.deliver_concurrency = Some(self.deliver_concurrency()?);
        let (app, cfg, store) = self.build_on()?;
        let resync = Resync::new(&app, store, settings);
        Ok((app, cfg, resync))
    }

    pub(crate) fn build(&self) -> Result<(Zaaklink, CoreConfig), String> {
        self.build_on().map(|(app, cfg, _)| (app, cfg))
    }

    pub(crate) fn build_on(&self) -> Result<(Zaaklink, CoreConfig, Arc<EmbeddedStore>), String> {
        let cfg = self.core.validate().map_err(|e| e.to_string())?;
        let sink: Arc<dyn EventSink> = match self.sink.as_str() {
            "stdout" => Arc::new(StdoutSink),
            url => {
                let u = url::Url::parse(url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| format!("configuration error: --sink / ZAAKLINK_SINK is {:?}; use `stdout` or an http(s) URL", zaaklink::secret::redact(url)))?;
                match (&self.open_zaak_client_id, &self.open_zaak_secret) {
                    (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                        self.open_zaak_sink(url, id, secret)?
                    }
                    (None, None) => {
                        tracing::warn!(sink = %zaaklink::secret::redact_url(&u), "the HTTP sink sends no JWT: a real Open Zaak answers 403; set OPEN_ZAAK_CLIENT_ID and OPEN_ZAAK_SECRET to feed Open Zaak");
                        Arc::new(HttpSink::new(u, Duration::from_secs(10)))
                    }
                    _ => {
                        return Err("configuration error: set both OPEN_ZAAK_CLIENT_ID (--open-zaak-client-id) and OPEN_ZAAK_SECRET (--open-zaak-secret), or neither".into())
                    }
                }
            }
        };
        let store = Arc::new(
            EmbeddedStore::open(&self.state)
                .map_err(|e| format!("configuration error: --state / ZAAKLINK_STATE: {e}"))?,
        );
        if let Some(why) = cfg.emission_off_reason {
            tracing::warn!(reason = why, "events are not emitted");
        }
        let app = Zaaklink {
            klant: Arc::new(HttpOpenKlant::new(
                cfg.settings.api_root.clone(),
                cfg.open_klant_token.clone(),
                cfg.open_klant_timeout,
            )),
            store: store.clone(),
            sink,
            settings: cfg.settings.clone(),
        };
        Ok((app, cfg, store))
    }
}
