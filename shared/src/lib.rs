//! Fanout's core: everything that needs no runtime.
//!
//! # Layout
//! - [`protocol`]: the wire contract (request, NDJSON events, error body).
//! - [`config`]: `DEFAULT_*` options and the limits an edge enforces.
//! - [`validation`]: request body → checked run, or a 4xx that says what to fix.
//! - [`scheduler`]: the sans-IO fan-out state machine (caps, fairness,
//!   retries, timeouts, deadline, cancel). Time is an input.
//! - [`retry`]: what is retryable, full-jitter backoff, `Retry-After`.
//! - [`runner`]: the async loop that drives the scheduler through a
//!   [`runner::Fetcher`] and a [`runner::Clock`] supplied by a shell.
//! - [`sitemap`]: reading `<urlset>` and `<sitemapindex>` files.
//! - [`stats`]: percentiles, throughput and per-host figures from events.
//! - [`target`]: the SSRF guard's classifier of private targets.
//! - `extract` (feature `extract`): streaming product extraction with lol_html.
//! - [`task`]: a client's per-URL view (state, spans) folded from events.
//! - [`report`]: waterfall geometry and JSON/CSV exports from task views.
//! - [`ndjson`]: splitting a byte stream into lines.
//! - [`json`]: reading events, limits and error bodies from parsed JSON
//!   (the browser's `JSON.parse`, or `serde_json::Value`).
//! - [`history`]: saved run rows, the diff between two runs, id and page checks.
//! - [`input`]: cleaning a pasted URL list.
//! - [`load`]: load-test mode (one URL × N at C), its engine, runner and
//!   HDR latency histogram.
//! - [`load_client`]: the browser's side of a load test: link, split, merge.
//! - [`demo`]: the built-in demo shop's catalogue and pages.
//! - [`error`]: the one fetch error type and its wire kinds.
//!
//! Data flow: the edge validates a request ([`validation`]), builds a
//! [`scheduler::Scheduler`], wraps it in a [`runner::Runner`] with its fetcher
//! and clock, and writes each [`protocol::Event`] as an NDJSON line. The
//! browser splits lines with [`ndjson`], reads the same events through [`json`]
//! (on the browser's `JSON.parse`) and folds them
//! into [`stats`].

pub mod config;
pub mod demo;
pub mod error;
#[cfg(feature = "extract")]
pub mod extract;
pub mod history;
pub mod input;
pub mod json;
pub mod load;
pub mod load_client;
pub mod ndjson;
pub mod protocol;
pub mod report;
pub mod retry;
pub mod runner;
pub mod scheduler;
pub mod sitemap;
pub mod stats;
pub mod target;
pub mod task;
pub mod validation;

#[cfg(test)]
mod sim;

pub use error::{ErrorKind, FetchError};
pub use protocol::{Event, Millis};
