//! Fanout's dashboard: a Leptos client-side-rendered app, built as three
//! wasm binaries, one per page, so each page downloads only its own code:
//! `src/main.rs` (the fan-out dashboard, `/`), `src/bin/fanout-load.rs`
//! (`/?mode=load`) and `src/bin/fanout-history.rs` (`/?mode=history`).
//! `index.html`'s loader (Trunk.toml's `pattern_script`) picks one by the
//! page URL's `mode`; each binary only calls one of the functions below.
//!
//! # Layout
//! - [`app`]: the page shell (header, mode tabs) and the fan-out dashboard:
//!   form, progress, statistics and the task table.
//! - [`run`]: the run store (state owned by the root) and the browser-side
//!   fan-out: chunked, bounded, cancellable requests to the edge.
//! - [`api`]: HTTP helpers: config, and one chunk's NDJSON stream.
//! - [`json`]: the edge's JSON (event lines, config, refusals, sitemaps) as
//!   parsed by the browser, read through `fanout_shared::json`.
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
mod json;
mod load;
mod run;
mod stats;
mod table;
mod waterfall;

use app::{Page, Shell};
use leptos::prelude::*;

fn mount<V: IntoView + 'static>(page: Page, view: fn() -> V) {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(move || view! { <Shell page=page>{view()}</Shell> });
}

/// Mount the fan-out dashboard (`/`).
pub fn dashboard() {
    mount(Page::FanOut, app::App);
}

/// Mount the load-test page (`/?mode=load`).
pub fn load_test() {
    mount(Page::Load, load::LoadPage);
}

/// Mount the run history (`/?mode=history`).
pub fn history() {
    mount(Page::History, history::HistoryPage);
}
