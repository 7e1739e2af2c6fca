//! Fanout's dashboard: a Leptos client-side-rendered app.
//!
//! # Layout
//! - `main.rs`: mounts the app, nothing else.
//! - [`app`]: the page shell (header, mode tabs) and the fan-out dashboard:
//!   form, progress, statistics and the task table.
//! - [`run`]: the run store (state owned by the root) and the browser-side
//!   fan-out: chunked, bounded, cancellable requests to the edge.
//! - [`api`]: HTTP helpers: config, and one chunk's NDJSON stream.
//! - [`table`]: the task table.
//! - [`waterfall`]: one bar per attempt on a shared time axis.
//! - [`history`]: saved runs, diffs and price history (`?mode=history`).
//! - [`load`]: the load-test page (`?mode=load`): live rps, latency
//!   histogram, percentiles.
//!
//! Data flow: the form's URLs are split into chunks sized by the edge's
//! limits; each chunk is a `POST /api/v1/runs` whose NDJSON events are
//! decoded as they arrive and folded into per-row `TaskView`s (from
//! `fanout_shared::task`), a `Tally` and `Stats`. The views only read signals.

mod api;
mod app;
mod history;
mod load;
mod run;
mod stats;
mod table;
mod waterfall;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::Root);
}
