//! Fanout's dashboard: a Leptos client-side-rendered app, built as three
//! wasm binaries, one per page, so each page downloads only its own code:
//! `src/main.rs` (the fan-out dashboard, `/`), `src/bin/fanout-load.rs`
//! (`/?mode=load`) and `src/bin/fanout-history.rs` (`/?mode=history`).
//! `index.html`'s loader (Trunk.toml's `pattern_script`) picks one by the
//! page URL's `mode`; each binary only calls one of the functions below.
//!
//! # Layout
//! - [`page`]: what every page shares: the shell (header, mode tabs,
//!   footer), the page URL, the browser's URL check.
//! - [`dashboard`]: the fan-out dashboard: form, progress, compare mode,
//!   statistics and the task table.
//! - [`crawl`]: the crawl page (`?mode=crawl`): start pages, scope and
//!   budget in; discovered pages join the live table as they are found,
//!   with the crawl's refusals and each site's robots.txt.
//! - [`jobs`]: background jobs (`?mode=jobs`, `/?job=ID`): one followed
//!   live from its event log, and the job list; "Run in background" on the
//!   other pages starts one.
//! - [`watches`]: watches (`?mode=watches`): scheduled jobs with alert
//!   rules and webhooks, their runs, alerts, deliveries and price charts;
//!   "Watch these URLs" on the dashboard prefills one.
//! - [`history`]: saved runs, diffs and price history (`?mode=history`).
//! - [`load`]: the load-test page (`?mode=load`): live rps, latency
//!   histogram, percentiles.
//! - [`stats`], [`table`], [`waterfall`]: the panels the pages share:
//!   progress, statistics cards and per-host table, the task table, one
//!   bar per attempt on a shared time axis.
//! - [`fields`]: form parts the pages share (bounded number fields, saving
//!   a file).
//! - [`run`]: the run store (state owned by the root) and the browser-side
//!   fan-out: chunked, bounded, cancellable requests to the edge.
//! - [`api`]: HTTP helpers: config, and one chunk's NDJSON stream.
//! - [`json`]: the edge's JSON (event lines, config, refusals, sitemaps) as
//!   parsed by the browser, read through `fanout_shared::wire::json`.
//!
//! Imports point down this list, never back up: pages use panels, panels
//! use the run store, the store uses the API helpers.
//!
//! Data flow: the form's URLs are split into chunks sized by the edge's
//! limits; each chunk is a `POST /api/v1/runs` whose NDJSON events are
//! decoded as they arrive and folded into per-row `TaskView`s (from
//! `fanout_shared::view::task`), a `Tally` and `Stats` (`fanout_shared::view::stats`).
//! The views only read signals.

mod api;
mod crawl;
mod dashboard;
mod fields;
mod history;
mod jobs;
mod json;
mod load;
mod page;
mod run;
mod stats;
mod table;
mod watches;
mod waterfall;

use leptos::prelude::*;
use page::{Page, Shell};

fn mount<V: IntoView + 'static>(page: Page, view: fn() -> V) {
    // A panic's message and its JS stack in the browser console.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(move || view! { <Shell page=page>{view()}</Shell> });
}

/// Mount the fan-out dashboard (`/`).
pub fn dashboard() {
    mount(Page::FanOut, dashboard::App);
}

/// Mount the crawl page (`/?mode=crawl`).
pub fn crawl() {
    mount(Page::Crawl, crawl::CrawlPage);
}

/// Mount the jobs page (`/?mode=jobs`, `/?job=ID`).
pub fn jobs() {
    mount(Page::Jobs, jobs::JobsPage);
}

/// Mount the load-test page (`/?mode=load`).
pub fn load_test() {
    mount(Page::Load, load::LoadPage);
}

/// Mount the watches page (`/?mode=watches`).
pub fn watches() {
    mount(Page::Watches, watches::WatchesPage);
}

/// Mount the run history (`/?mode=history`).
pub fn history() {
    mount(Page::History, history::HistoryPage);
}
