//! `zaaklink demo` and `zaaklink fake-open-klant`: the two subcommands that run the bundled
//! samples and the fake Open Klant (compiled into this binary by main.rs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use zaaklink::sink::stdout::StdoutSink;
use zaaklink::store::embedded::EmbeddedStore;

use crate::{demo, fake_openklant};

/// `zaaklink demo`: the samples end to end, events on stdout.
pub(crate) async fn demo(state: Option<PathBuf>) -> Result<(), String> {
    let dir = tempfile_dir()?;
    let path = state.unwrap_or_else(|| dir.join("zaaklink-demo.db"));
    let store = EmbeddedStore::open(&path)?;
    let n = demo::run(Arc::new(store), Arc::new(StdoutSink)).await?;
    eprintln!(
        "demo done: {n} events emitted (on stdout), state in {}",
        path.display()
    );
    Ok(())
}

/// `zaaklink fake-open-klant`: serve sample (or the given) Open Klant objects until Ctrl-C.
pub(crate) async fn fake_open_klant(
    listen: SocketAddr,
    token: String,
    objects: Vec<PathBuf>,
) -> Result<(), String> {
    let ok = fake_openklant::FakeOpenKlant::start_at(listen, &token)
        .await
        .map_err(|e| format!("cannot listen on --listen {listen}: {e}"))?;
    if objects.is_empty() {
        ok.put(demo::samples::KLANTCONTACT);
        ok.put(demo::samples::ZAAK_A);
    }
    for f in &objects {
        let text = std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
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

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("zaaklink-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
