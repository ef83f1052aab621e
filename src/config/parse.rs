//! Reading one setting's value: durations, booleans, a required value.

use std::time::Duration;

use super::error::{err, ConfigError};

/// `90`, `90s`, `15m`, `1h`, `2d` (a bare number is seconds).
pub fn parse_duration(setting: &'static str, v: &str) -> Result<Duration, ConfigError> {
    let t = v.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        err(
            setting,
            format!("is {v:?}; use a duration such as 90s, 15m, 1h or 1d"),
        )
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(err(
                setting,
                format!("is {v:?}; use a duration such as 90s, 15m, 1h or 1d"),
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

pub fn parse_bool(setting: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(err(setting, format!("is {other:?}; use true or false"))),
    }
}

pub(super) fn required(setting: &'static str, v: &Option<String>, hint: &str) -> Result<String, ConfigError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(err(setting, format!("is not set: {hint}"))),
    }
}
