//! `zaaklink audit` (the report, exit status 0/1/2) and `serve`'s scheduled audit.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use zaaklink::Zaaklink;

use crate::local::LocalArgs;
use crate::schedule::every;

/// Where the audit reads Open Zaak.
#[derive(clap::Args)]
pub(crate) struct OpenZaakReadArgs {
    /// Open Zaak's base URL, read for the audit (`GET {root}/zaken/api/v1/zaakobjecten`) with
    /// OPEN_ZAAK_CLIENT_ID / OPEN_ZAAK_SECRET. Default: the --sink, when that is Open Zaak.
    #[arg(long = "open-zaak", env = "OPEN_ZAAK_ROOT")]
    open_zaak: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// `zaaklink audit`'s own options.
#[derive(clap::Args)]
pub(crate) struct AuditArgs {
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
pub(crate) struct ServeAuditArgs {
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
pub(crate) async fn audit(local: LocalArgs, args: AuditArgs) -> ExitCode {
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
pub(crate) fn spawn_scheduled_audit(
    local: &LocalArgs,
    args: &ServeAuditArgs,
    app: &Zaaklink,
) -> Result<(), String> {
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
