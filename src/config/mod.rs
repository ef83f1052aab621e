//! Settings from the environment, flags overriding (clap), validated once at startup.
//! A missing or invalid setting stops startup with a message naming it and the fix.
//!
//! A map: [`core_settings`] (the settings every entry point shares), [`resync_settings`]
//! (RESYNC_*), [`parse`] (durations, booleans, required values), [`plain_http`] (the Lambda
//! functions' https rule), [`error`] (what stops startup).

mod core_settings;
mod error;
mod parse;
mod plain_http;
mod resync_settings;
#[cfg(test)]
mod tests;

pub use core_settings::{CoreArgs, CoreConfig};
pub use error::ConfigError;
pub use parse::{parse_bool, parse_duration};
pub use plain_http::refuse_plain_http;
pub use resync_settings::{ResyncArgs, ResyncSettings};
