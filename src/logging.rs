//! Logging setup shared by every binary.

/// `lambda_runtime` logs every raw invocation event at TRACE, Authorization header included:
/// that target is held at DEBUG whatever `RUST_LOG` says.
pub const QUIET_TARGETS: &[&str] = &["lambda_runtime::layers::api_response=debug"];

/// `RUST_LOG` (or `default_filter`), with the targets that would print a secret held below
/// TRACE ([`QUIET_TARGETS`]).
pub fn env_filter(default_filter: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    for d in QUIET_TARGETS {
        filter = filter.add_directive(d.parse().expect("a valid directive"));
    }
    filter
}

/// JSON logs on stderr (`RUST_LOG` filters; default `info`). Stdout stays free for events.
pub fn init_logging(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(env_filter(default_filter))
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .try_init();
}
