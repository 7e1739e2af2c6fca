//! Load-test mode: one URL requested N times (or for D milliseconds) at
//! concurrency C, reported as periodic snapshots rather than one event per
//! request, so it scales to thousands of requests per second.
//!
//! Beside the run engine, built on [`crate::wire`], [`crate::input`] (the
//! same target rules and option checks) and [`crate::engine::runner`]'s
//! clock and abort traits.
//!
//! - [`protocol`]: the body of `POST /api/v1/load` and its NDJSON lines
//!   (`load_started`, `snapshot`, `load_summary`), and reading them.
//! - [`plan`]: a request checked into a [`plan::LoadPlan`] within the limits.
//! - [`engine`]: the HDR latency histogram, the sans-IO [`engine::LoadEngine`]
//!   (time in microseconds is an input) and the [`engine::LoadRunner`] that
//!   drives it through a shell's [`engine::Probe`].
//! - [`client`]: the browser's side: the form as a link, splitting a test
//!   over several edge requests, merging their snapshots.
//!
//! Latency is measured from the moment a request starts to the end of its
//! body. Requests that got an HTTP answer (any status) are recorded in the
//! histogram; transport errors and timeouts are counted by kind instead, as
//! `oha` does. Redirects are not followed: a 3xx counts as its status.

pub mod client;
pub mod engine;
pub mod plan;
pub mod protocol;
