//! The wire contract: what scripts send and get back, and nothing else.
//!
//! The lowest layer: it imports from no other part of the crate, so every
//! other layer may use it. The edge serialises these types and clients read
//! the very same ones.
//!
//! - [`protocol`]: the run request, its options, the NDJSON [`protocol::Event`]s
//!   and the `summary`, the error body of a 4xx, the config answer.
//! - [`stats`]: the statistics a summary carries (percentiles, per-host figures).
//! - [`jobs`]: background jobs: creating one, its status, the job list, and
//!   its event lines (a run's events with a `seq`).
//! - [`watches`]: watches: a scheduled job, its alert rules, webhook,
//!   alerts, payload and delivery log.
//! - [`error`]: why a URL failed ([`error::FetchError`]) and its wire kind.
//! - [`config`]: `DEFAULT_*` options and the [`config::Limits`] an edge enforces.
//! - [`ndjson`]: writing a line, and splitting a byte stream into lines.
//! - [`json`]: reading all of the above from JSON something else parsed.

pub mod config;
pub mod error;
pub mod jobs;
pub mod json;
pub mod ndjson;
pub mod protocol;
pub mod stats;
pub mod watches;
