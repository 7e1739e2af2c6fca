//! Fanout's core: everything that needs no runtime.
//!
//! # Layout
//! One folder per layer. A layer imports only from the layers below it (or
//! from files beside it in its own folder), never from above;
//! `shared/tests/layers.rs` checks that, and that no two files import each
//! other in a circle.
//!
//! - [`wire`]: the contract, depending on nothing else here: run requests,
//!   NDJSON events, the summary's statistics, errors and their kinds,
//!   defaults and limits, NDJSON lines, and one reader of it all from parsed
//!   JSON (the browser's `JSON.parse` or `serde_json::Value`).
//! - [`input`]: what comes in, checked: URL and target rules (the SSRF
//!   guard), run request → [`input::Job`]s or a 4xx, pasted lists, the form
//!   in the page URL, sitemaps.
//! - [`view`]: what a client folds from events: per-URL task views,
//!   statistics, and pictures and files made from them (waterfall, CSV, JSON).
//! - [`extract`] (feature `extract`): streaming product extraction with
//!   lol_html.
//! - [`engine`]: the sans-IO fan-out scheduler (caps, fairness, retries,
//!   timeouts, deadline, cancel; time is an input), the retry policy, and the
//!   async runner that drives it through a shell's fetcher and clock; plus
//!   the virtual-time harness its tests run on.
//! - Beside the engine, on top of it:
//!   - `crawl` (feature `crawl`): discovery crawling: canonical URLs,
//!     robots.txt, scope, and the frontier that drives the scheduler;
//!   - [`history`]: saved run rows, replaying them, and the diff of two runs;
//!   - [`load`]: load-test mode (one URL × N at C): its wire types, plan,
//!     engine and the browser's client side;
//!   - [`demo`]: the built-in demo shop's catalogue and pages.
//! - On top of those:
//!   - `contract` (feature `watch`): the bounds the OpenAPI document states
//!     on request values, some from a deployment's limits;
//!   - `jobs` (feature `crawl`): background jobs whose state a Durable
//!     Object keeps and whose batches consumers run;
//!   - `watch` (feature `watch`): scheduled jobs, alert rules over two
//!     runs, and signed, retried webhook deliveries.
//!
//! Data flow: the edge checks a request ([`input::validation`]) into jobs,
//! builds an [`engine::scheduler::Scheduler`], wraps it in an
//! [`engine::runner::Runner`] with its fetcher and clock, and writes each
//! [`wire::protocol::Event`] as an NDJSON line. The browser splits lines with
//! [`wire::ndjson`], reads the same events through [`wire::json`] and folds
//! them into [`view`]s; [`history`] keeps what a run left behind.

#[cfg(feature = "watch")]
pub mod contract;
#[cfg(feature = "crawl")]
pub mod crawl;
pub mod demo;
pub mod engine;
#[cfg(feature = "extract")]
pub mod extract;
pub mod history;
pub mod input;
#[cfg(feature = "crawl")]
pub mod jobs;
pub mod load;
pub mod view;
#[cfg(feature = "watch")]
pub mod watch;
pub mod wire;

pub use wire::error::{ErrorKind, FetchError};
pub use wire::protocol::{Event, Millis};
