//! Background jobs: lists of up to 100,000 URLs, sitemaps and crawls that
//! run on the platform by themselves, with exactly one outcome per URL.
//!
//! On top of [`crate::crawl`] (a crawl job follows links as a streamed crawl
//! does), [`crate::engine`] (consumers run batches on the same scheduler and
//! runner), [`crate::history`] (a job's results are a run in the history)
//! and [`crate::wire::jobs`] (the API's types). Feature `crawl`.
//!
//! - [`store`]: what a job keeps ([`store::JobStore`]: a Durable Object's
//!   SQLite at the edge, [`store::MemStore`] in tests).
//! - [`machine`]: the job itself, sans-IO: hands out batches within the
//!   caps, records each outcome once, re-hands what a vanished consumer
//!   held, follows a crawl's links, cancels, summarises.
//! - [`protocol`]: the queue message, the claim and the report.
//! - [`consumer`]: a consumer's run of one batch.

pub mod consumer;
pub mod machine;
pub mod protocol;
pub mod store;
