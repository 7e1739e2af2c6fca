//! The scheduler's own cost per job, with fetches that complete instantly.
//!
//!     cargo run --release -p fanout-shared --example scheduler_overhead
//!
//! Three ways through 10,000 jobs at concurrency 50, side by side in one run:
//! - `scheduler`: the sans-IO state machine driven by hand (no futures);
//! - `runner`: the full async `Runner` (what the edge runs), on a local executor;
//! - `baseline`: `futures`' `buffer_unordered(50)` over the same instant futures,
//!   the least a bounded fan-out can cost.
//!
//! It prints ns per job for each (median of 7 runs) and the ratios, which are
//! what to compare across machines.

use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::Instant;

use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::runner::{Clock, Fetcher, Progress, Runner};
use fanout_shared::engine::scheduler::{Action, AttemptRequest, AttemptResult, Response, Scheduler};
use fanout_shared::input::Job;
use fanout_shared::wire::protocol::{Millis, RunOptions};
use futures::StreamExt;
use futures::executor::block_on;

const JOBS: u32 = 10_000;
const CONCURRENCY: u32 = 50;
const ROUNDS: usize = 7;

fn jobs() -> Vec<Job> {
    (0..JOBS).map(|id| Job { id, url: format!("http://h{}.test/p/{id}", id % 20) }).collect()
}

fn opts() -> RunOptions {
    RunOptions { concurrency: CONCURRENCY, per_host: CONCURRENCY, ..RunOptions::default() }
}

fn ok() -> AttemptResult {
    Ok(Response { status: 200, bytes: 1000, ..Response::default() })
}

struct Instant0;
impl Fetcher for Instant0 {
    type Attempt = Ready<AttemptResult>;
    type Abort = ();
    fn start(&self, _req: &AttemptRequest, _progress: Progress) -> (Self::Attempt, ()) {
        (ready(ok()), ())
    }
}

struct Frozen;
impl Clock for Frozen {
    type Sleep = futures::future::Pending<()>;
    fn now(&self) -> Millis {
        0
    }
    fn sleep_until(&self, _at: Millis) -> Self::Sleep {
        futures::future::pending()
    }
}

fn by_hand() -> usize {
    let mut s = Scheduler::new(jobs(), opts(), Box::new(SplitMix64::new(1)));
    let mut events = 0;
    s.handle_timeout(0);
    while !s.is_finished() {
        let mut started = Vec::new();
        while let Some(a) = s.poll_action() {
            if let Action::Start(r) = a {
                started.push(r);
            }
        }
        while s.poll_event().is_some() {
            events += 1;
        }
        for r in started {
            s.on_result(0, r.id, r.attempt, ok());
        }
        s.handle_timeout(0);
    }
    while s.poll_event().is_some() {
        events += 1;
    }
    events
}

fn runner() -> usize {
    let r = Runner::new(Scheduler::new(jobs(), opts(), Box::new(SplitMix64::new(1))), Instant0, Frozen);
    block_on(r.count())
}

fn baseline() -> usize {
    let futs = jobs().into_iter().map(|j| {
        let f: Ready<(u32, AttemptResult)> = ready((j.id, ok()));
        f
    });
    block_on(futures::stream::iter(futs).buffer_unordered(CONCURRENCY as usize).count())
}

fn median_ns_per_job<F: Fn() -> usize>(f: F) -> f64 {
    let mut samples: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_nanos() as f64 / f64::from(JOBS)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

fn main() {
    // Warm up allocators and caches once.
    black_box((by_hand(), runner(), baseline()));
    let hand = median_ns_per_job(by_hand);
    let run = median_ns_per_job(runner);
    let base = median_ns_per_job(baseline);
    // `-- --json`: one JSON line for bench/native.mjs.
    if std::env::args().any(|a| a == "--json") {
        let v = serde_json::json!({
            "jobs": JOBS, "concurrency": CONCURRENCY, "rounds": ROUNDS,
            "scheduler_ns": hand, "runner_ns": run, "baseline_ns": base,
        });
        println!("{v}");
        return;
    }
    println!("scheduler overhead, {JOBS} instant jobs at concurrency {CONCURRENCY}, median of {ROUNDS}:");
    println!("  scheduler (sans-IO, by hand): {hand:8.0} ns/job");
    println!("  runner (async, as the edge):  {run:8.0} ns/job");
    println!("  baseline buffer_unordered:    {base:8.0} ns/job");
    println!("  runner / baseline:            {:8.1}x", run / base);
    println!("  runner / scheduler:           {:8.2}x", run / hand);
}
