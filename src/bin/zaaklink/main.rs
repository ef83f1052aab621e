//! `zaaklink`: the local CLI — `serve` the webhook, run the `demo`, `resync`, `sweep`, `audit`,
//! `redrive`. This file holds the clap definitions and the dispatch; each subcommand's wiring
//! lives in its own file.

mod audit;
mod dead_claims;
mod demo_command;
mod local;
mod redrive;
mod resync;
mod schedule;
mod serve;
mod sweep;
mod webhook_endpoint;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use audit::{AuditArgs, ServeAuditArgs};
use local::LocalArgs;

// `demo` and `fake-open-klant` need a fake Open Klant, and only this binary has it: it compiles
// its own copy of src/demo.rs and src/testkit/fake_openklant.rs, which the library keeps behind
// its `testkit` feature (for tests and benches), so the Lambda binaries carry no fake. The
// demo's `crate::` paths find the library's rooms through these names.
#[allow(unused_imports)] // (used by the demo's paths, e.g. `crate::cloudevent::OutboxEvent`)
use zaaklink::{cloudevent, config, openklant, sink, store, webhook, Zaaklink};
#[allow(dead_code)] // the samples the tests use and the CLI does not
#[path = "../../demo.rs"]
mod demo;
#[allow(dead_code)] // the fake's calls for tests (failures, delays, request logs)
#[path = "../../testkit/fake_openklant.rs"]
mod fake_openklant;

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
        #[arg(long, env = "ZAAKLINK_HEAD_POLL_EVERY", default_value = "15s")]
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

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            local,
            listen,
            resync_every,
            head_poll_every,
            scheduled_audit,
        } => serve::serve(local, listen, resync_every, head_poll_every, scheduled_audit).await,
        Command::Audit { .. } => unreachable!("main runs the audit (its own exit status)"),
        Command::Demo { state } => demo_command::demo(state).await,
        Command::Resync { local } => resync::resync(local).await,
        Command::FakeOpenKlant {
            listen,
            token,
            objects,
        } => demo_command::fake_open_klant(listen, token, objects).await,
        Command::Redrive { from, to, max } => redrive::redrive(from, to, max).await,
        Command::Sweep { local } => sweep::sweep(local).await,
    }
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
        return audit::audit(local, args).await;
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
