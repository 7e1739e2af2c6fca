//! Defaults and limits, named once and shared by the edge and the frontend.
//!
//! Defaults are what a run gets when a request leaves an option out. Limits are
//! what the edge accepts at most; the edge reads them from `wrangler.toml`
//! `[vars]` (see `edge/src/context.rs`) and these constants are only the values it
//! falls back to, so a deployment can change them without a rebuild.

use serde::{Deserialize, Serialize};

/// Path prefix of everything an edge's built-in demo shop serves. Its pages
/// are served in-process, so the target rules exempt them (see
/// [`crate::input::validation`]).
pub const DEMO_PATH_PREFIX: &str = "/demo/";

/// Global in-flight cap within one edge request. 50 is the product's reference
/// point (200 URLs at C=50); production's per-invocation connection limit makes
/// more than this pointless within one request anyway.
pub const DEFAULT_CONCURRENCY: u32 = 50;
/// Per-attempt deadline covering connect, headers and body. Ten seconds is
/// generous for a product page yet short enough that a hung host does not stall
/// a run that a person is watching.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Attempts per URL, counting the first one. Three matches the tenacity
/// crawler that Fanout is compared with.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Backoff base: the first retry waits `random(0, base)`.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 500;
/// Backoff cap, and the largest `Retry-After` Fanout will honour.
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 10_000;
/// Whole-run deadline. Every run is bounded in time, even when the client
/// forgets to say so.
pub const DEFAULT_DEADLINE_MS: u64 = 120_000;
/// Product extraction is what most users come for, so it is on by default.
pub const DEFAULT_EXTRACT: bool = true;

/// Fallback for the edge's `MAX_URLS_PER_REQUEST`.
pub const DEFAULT_MAX_URLS_PER_REQUEST: u32 = 1_000;
/// Fallback for the edge's `MAX_CONCURRENCY`.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 200;
/// Fallback for the edge's `MAX_ATTEMPTS`.
pub const DEFAULT_MAX_ATTEMPTS_LIMIT: u32 = 10;
/// Fallback for the edge's `MAX_TIMEOUT_MS`.
pub const DEFAULT_MAX_TIMEOUT_MS: u64 = 60_000;
/// Fallback for the edge's `MAX_DEADLINE_MS`.
pub const DEFAULT_MAX_DEADLINE_MS: u64 = 600_000;
/// Fallback for the edge's `MAX_BACKOFF_MS`.
pub const DEFAULT_MAX_BACKOFF_LIMIT_MS: u64 = 60_000;
/// Fallback for the edge's `MAX_REQUEST_BYTES` (the JSON body of a run request).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 1024 * 1024;
/// Fallback for the edge's `MAX_BODY_BYTES` (one upstream response body).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Fallback for the edge's `MAX_LOAD_REQUESTS`: most requests one load-test
/// request sends. Each is a subrequest, and a Worker invocation's subrequest
/// budget is what bounds this in production; the browser splits bigger tests.
pub const DEFAULT_MAX_LOAD_REQUESTS: u64 = 1_000;
/// Fallback for the edge's `MAX_LOAD_DURATION_MS`.
pub const DEFAULT_MAX_LOAD_DURATION_MS: u64 = 30_000;
/// Fallback for the edge's `MAX_LOAD_CONCURRENCY`.
pub const DEFAULT_MAX_LOAD_CONCURRENCY: u32 = 100;
/// Most URLs one interactive crawl fetches (start pages included). In
/// production every fetched page is a subrequest of the one invocation.
pub const DEFAULT_MAX_CRAWL_PAGES: u32 = 1_000;
/// Largest per-host interval between request starts: the cap on
/// `per_host_interval_ms`, on a robots.txt `Crawl-delay` and on the backoff
/// after 429 and 503 answers.
pub const DEFAULT_MAX_HOST_INTERVAL_MS: u64 = 10_000;
/// Most URLs one background job takes (or a crawl job fetches).
pub const DEFAULT_MAX_JOB_URLS: u32 = 100_000;
/// Most background jobs queued or running at once.
pub const DEFAULT_MAX_ACTIVE_JOBS: u32 = 10;
/// URLs per queue message of a job: tens, so that 100,000 URLs are a few
/// thousand messages (local queues fail past about 10,000 outstanding), and
/// few enough that one consumer invocation stays within its subrequests.
pub const DEFAULT_JOB_BATCH_SIZE: u32 = 25;
/// Fallback for the edge's `MIN_WATCH_MINUTES`: the shortest interval of a
/// watch. Every run is a background job over the whole list, so minutes, not
/// seconds.
pub const DEFAULT_MIN_WATCH_MINUTES: u32 = 5;
/// Fallback for the edge's `MAX_WATCHES`: most watches a deployment keeps.
pub const DEFAULT_MAX_WATCHES: u32 = 100;
/// Fallback for the edge's `CONNECTIONS_PER_INVOCATION`: production's
/// limit of subrequests waiting for headers in one Worker invocation (Durable
/// Object requests and alarms are invocations of their own).
pub const DEFAULT_CONNECTIONS_PER_INVOCATION: u32 = 6;
/// Fallback for the edge's `SUBREQUESTS_PER_INVOCATION`: the Paid plan's
/// default is 10,000 per invocation; 1,000 keeps a shard's CPU well within
/// its 30 s. The Free plan allows 50 (and 10 ms of CPU, about 25 pages
/// with extraction).
pub const DEFAULT_SUBREQUESTS_PER_INVOCATION: u32 = 1_000;
/// How deep a crawl follows links when `crawl.max_depth` is left out: start
/// pages are depth 0. Three reaches every product of a typical shop from its
/// home page (home → category → its later pages → product).
pub const DEFAULT_CRAWL_DEPTH: u32 = 3;
/// Deepest `crawl.max_depth` accepted.
pub const MAX_CRAWL_DEPTH: u32 = 20;
/// URLs a crawl fetches at most when `crawl.max_pages` is left out (start
/// pages included), within the deployment's `max_crawl_pages`.
pub const DEFAULT_CRAWL_PAGES: u32 = 300;
/// Links kept from one page; the rest of a page's links are not followed.
pub const MAX_LINKS_PER_PAGE: usize = 250;
/// Most `include` and `exclude` patterns, and the longest one.
pub const MAX_CRAWL_PATTERNS: usize = 20;
/// Longest `include` or `exclude` pattern, in characters.
pub const MAX_CRAWL_PATTERN_LEN: usize = 500;
/// The token Fanout's requests name in `User-Agent`, and the `User-agent`
/// group of a robots.txt that applies to it (falling back to `*`).
pub const ROBOTS_AGENT: &str = "Fanout";

/// How many chunk requests the browser keeps in flight at once. Over HTTP/1.1 a
/// browser holds 6 connections per host, so more would only queue inside it.
pub const DEFAULT_BROWSER_PARALLEL_REQUESTS: u32 = 4;

/// Split a concurrency budget over `parts` parallel requests, as evenly as
/// possible: the shares add up to `total`, so the browser's chunk requests
/// together never exceed the concurrency the user asked for. Callers keep
/// `parts <= total`, so every share is at least 1.
pub fn split_concurrency(total: u32, parts: u32) -> Vec<u32> {
    let parts = parts.max(1);
    (0..parts).map(|k| total / parts + u32::from(k < total % parts)).collect()
}

/// The limits an edge deployment enforces. Served by `GET /api/v1/config` so the
/// frontend can size its chunks and bound its form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Limits {
    /// Most URLs accepted in one `POST /api/v1/runs`.
    pub max_urls_per_request: u32,
    /// Largest `concurrency` (and `per_host`) accepted.
    pub max_concurrency: u32,
    /// Largest `retry.max_attempts` accepted.
    pub max_attempts: u32,
    /// Largest `timeout_ms` accepted.
    pub max_timeout_ms: u64,
    /// Largest `deadline_ms` accepted.
    pub max_deadline_ms: u64,
    /// Largest `retry.max_ms` accepted.
    pub max_backoff_ms: u64,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: u64,
    /// Largest upstream body read, in bytes; beyond it the fetch is aborted.
    pub max_body_bytes: u64,
    /// Most requests one `POST /api/v1/load` sends.
    pub max_load_requests: u64,
    /// Longest `duration_ms` of one load-test request.
    pub max_load_duration_ms: u64,
    /// Largest load-test `concurrency` of one request.
    pub max_load_concurrency: u32,
    /// Whether loopback, private and link-local targets may be fetched.
    pub allow_private_targets: bool,
    /// When not empty, the only hosts that may be fetched (exact names or IP
    /// literals, without port). Hosts listed here are allowed even when private.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Most URLs one crawl request fetches, start pages included.
    #[serde(default = "default_max_crawl_pages")]
    pub max_crawl_pages: u32,
    /// Largest spacing of request starts on one host (`per_host_interval_ms`,
    /// `Crawl-delay`, the 429/503 backoff).
    #[serde(default = "default_max_host_interval_ms")]
    pub max_host_interval_ms: u64,
    /// Most URLs one background job takes.
    #[serde(default = "default_max_job_urls")]
    pub max_job_urls: u32,
    /// Most background jobs queued or running at once.
    #[serde(default = "default_max_active_jobs")]
    pub max_active_jobs: u32,
    /// URLs per queue message of a job.
    #[serde(default = "default_job_batch_size")]
    pub job_batch_size: u32,
    /// Shortest interval of a watch, in minutes.
    #[serde(default = "default_min_watch_minutes")]
    pub min_watch_minutes: u32,
    /// Most watches kept.
    #[serde(default = "default_max_watches")]
    pub max_watches: u32,
    /// Subrequests one invocation keeps waiting for their response headers
    /// at once (production's limit is 6; 0 switches Fanout's own keeping of
    /// it off, which is not how production behaves).
    #[serde(default = "default_connections_per_invocation")]
    pub connections_per_invocation: u32,
    /// Upstream requests one shard invocation makes before its lane moves on
    /// to a fresh invocation (the plan's subrequests per invocation; on the
    /// Free plan also what its 10 ms of CPU allows). 0: no limit.
    #[serde(default = "default_subrequests_per_invocation")]
    pub subrequests_per_invocation: u32,
}

fn default_connections_per_invocation() -> u32 {
    DEFAULT_CONNECTIONS_PER_INVOCATION
}

fn default_subrequests_per_invocation() -> u32 {
    DEFAULT_SUBREQUESTS_PER_INVOCATION
}

fn default_min_watch_minutes() -> u32 {
    DEFAULT_MIN_WATCH_MINUTES
}

fn default_max_watches() -> u32 {
    DEFAULT_MAX_WATCHES
}

fn default_max_job_urls() -> u32 {
    DEFAULT_MAX_JOB_URLS
}

fn default_max_active_jobs() -> u32 {
    DEFAULT_MAX_ACTIVE_JOBS
}

fn default_job_batch_size() -> u32 {
    DEFAULT_JOB_BATCH_SIZE
}

fn default_max_crawl_pages() -> u32 {
    DEFAULT_MAX_CRAWL_PAGES
}

fn default_max_host_interval_ms() -> u64 {
    DEFAULT_MAX_HOST_INTERVAL_MS
}

/// Most redirects followed for one attempt. Fanout follows redirects itself so
/// that every hop is checked against the target rules.
pub const MAX_REDIRECTS: u32 = 10;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_urls_per_request: DEFAULT_MAX_URLS_PER_REQUEST,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_attempts: DEFAULT_MAX_ATTEMPTS_LIMIT,
            max_timeout_ms: DEFAULT_MAX_TIMEOUT_MS,
            max_deadline_ms: DEFAULT_MAX_DEADLINE_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_LIMIT_MS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_load_requests: DEFAULT_MAX_LOAD_REQUESTS,
            max_load_duration_ms: DEFAULT_MAX_LOAD_DURATION_MS,
            max_load_concurrency: DEFAULT_MAX_LOAD_CONCURRENCY,
            allow_private_targets: false,
            allowed_hosts: Vec::new(),
            max_crawl_pages: DEFAULT_MAX_CRAWL_PAGES,
            max_host_interval_ms: DEFAULT_MAX_HOST_INTERVAL_MS,
            max_job_urls: DEFAULT_MAX_JOB_URLS,
            max_active_jobs: DEFAULT_MAX_ACTIVE_JOBS,
            job_batch_size: DEFAULT_JOB_BATCH_SIZE,
            min_watch_minutes: DEFAULT_MIN_WATCH_MINUTES,
            max_watches: DEFAULT_MAX_WATCHES,
            connections_per_invocation: DEFAULT_CONNECTIONS_PER_INVOCATION,
            subrequests_per_invocation: DEFAULT_SUBREQUESTS_PER_INVOCATION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        assert_eq!(split_concurrency(50, 4), vec![13, 13, 12, 12]);
        assert_eq!(split_concurrency(3, 3), vec![1, 1, 1]);
        assert_eq!(split_concurrency(7, 1), vec![7]);
        for total in 1..100 {
            for parts in 1..=total.min(8) {
                let s = split_concurrency(total, parts);
                assert_eq!(s.iter().sum::<u32>(), total);
                assert!(s.iter().all(|&x| x >= 1));
                assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
            }
        }
    }
}
