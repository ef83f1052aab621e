//! `zaaklink`: the local CLI — `serve` the webhook, run the `demo`, `resync`, `sweep`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;

use zaaklink::config::{CoreArgs, CoreConfig, ResyncArgs};
use zaaklink::openklant::HttpOpenKlant;
use zaaklink::resync::{progress, Resync};
use zaaklink::sink::{http::HttpSink, stdout::StdoutSink, EventSink};
use zaaklink::store::embedded::EmbeddedStore;
use zaaklink::webhook::{self, Answer, WebhookAuth, MAX_BODY_BYTES};
use zaaklink::Zaaklink;

#[derive(Parser)]
#[command(
    version,
    about = "Open Klant onderwerpobject notifications in, Open Zaak zaak-gekoppeld/zaak-ontkoppeld CloudEvents out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook (POST /) over plain HTTP with an embedded store.
    Serve {
        #[command(flatten)]
        local: LocalArgs,
        /// Address to listen on.
        #[arg(long, env = "ZAAKLINK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// How often serve looks whether a resync pass is due (a new pass starts at most every
        /// --resync-interval; an unfinished one continues); `off` = never.
        #[arg(long, env = "ZAAKLINK_RESYNC_EVERY", default_value = "1m")]
        resync_every: String,
        /// How often serve reads the head of Open Klant's list (the newest zaak
        /// onderwerpobjecten) and reconciles the new ones; a list that lost objects starts a
        /// resync pass at once. `off` = never.
        #[arg(long, env = "ZAAKLINK_HEAD_POLL_EVERY", default_value = "30s")]
        head_poll_every: String,
        #[command(flatten)]
        scheduled_audit: ServeAuditArgs,
    },
    /// Run the bundled samples end to end (no AWS, no Open Klant): events on stdout.
    Demo {
        /// Keep the demo's state in this file (default: a temporary file).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Reconcile every zaak onderwerpobject in Open Klant and every stored link: continue
    /// the unfinished pass, or run a new one (whatever --resync-interval says).
    Resync {
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Compare Open Zaak's ZaakObjects with Open Klant's zaak links and report every
    /// difference: missing in Open Zaak, stray (gone from Open Klant or linked to another zaak
    /// there), duplicated, malformed `object`, label different (report only). The report goes
    /// to stdout (--format text|json), logs to stderr. Exit status: 0 equal, 1 differences
    /// (with --repair: differences left unrepaired), 2 a side could not be read (nothing
    /// repaired). Open Zaak is read with OPEN_ZAAK_CLIENT_ID / OPEN_ZAAK_SECRET (the Applicatie
    /// needs zaken.lezen) at --open-zaak, or at the --sink when that is Open Zaak. Stop
    /// `serve` first: the state file opens in one process only (docs/OPERATIONS.md).
    Audit {
        #[command(flatten)]
        local: LocalArgs,
        #[command(flatten)]
        audit: AuditArgs,
    },
    /// Put every event left in the outbox.
    Sweep {
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Move every message of the delivery dead-letter queue back to the delivery queue, where
    /// `deliver` applies the same order and once-only rules (the stack's outputs
    /// DeliveryDeadLetterQueueUrl and DeliveryQueueUrl). AWS settings from the environment.
    Redrive {
        /// The dead-letter (parked) queue URL.
        #[arg(long)]
        from: String,
        /// The delivery queue URL.
        #[arg(long)]
        to: String,
        /// Move at most this many messages.
        #[arg(long, default_value_t = 100_000)]
        max: usize,
    },
    /// Serve sample Open Klant objects (klantinteracties API v1) for local trials, e.g. for
    /// the Lambda under `cargo lambda watch`. Sample URLs name http://127.0.0.1:8000 (the
    /// default --listen); on another address they are rewritten to it.
    FakeOpenKlant {
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The token clients must send (`Authorization: Token <token>`).
        #[arg(long, env = "OPEN_KLANT_API_TOKEN", hide_env_values = true)]
        token: String,
        /// Object files to serve (default: the sample klantcontact and zaak-linked
        /// onderwerpobject under events/openklant/).
        objects: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct LocalArgs {
    /// The embedded state file.
    #[arg(long, env = "ZAAKLINK_STATE", default_value = "./zaaklink.db")]
    state: PathBuf,
    /// Where events go: `stdout` (one JSON object per line) or an http(s) URL (POSTed in
    /// CloudEvents structured mode).
    #[arg(long, env = "ZAAKLINK_SINK", default_value = "stdout")]
    sink: String,
    /// With an http(s) --sink: the Open Zaak Applicatie's client id. With --open-zaak-secret
    /// the sink is Open Zaak itself: each event is POSTed to `{root}/events` with a fresh ZGW
    /// JWT, in order per onderwerpobject and once (delivery log next to --state).
    #[arg(long, env = "OPEN_ZAAK_CLIENT_ID")]
    open_zaak_client_id: Option<String>,
    /// The Applicatie's secret (prefer the env variable: a flag is visible in `ps`).
    #[arg(long, env = "OPEN_ZAAK_SECRET", hide_env_values = true)]
    open_zaak_secret: Option<String>,
    /// With the Open Zaak sink: the JWT's `user_id` (Open Zaak's audit trail).
    #[arg(long, env = "OPEN_ZAAK_USER_ID", default_value = zaaklink::deliver::credentials::DEFAULT_USER_ID)]
    open_zaak_user_id: String,
    /// With the Open Zaak sink: the JWT's `user_representation` (Open Zaak's audit trail).
    #[arg(long, env = "OPEN_ZAAK_USER_REPRESENTATION", default_value = zaaklink::deliver::credentials::DEFAULT_USER_REPRESENTATION)]
    open_zaak_user_representation: String,
    /// With the Open Zaak sink: read Open Zaak's zaakobjecten (the Applicatie needs
    /// zaken.lezen) to skip a ZaakObject that is already there, and verify each 2xx. `false`
    /// delivers without these checks (a lost answer can then duplicate a ZaakObject).
    #[arg(long, env = "OPEN_ZAAK_ZAKEN_API_READ", default_value_t = true, action = clap::ArgAction::Set)]
    open_zaak_zaken_api_read: bool,
    #[command(flatten)]
    core: CoreArgs,
    #[command(flatten)]
    resync: ResyncArgs,
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
        Ok(Arc::new(sink::OpenZaakSink::new(deliverer)))
    }

    /// The pipeline and the resync over the embedded store.
    fn build_with_resync(&self) -> Result<(Zaaklink, CoreConfig, Resync), String> {
        let settings = self.resync.validate().map_err(|e| e.to_string())?;
        let (app, cfg, store) = self.build_on()?;
        let resync = Resync::new(&app, store, settings);
        Ok((app, cfg, resync))
    }

    fn build(&self) -> Result<(Zaaklink, CoreConfig), String> {
        self.build_on().map(|(app, cfg, _)| (app, cfg))
    }

    fn build_on(&self) -> Result<(Zaaklink, CoreConfig, Arc<EmbeddedStore>), String> {
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

/// Where the audit reads Open Zaak.
#[derive(clap::Args)]
struct OpenZaakReadArgs {
    /// Open Zaak's base URL, read for the audit (`GET {root}/zaken/api/v1/zaakobjecten`) with
    /// OPEN_ZAAK_CLIENT_ID / OPEN_ZAAK_SECRET. Default: the --sink, when that is Open Zaak.
    #[arg(long = "open-zaak", env = "OPEN_ZAAK_ROOT")]
    open_zaak: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `zaaklink audit`'s own options.
#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    read: OpenZaakReadArgs,
    /// Mend every counted difference through the outbox: the correcting zaak-ontkoppeld /
    /// zaak-gekoppeld go to the --sink with the usual order, once-only and parking rules.
    /// Never from a partial read; malformed ZaakObjects are never touched.
    #[arg(long)]
    repair: bool,
    /// With --repair: also replace relations whose label differs (ontkoppeld + gekoppeld).
    #[arg(long, requires = "repair")]
    repair_labels: bool,
    /// The report on stdout: `text` for people, `json` for machines (docs/OPERATIONS.md).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The wait before the second look at the differences found (a change on its way is not
    /// reported); `0s` looks again at once.
    #[arg(long, env = "ZAAKLINK_AUDIT_SETTLE", default_value = "10s")]
    settle: String,
    /// Examples per kind in the report.
    #[arg(long, default_value_t = 10)]
    examples: usize,
}

/// `serve`'s scheduled audit.
#[derive(clap::Args)]
struct ServeAuditArgs {
    #[command(flatten)]
    read: OpenZaakReadArgs,
    /// How often serve audits Open Zaak against Open Klant (the first after one period); `off`
    /// = never. Needs Open Zaak's root (--open-zaak or an Open Zaak --sink) and credentials.
    #[arg(long, env = "ZAAKLINK_AUDIT_EVERY", default_value = "24h")]
    audit_every: String,
    /// Whether the scheduled audit mends what it finds (through the outbox).
    #[arg(long, env = "ZAAKLINK_AUDIT_REPAIR", default_value_t = true, action = clap::ArgAction::Set)]
    audit_repair: bool,
}

/// Timeout of each zaakobjecten request of the audit.
const AUDIT_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl LocalArgs {
    /// Open Zaak's zaakobjecten for the audit: at `--open-zaak`, else at the Open Zaak sink.
    fn zaakobjecten(
        &self,
        read: &OpenZaakReadArgs,
    ) -> Result<Arc<dyn zaaklink::audit::ZaakObjecten>, String> {
        let credentials = match (&self.open_zaak_client_id, &self.open_zaak_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                zaaklink::deliver::OpenZaakCredentials::new(id, secret.as_str())
                    .with_user(&self.open_zaak_user_id, &self.open_zaak_user_representation)
            }
            _ => return Err("configuration error: the audit reads Open Zaak with the Applicatie's OPEN_ZAAK_CLIENT_ID and OPEN_ZAAK_SECRET (it needs zaken.lezen): set both".into()),
        };
        let root = match (&read.open_zaak, self.sink.as_str()) {
            (Some(root), _) if !root.trim().is_empty() => root.clone(),
            (_, sink) if sink.starts_with("http://") || sink.starts_with("https://") => sink.to_owned(),
            _ => return Err("configuration error: the audit needs Open Zaak's base URL: set --open-zaak / OPEN_ZAAK_ROOT, or use Open Zaak as the --sink".into()),
        };
        let reader = zaaklink::audit::HttpZaakObjecten::new(&root, credentials, AUDIT_READ_TIMEOUT)
            .map_err(|e| format!("configuration error: --open-zaak / OPEN_ZAAK_ROOT: {e}"))?;
        Ok(Arc::new(reader))
    }

    /// The audit over this pipeline (the embedded store, the sink).
    fn audit_on(
        &self,
        app: &Zaaklink,
        read: &OpenZaakReadArgs,
        settings: zaaklink::audit::AuditSettings,
    ) -> Result<zaaklink::audit::Audit, String> {
        let oz = self.zaakobjecten(read)?;
        if settings.repair && app.settings.emit_source.is_none() {
            return Err("configuration error: --repair writes zaak-gekoppeld / zaak-ontkoppeld through the outbox: set ENABLE_CLOUD_EVENTS=true and NOTIFICATIONS_SOURCE".into());
        }
        let page_size = self.resync.validate().map_err(|e| e.to_string())?.page_size;
        Ok(zaaklink::audit::Audit::new(
            app,
            oz,
            zaaklink::audit::AuditSettings {
                page_size,
                ..settings
            },
        ))
    }
}

/// `zaaklink audit`: the report on stdout, the exit status 0/1/2.
async fn audit(local: LocalArgs, args: AuditArgs) -> ExitCode {
    let settle = match zaaklink::config::parse_duration("--settle / ZAAKLINK_AUDIT_SETTLE", &args.settle) {
        Ok(d) => d,
        Err(e) => return audit_refused(e.to_string()),
    };
    let settings = zaaklink::audit::AuditSettings {
        settle,
        examples: args.examples,
        repair: args.repair,
        repair_labels: args.repair_labels,
        ..Default::default()
    };
    let built = local
        .build_on()
        .and_then(|(app, _, _)| local.audit_on(&app, &args.read, settings));
    let audit = match built {
        Ok(a) => a,
        Err(e) => return audit_refused(e),
    };
    let report = audit.run().await;
    match args.format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text()),
    }
    ExitCode::from(report.exit_status)
}

/// A setting that stops the audit before it reads anything: exit status 2.
fn audit_refused(e: String) -> ExitCode {
    eprintln!("zaaklink: {}", zaaklink::secret::redact(&e));
    ExitCode::from(zaaklink::audit::report::UNREADABLE)
}

/// `serve --audit-every`: audits on a schedule in the background (logged; repairs by default).
fn spawn_scheduled_audit(local: &LocalArgs, args: &ServeAuditArgs, app: &Zaaklink) -> Result<(), String> {
    let Some(every) = every("--audit-every / ZAAKLINK_AUDIT_EVERY", &args.audit_every)? else {
        return Ok(());
    };
    let settings = zaaklink::audit::AuditSettings {
        repair: args.audit_repair,
        ..Default::default()
    };
    let audit = match local.audit_on(app, &args.read, settings) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(reason = %e, "the scheduled audit is off (--audit-every off silences this)");
            return Ok(());
        }
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let r = audit.run().await;
            let kinds: Vec<String> = zaaklink::audit::Kind::ALL
                .iter()
                .map(|k| format!("{}={}", k.name(), r.count(*k)))
                .collect();
            let repaired = r.repairs.as_ref().map_or(0, |x| x.differences);
            if r.remaining > 0 || r.error.is_some() {
                tracing::error!(result = %r.result, counted = r.counted, remaining = r.remaining, repaired,
                    kinds = %kinds.join(" "), error = ?r.error.as_ref().map(|e| &e.message),
                    alarm = "audit_differences", "scheduled audit: Open Zaak and Open Klant differ (run `zaaklink audit` for the report)");
            } else {
                tracing::info!(result = %r.result, counted = r.counted, repaired, kinds = %kinds.join(" "), "scheduled audit done");
            }
        }
    });
    Ok(())
}

struct Served {
    app: Zaaklink,
    auth: WebhookAuth,
}

fn to_response(a: Answer) -> Response {
    let mut r = match a.body {
        Some((ct, body)) => ([(axum::http::header::CONTENT_TYPE, ct)], body).into_response(),
        None => ().into_response(),
    };
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in a.headers {
        r.headers_mut().insert(k, HeaderValue::from_static(v));
    }
    r
}

async fn webhook_endpoint(State(s): State<Arc<Served>>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();
    let authorization = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if let Err(refused) = webhook::check(&s.auth, method, authorization, declared) {
        return to_response(refused);
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return to_response(
                webhook::check(&s.auth, method, authorization, MAX_BODY_BYTES + 1).unwrap_err(),
            )
        }
    };
    to_response(
        webhook::handle(
            &s.app,
            &s.auth,
            webhook::Request {
                method,
                authorization,
                content_type: parts
                    .headers
                    .get(axum::http::header::CONTENT_TYPE)
                    .map(|v| v.as_bytes()),
                body: &bytes,
            },
        )
        .await,
    )
}

/// `off`, `0` or empty = None; otherwise the duration.
fn every(setting: &'static str, v: &str) -> Result<Option<Duration>, String> {
    if matches!(v.trim(), "off" | "0" | "") {
        return Ok(None);
    }
    zaaklink::config::parse_duration(setting, v)
        .map(Some)
        .map_err(|e| format!("{e} (or off)"))
}

async fn serve(
    local: LocalArgs,
    listen: SocketAddr,
    resync_every: String,
    head_poll_every: String,
    scheduled_audit: ServeAuditArgs,
) -> Result<(), String> {
    let (app, cfg, resync) = local.build_with_resync()?;
    take_over_dead_claim(&resync).await?;
    let resync_every = every("--resync-every / ZAAKLINK_RESYNC_EVERY", &resync_every)?;
    let head_every = every("--head-poll-every / ZAAKLINK_HEAD_POLL_EVERY", &head_poll_every)?;
    // The head poll wakes the resync task when a pass is due (DESIGN §7a).
    let wake = Arc::new(tokio::sync::Notify::new());
    if let Some(every) = head_every {
        let head = zaaklink::resync::HeadPoll::new(&resync);
        let wake = wake.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match head.poll().await {
                    Ok(r) => {
                        tracing::info!(listed = r.listed, count = r.count, new = r.new, written = r.written,
                            emitted = r.emitted, why = ?r.why, pass_due = r.pass_due, "head poll done");
                        if r.pass_due {
                            wake.notify_one();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "head poll failed; the next poll sees the same objects as new")
                    }
                }
            }
        });
    }
    if resync_every.is_some() || head_every.is_some() {
        tokio::spawn(async move {
            // Without --resync-every the task runs only the passes the head poll asks for.
            let period = resync_every.unwrap_or(Duration::from_secs(365 * 86_400));
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let force = tokio::select! {
                    _ = ticks.tick() => false,
                    () = wake.notified() => true,
                };
                match resync.run(None, force).await {
                    Ok(r) => tracing::info!(stop = ?r.stop, pass = ?r.pass, objects = r.run.objects,
                        written = r.run.written, emitted = r.run.emitted, "resync run done"),
                    Err(e) => {
                        tracing::warn!(error = %e, "resync run failed; the next one continues from the checkpoint")
                    }
                }
            }
        });
    }
    spawn_scheduled_audit(&local, &scheduled_audit, &app)?;
    let served = Arc::new(Served {
        app,
        auth: cfg.webhook_auth,
    });
    let router = axum::Router::new()
        .route("/", axum::routing::any(webhook_endpoint))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on --listen {listen}: {e}"))?;
    tracing::info!(listen = %listener.local_addr().map_err(|e| e.to_string())?, state = %local.state.display(), sink = %zaaklink::secret::redact(&local.sink), "zaaklink serve is ready: POST notifications and CloudEvents to /");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            local,
            listen,
            resync_every,
            head_poll_every,
            scheduled_audit,
        } => serve(local, listen, resync_every, head_poll_every, scheduled_audit).await,
        Command::Audit { .. } => unreachable!("main runs the audit (its own exit status)"),
        Command::Demo { state } => {
            let dir = tempfile_dir()?;
            let path = state.unwrap_or_else(|| dir.join("zaaklink-demo.db"));
            let store = EmbeddedStore::open(&path)?;
            let n = zaaklink::demo::run(Arc::new(store), Arc::new(StdoutSink)).await?;
            eprintln!(
                "demo done: {n} events emitted (on stdout), state in {}",
                path.display()
            );
            Ok(())
        }
        Command::Resync { local } => {
            let (_, _, resync) = local.build_with_resync()?;
            // This process opened the state file, which opens in one process only: a claim on
            // the pass found in it was left by a run that died (killed with -9, a crash).
            take_over_dead_claim(&resync).await?;
            let started = std::time::Instant::now();
            // A progress bar on a terminal; elsewhere (a log, a pipe) only the summary.
            let (resync, bar) = if std::io::stderr().is_terminal() {
                let (bar, update) = progress::terminal_bar(started);
                (resync.on_progress(update), Some(bar))
            } else {
                (resync, None)
            };
            // INT/TERM stop the pass where it is and give its claim up, so that the next
            // `zaaklink resync` continues at once from the last checkpointed batch.
            let result = tokio::select! {
                r = resync.full_pass() => Some(r),
                signal = stop_signal() => {
                    if let Some(bar) = &bar {
                        bar.finish_and_clear();
                    }
                    resync.release_claim().await.map_err(|e| {
                        format!("resync interrupted by {signal}; its claim on the pass was not given up ({e}); the next `zaaklink resync` on this state file takes it over")
                    })?;
                    return Err(format!(
                        "resync interrupted by {signal} after {:.1} s; the pass is checkpointed: run `zaaklink resync` again to continue it",
                        started.elapsed().as_secs_f64()
                    ));
                }
            };
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let r = result.expect("the pass ended").map_err(|e| e.to_string())?;
            eprintln!("{}", progress::summary(&r, started.elapsed()));
            progress::outcome(&r)
        }
        Command::FakeOpenKlant {
            listen,
            token,
            objects,
        } => {
            let ok = zaaklink::fake_openklant::FakeOpenKlant::start_at(listen, &token)
                .await
                .map_err(|e| format!("cannot listen on --listen {listen}: {e}"))?;
            if objects.is_empty() {
                ok.put(zaaklink::demo::samples::KLANTCONTACT);
                ok.put(zaaklink::demo::samples::ZAAK_A);
            }
            for f in &objects {
                let text =
                    std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .filter(|v| v["url"].is_string())
                    .ok_or_else(|| format!("{} is not an Open Klant object with a `url`", f.display()))?;
                ok.put(&text);
            }
            eprintln!(
                "fake Open Klant at {} (OPEN_KLANT_API_ROOT={}); Ctrl-C stops it",
                ok.base,
                ok.api_root()
            );
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
        Command::Redrive { from, to, max } => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            let client = aws_sdk_sqs::Client::new(&sdk);
            let moved = zaaklink::deliver::redrive::redrive(&client, &from, &to, max).await?;
            eprintln!("redrive done: {moved} messages moved from {from} to {to}");
            Ok(())
        }
        Command::Sweep { local } => {
            let (app, _) = local.build()?;
            let o = app.sweep().await.map_err(|e| e.to_string())?;
            eprintln!(
                "sweep done: {} records with pending events, {} events put",
                o.objects, o.emitted
            );
            Ok(())
        }
    }
}

/// Give up a claim on the resync pass left in the state file by a run that died: this process
/// holds the file, so no live run can hold the claim.
async fn take_over_dead_claim(resync: &Resync) -> Result<(), String> {
    match resync.release_claim().await {
        Ok(true) => {
            tracing::info!("took over the resync pass from a run that ended without giving it up (the state file opens in one process only)");
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(e) => Err(format!(
            "cannot read the resync checkpoint in the state file: {e}"
        )),
    }
}

/// The first INT (Ctrl-C) or TERM, by name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("zaaklink-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    zaaklink::init_logging(default);
    if let Command::Audit { local, audit: args } = cli.command {
        return audit(local, args).await;
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // (every error is built with URLs redacted; this is the safety net)
            eprintln!("zaaklink: {}", zaaklink::secret::redact(&e));
            ExitCode::FAILURE
        }
    }
}
