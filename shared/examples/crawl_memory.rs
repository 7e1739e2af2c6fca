//! Memory a crawl holds per discovered URL: its canonical key in the seen
//! set, its page record, and its job in the scheduler (URL, slot, queue
//! entry), measured after
//! `N` URLs have been discovered and wait in the frontier: the growth of the
//! process's resident memory (Linux) while the crawl holds them.
//!
//!   cargo run --release -p fanout-shared --features crawl --example crawl_memory -- N [--json]
//!
//! The crawl is driven by hand, as the runner would: one page at a time
//! answers with 250 new links (a category page's worth) until `N` URLs are
//! known; at concurrency 1 nearly all of them are still queued.

#![allow(clippy::unwrap_used, reason = "a benchmark: a panic is the report")]

use fanout_shared::crawl::{CrawlContext, Crawler};
use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::scheduler::{Action, Machine, Response, Scheduler};
use fanout_shared::input::Job;
use fanout_shared::input::target::TargetPolicy;
use fanout_shared::wire::protocol::{CrawlOptions, CrawlScope, RobotsMode, RunOptions};

/// The process's resident memory, in bytes (Linux `/proc/self/statm`).
/// The workspace forbids `unsafe`, so no counting allocator: the growth of
/// the resident set while the crawl holds its URLs stands in for its heap.
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

/// A product URL of realistic length (about 60 bytes).
fn url(i: usize) -> String {
    format!("https://shop.example/products/{i}-aero-kettle-stainless-1-7l")
}

fn measure(n: usize) -> (usize, usize) {
    let before = resident();
    let opts = RunOptions { concurrency: 1, per_host: 1, ..RunOptions::default() };
    let crawl = CrawlOptions {
        max_depth: 5,
        max_pages: u32::try_from(n + 1).unwrap(),
        scope: CrawlScope::SameHostname,
        include: Vec::new(),
        exclude: Vec::new(),
        robots: RobotsMode::Ignore,
    };
    let ctx = CrawlContext {
        policy: TargetPolicy { allow_private: true, allowed_hosts: Vec::new() },
        own_origin: None,
        max_host_interval_ms: 10_000,
    };
    let start = Job { id: 0, url: "https://shop.example/".into() };
    let mut c = Crawler::new(Scheduler::new(Vec::new(), opts, Box::new(SplitMix64::new(1))), vec![start], crawl, ctx);
    let mut next = 1;
    let mut now = 0;
    c.handle_timeout(now);
    while next <= n {
        let Some(Action::Start(req)) = c.poll_action() else { panic!("a page to answer") };
        while c.poll_event().is_some() {}
        let links: Vec<String> = (next..(next + 250).min(n + 1)).map(url).collect();
        next += links.len();
        now += 1;
        c.on_result(now, req.id, req.attempt, Ok(Response { status: 200, links, ..Response::default() }));
    }
    while c.poll_event().is_some() {}
    let held = resident().saturating_sub(before);
    drop(c);
    (held, n)
}

fn main() {
    // One size per process: memory freed by a smaller run would otherwise
    // be reused by the next and hide from the resident set.
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let (bytes, urls) = measure(n);
    if std::env::args().any(|a| a == "--json") {
        println!("{{\"urls\":{urls},\"bytes\":{bytes},\"url_len\":{}}}", url(1).len());
    } else {
        println!("{urls} URLs discovered: {bytes} bytes held, {} bytes per URL", bytes / urls);
    }
}
