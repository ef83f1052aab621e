//! Reading a schedule setting (`--resync-every`, `--audit-every`, …): a duration or `off`.

use std::time::Duration;

/// `off`, `0` or empty = None; otherwise the duration.
pub(crate) fn every(setting: &'static str, v: &str) -> Result<Option<Duration>, String> {
    if matches!(v.trim(), "off" | "0" | "") {
        return Ok(None);
    }
    zaaklink::config::parse_duration(setting, v)
        .map(Some)
        .map_err(|e| format!("{e} (or off)"))
}
