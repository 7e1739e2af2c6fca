//! What comes in, checked before anything is fetched.
//!
//! Built on [`crate::wire`] only.
//!
//! - [`target`]: which URLs may be fetched at all (http(s) with a host) and
//!   which targets a deployment refuses (the SSRF guard).
//! - [`validation`]: a `POST /api/v1/runs` body → a [`validation::ValidRun`]
//!   of [`Job`]s, or a 4xx that says what to fix; run ids.
//! - [`job`]: a job request (`urls`, `sitemap` or `crawl`) read strictly.
//! - [`list`]: a pasted or uploaded URL list → unique, valid URLs.
//! - [`pattern`]: URL globs for a crawl's `include` and `exclude`.
//! - [`form`]: the dashboard's form as the page URL's query string.
//! - [`sitemap`]: `<urlset>` and `<sitemapindex>` files.

pub mod form;
pub mod job;
pub mod list;
pub mod pattern;
pub mod sitemap;
pub mod target;
pub mod validation;

pub use validation::Job;
