//! Discovery crawling: from start pages, follow links within a scope, obey
//! robots.txt and Crawl-delay, pace each host, fetch each canonical URL once.
//!
//! Beside the run engine, on top of it: built on [`crate::wire`],
//! [`crate::input`] (target rules, URL patterns) and [`crate::engine`] (the
//! scheduler it drives, the runner that drives it). Feature `crawl`: the
//! edge has it, the browser bundle does not need it.
//!
//! - [`canonical`]: the key a URL is fetched at most once under.
//! - [`robots`]: one origin's robots.txt (RFC 9309) and what a failed
//!   fetch of it means.
//! - [`scope`]: which links a crawl follows.
//! - [`crawler`]: the frontier around the scheduler (a
//!   [`crate::engine::scheduler::Machine`]): discovery, budget, robots
//!   gating, the `discovered` events and the summary's `crawl` report.

pub mod canonical;
pub mod crawler;
pub mod robots;
pub mod scope;

pub use crawler::{CrawlContext, Crawler};
