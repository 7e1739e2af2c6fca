//! `POST /api/v1/runs`: a list or a crawl, checked, run on the shared
//! scheduler and streamed back as NDJSON events while it happens.

use std::rc::Rc;

use fanout_shared::Event;
use fanout_shared::crawl::{CrawlContext, Crawler};
use fanout_shared::engine::lanes::{Lanes, lanes_for};
use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::revalidate::WithPriors;
use fanout_shared::engine::runner::{Runner, WithHeartbeat};
use fanout_shared::engine::scheduler::Scheduler;
use fanout_shared::input::target::TargetPolicy;
use fanout_shared::input::validation::parse_run_request;
use fanout_shared::wire::protocol::{ApiError, HEARTBEAT_MS};
use futures::StreamExt;
use futures::stream::LocalBoxStream;
use worker::{Env, Request, Response, Result};

use crate::context::{Posted, Settings, accept, answer, ndjson_response};
use crate::platform::clock::EdgeClock;
use crate::platform::fetch::{EdgeFetcher, InFlight, watch_disconnect};
use crate::platform::lanes::{Either, Pool, ShardFetcher};
use crate::store::history::{Saver, Store, new_run_id};

/// `POST /api/v1/runs`: validate, then stream the run's events as NDJSON.
pub async fn runs(mut req: Request, env: &Env, settings: &Settings, store: Option<Store>) -> Result<Response> {
    answer(start_run(&mut req, env, settings, store).await)
}

async fn start_run(
    req: &mut Request,
    env: &Env,
    settings: &Settings,
    store: Option<Store>,
) -> std::result::Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
    let Posted { own_origin, content_type, body } = accept(req, settings).await?;
    let run = parse_run_request(content_type.as_deref(), &body, &settings.limits, Some(&own_origin))?;
    // Jitter only needs spreading, not secrecy: Math.random seeds it.
    let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
    let extract = run.options.extract;
    let options = serde_json::to_string(&run.options).unwrap_or_default();
    // What each URL fetched before is revalidated with (none without a
    // history, or when its read fails: the run then fetches in full).
    let priors =
        Store::priors_for(store.as_ref(), run.options.revalidate, run.jobs.iter().map(|j| j.url.clone())).await;
    let store = if run.save { store } else { None };
    let saver = Saver::new(store, run.run_id.unwrap_or_else(new_run_id), run.run_offset, options);
    let run_id = saver.run_id().to_owned();
    let rng = Box::new(SplitMix64::new(seed));
    let policy = TargetPolicy::from_limits(&settings.limits);
    let clock = EdgeClock::start();
    let mut sched =
        Scheduler::new(if run.crawl.is_some() { Vec::new() } else { run.jobs.clone() }, run.options.clone(), rng);
    if run.options.per_host_interval_ms > 0 {
        sched.pace_hosts(settings.limits.max_host_interval_ms);
    }
    // Production keeps six of an invocation's subrequests waiting for
    // headers. The run fans out over as many shards as its concurrency
    // needs, each with its own six, while this invocation's scheduler
    // decides every start; or, with `fan_out: false`, keeps to this
    // invocation's own six.
    let per_lane = settings.limits.connections_per_invocation;
    let (fetcher, pool) = if run.fan_out && per_lane > 0 {
        let most = run.crawl.as_ref().map_or(run.jobs.len() as u32, |c| c.max_pages);
        let lanes = Lanes::new(
            lanes_for(run.options.concurrency.min(most.max(1)), per_lane),
            per_lane,
            settings.limits.subrequests_per_invocation,
        );
        sched.limit_connections(lanes.count() as u32 * per_lane);
        let path =
            format!("/lane?own={}&extract={}", js_sys::encode_uri_component(own_origin.as_str()), u8::from(extract));
        let pool = Pool::new(env.clone(), lanes, path, settings.gate.clone());
        let weak = pool.weak();
        watch_disconnect(req.inner().signal(), move || weak.close());
        (WithPriors::new(Either::Shards(ShardFetcher { pool: pool.clone() }), priors), Some(pool))
    } else {
        sched.limit_connections(per_lane);
        let in_flight = Rc::new(InFlight::default());
        let weak = Rc::downgrade(&in_flight);
        watch_disconnect(req.inner().signal(), move || {
            if let Some(f) = weak.upgrade() {
                f.abort_all();
            }
        });
        let fetcher = EdgeFetcher {
            own_origin: own_origin.clone(),
            max_body_bytes: settings.limits.max_body_bytes,
            in_flight,
            extract,
            policy: policy.clone(),
            demo_robots_status: settings.demo_robots_status,
            gate: settings.gate.clone(),
        };
        (WithPriors::new(Either::Here(fetcher), priors), None)
    };
    // A list runs on the scheduler itself; a crawl on a frontier around it.
    let runner: LocalBoxStream<'static, Event> = match run.crawl {
        None => Runner::new(sched, fetcher, clock.clone()).boxed_local(),
        Some(crawl) => {
            let ctx = CrawlContext {
                policy,
                own_origin: Some(own_origin),
                max_host_interval_ms: settings.limits.max_host_interval_ms,
            };
            let crawler = Crawler::new(sched, run.jobs, crawl, ctx);
            Runner::new(crawler, fetcher, clock.clone()).boxed_local()
        }
    };
    // The summary says how many invocations the run used, and the shards
    // close as soon as it is out.
    let runner = runner.map(move |ev| match (ev, &pool) {
        (Event::Summary(mut s), Some(pool)) => {
            s.invocations = Some(pool.invocations());
            pool.close();
            Event::Summary(s)
        }
        (ev, _) => ev,
    });
    // Each line reaches the client as it happens. When
    // the client goes away, the watcher above aborts what is in flight, and
    // dropping the stream drops the runner.
    // Events that are ready together go out as one chunk (each still its own
    // line); a lone event still goes out at once.
    // Results are saved as they stream by (see `history::Saver`).
    let events = runner.then(move |ev| saver.clone().on_event(ev)).flat_map(futures::stream::iter);
    // A heartbeat line when nothing else was written for a while: a client
    // that went away is only noticed on a write; then workerd cancels the
    // response, and the fetches in flight are aborted (`watch_disconnect`
    // watches the request's signal; a dropped run aborts its attempts).
    let events = WithHeartbeat::new(Box::pin(events), clock, HEARTBEAT_MS);
    let resp = ndjson_response(
        events.ready_chunks(256).map(|events| events.iter().map(Event::to_ndjson).collect::<String>()),
    )?;
    resp.headers().set("x-fanout-run-id", &run_id).map_err(internal)?;
    Ok(resp)
}
