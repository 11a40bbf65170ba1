//! The one registry of every mailsuite parameter, and the files that set them.
//!
//! * [`table`] declares each parameter once (name, default, kind, bounds, doc);
//!   `postconf -d`, the bounds checks and the man pages are built from it.
//! * [`main_cf`] and [`master_cf`] parse (and edit, keeping every other line)
//!   Postfix's two configuration files.
//! * [`Config`] is what a program runs with: defaults, main.cf, then `-o`
//!   overrides, expanded (`$name`, `${name?text}`, `${name:text}`) and
//!   checked at load with errors that name file, line and parameter.

mod config;
pub mod error;
pub mod expand;
pub mod inert;
mod lines;
pub mod logging;
pub mod main_cf;
pub mod man;
pub mod master_cf;
pub mod netif;
pub mod registry;
pub mod table;
pub mod value;

pub use config::{config_dir, default_text, Config, Origin, DEFAULT_CONFIG_DIR, MAIL_CONFIG_ENV};
pub use error::ConfigError;
pub use registry::{Computed, Kind, Param};

use std::collections::HashMap;
use std::sync::OnceLock;

/// The declaration of `name`, if it is a known parameter.
pub fn lookup(name: &str) -> Option<&'static Param> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Param>> = OnceLock::new();
    INDEX
        .get_or_init(|| table::ALL.iter().map(|p| (p.name, *p)).collect())
        .get(name)
        .copied()
}

/// Suffixes that Postfix accepts after any master.cf service name
/// (`<transport>_destination_concurrency_limit` …).
pub const DYNAMIC_SUFFIXES: &[&str] = &[
    "_delivery_slot_cost",
    "_delivery_slot_discount",
    "_delivery_slot_loan",
    "_destination_concurrency_failed_cohort_limit",
    "_destination_concurrency_limit",
    "_destination_concurrency_negative_feedback",
    "_destination_concurrency_positive_feedback",
    "_destination_rate_delay",
    "_destination_recipient_limit",
    "_extra_recipient_limit",
    "_initial_destination_concurrency",
    "_minimum_delivery_slots",
    "_recipient_limit",
    "_recipient_refill_delay",
    "_recipient_refill_limit",
    "_time_limit",
    "_transport_rate_delay",
];

/// True for `<service>_<suffix>` names that are per-transport settings.
pub fn is_dynamic_name(name: &str) -> bool {
    DYNAMIC_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}
