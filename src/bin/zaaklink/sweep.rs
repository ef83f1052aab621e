//! `zaaklink sweep`: put every event left in the outbox.

use crate::local::LocalArgs;

/// Sweep the outbox of the embedded store.
pub(crate) async fn sweep(local: LocalArgs) -> Result<(), String> {
    let (app, _) = local.build()?;
    let o = app.sweep().await.map_err(|e| e.to_string())?;
    eprintln!(
        "sweep done: {} records with pending events, {} events put",
        o.objects, o.emitted
    );
    Ok(())
}
