//! Handlers of `/api/v1/*`.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use fanout_shared::Event;
use fanout_shared::crawl::{CrawlContext, Crawler};
use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::retry::is_success;
use fanout_shared::engine::runner::{Runner, WithHeartbeat};
use fanout_shared::engine::scheduler::Scheduler;
use fanout_shared::input::sitemap::{MAX_SITEMAP_DEPTH, MAX_SITEMAP_FILES, Sitemap, parse as parse_sitemap};
use fanout_shared::input::target::{TargetPolicy, check_url};
use fanout_shared::input::validation::{is_own_demo_url, parse_run_request};
use fanout_shared::load::engine::{LoadEngine, LoadRunner};
use fanout_shared::load::plan::parse_load_request;
use fanout_shared::wire::config::DEFAULT_MAX_REQUEST_BYTES;
use fanout_shared::wire::protocol::{ApiError, ConfigResponse, HEARTBEAT_MS, RunOptions};
use futures::stream::LocalBoxStream;
use futures::{Stream, StreamExt};
use worker::{Headers, Request, Response, Result};

use crate::clock::EdgeClock;
use crate::context::{Settings, answer, authorize, error_response, json_response, read_body};
use crate::fetch::{EdgeFetcher, EdgeProbe, InFlight, fetch_text};
use crate::history::{Saver, Store, new_run_id};

/// `GET /api/v1/health`.
pub fn health() -> Result<Response> {
    json_response(200, &serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /api/v1/config`: limits and defaults in force.
pub fn config(settings: &Settings) -> Result<Response> {
    let body = ConfigResponse {
        limits: settings.limits.clone(),
        defaults: RunOptions::default(),
        token_required: settings.token.is_some(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    json_response(200, &body)
}

/// Abort every upstream fetch of a run when its client disconnects.
///
/// Dropping the response stream would do it through the runner, but a
/// disconnected client stops pulling the stream without it being dropped
/// promptly, so the request's own `AbortSignal` (compatibility flag
/// `enable_request_signal`) is watched instead.
fn watch_disconnect(signal: web_sys::AbortSignal, in_flight: Rc<InFlight>) {
    let weak = Rc::downgrade(&in_flight);
    drop(in_flight);
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = signal.add_event_listener_with_callback("abort", &resolve);
    });
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        // Only a weak handle: a finished run is not kept alive by its watcher.
        if let Some(in_flight) = weak.upgrade() {
            in_flight.abort_all();
        }
    });
}

/// Most page URLs `GET /api/v1/sitemap` returns.
const MAX_SITEMAP_URLS: usize = 10_000;

/// `GET /api/v1/sitemap?url=…`: the page URLs of a sitemap, following
/// sitemap indexes (nested ones too, to a bounded depth and file count).
pub async fn sitemap(req: &Request, settings: &Settings) -> Result<Response> {
    match sitemap_urls(req, settings).await {
        Ok(body) => json_response(200, &body),
        Err(e) => error_response(&e),
    }
}

async fn sitemap_urls(req: &Request, settings: &Settings) -> std::result::Result<serde_json::Value, ApiError> {
    authorize(req, settings)?;
    let own = req.url().map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let Some(target) = own.query_pairs().find(|(k, _)| k == "url").map(|(_, v)| v.into_owned()) else {
        return Err(ApiError::bad_request("no_url", "give the sitemap as ?url=https://…/sitemap.xml"));
    };
    let found = read_sitemap(&target, &own, settings, MAX_SITEMAP_URLS).await?;
    Ok(
        serde_json::json!({ "urls": found.urls, "sitemaps": found.files, "truncated": found.truncated, "errors": found.errors }),
    )
}

/// What reading a sitemap found.
pub struct SitemapUrls {
    /// Page URLs, each once, in order.
    pub urls: Vec<String>,
    /// Sitemap files read.
    pub files: usize,
    /// Whether a limit cut the list short.
    pub truncated: bool,
    /// Files that could not be read, and why.
    pub errors: Vec<String>,
}

/// Read the sitemap at `target` (indexes followed, to a bounded depth and
/// file count; at most `max_urls` URLs) under the deployment's target rules.
pub async fn read_sitemap(
    target: &str,
    own: &url::Url,
    settings: &Settings,
    max_urls: usize,
) -> std::result::Result<SitemapUrls, ApiError> {
    let start = check_url(target).map_err(|e| ApiError::bad_request("invalid_url", format!("{target:?}: {e}")))?;
    let policy = TargetPolicy::from_limits(&settings.limits);
    if !is_own_demo_url(&start, Some(own))
        && let Err(e) = policy.check(&start)
    {
        return Err(ApiError::bad_request("blocked_target", e.to_string()));
    }
    let mut queue = VecDeque::from([(start, 0usize)]);
    let (mut files, mut truncated) = (0usize, false);
    let mut seen = HashSet::new();
    let (mut urls, mut errors) = (Vec::new(), Vec::new());
    while let Some((url, depth)) = queue.pop_front() {
        if files >= MAX_SITEMAP_FILES {
            truncated = true;
            break;
        }
        files += 1;
        match fetch_text(url.clone(), own, &policy, settings.limits.max_body_bytes, settings.demo_robots_status).await {
            Ok((status, body)) if is_success(status) => match parse_sitemap(&body) {
                Sitemap::Urls(list) => {
                    for u in list {
                        if urls.len() >= max_urls {
                            truncated = true;
                            break;
                        }
                        if seen.insert(u.clone()) {
                            urls.push(u);
                        }
                    }
                }
                Sitemap::Index(list) if depth < MAX_SITEMAP_DEPTH => {
                    for s in list {
                        match url.join(&s) {
                            Ok(next) => queue.push_back((next, depth + 1)),
                            Err(e) => errors.push(format!("{s}: {e}")),
                        }
                    }
                }
                Sitemap::Index(_) => {
                    errors.push(format!("{url}: sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH}"))
                }
            },
            Ok((status, _)) => errors.push(format!("{url}: HTTP {status}")),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    if urls.is_empty() && !errors.is_empty() {
        return Err(ApiError::new(502, "sitemap_unavailable", errors.join("; ")));
    }
    Ok(SitemapUrls { urls, files, truncated, errors })
}

/// `POST /api/v1/runs`: validate, then stream the run's events as NDJSON.
pub async fn runs(mut req: Request, settings: &Settings, store: Option<Store>) -> Result<Response> {
    answer(start_run(&mut req, settings, store).await)
}

async fn start_run(
    req: &mut Request,
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
    let store = if run.save { store } else { None };
    let saver = Saver::new(store, run.run_id.unwrap_or_else(new_run_id), run.run_offset, options);
    let run_id = saver.run_id().to_owned();
    let rng = Box::new(SplitMix64::new(seed));
    let in_flight = Rc::new(InFlight::default());
    watch_disconnect(req.inner().signal(), in_flight.clone());
    let policy = TargetPolicy::from_limits(&settings.limits);
    let fetcher = EdgeFetcher {
        own_origin: own_origin.clone(),
        max_body_bytes: settings.limits.max_body_bytes,
        in_flight,
        extract,
        policy: policy.clone(),
        demo_robots_status: settings.demo_robots_status,
    };
    let clock = EdgeClock::start();
    // A list runs on the scheduler itself; a crawl on a frontier around it.
    let runner: LocalBoxStream<'static, Event> = match run.crawl {
        None => {
            let mut sched = Scheduler::new(run.jobs, run.options.clone(), rng);
            if run.options.per_host_interval_ms > 0 {
                sched.pace_hosts(settings.limits.max_host_interval_ms);
            }
            Runner::new(sched, fetcher, clock.clone()).boxed_local()
        }
        Some(crawl) => {
            let ctx = CrawlContext {
                policy,
                own_origin: Some(own_origin),
                max_host_interval_ms: settings.limits.max_host_interval_ms,
            };
            let crawler = Crawler::new(Scheduler::new(Vec::new(), run.options.clone(), rng), run.jobs, crawl, ctx);
            Runner::new(crawler, fetcher, clock.clone()).boxed_local()
        }
    };
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

/// A streamed NDJSON answer: each item of `chunks` is one or more whole lines.
pub fn ndjson_response(chunks: impl Stream<Item = String> + 'static) -> std::result::Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("content-type", "application/x-ndjson; charset=utf-8")?;
    set("cache-control", "no-store")?;
    set("x-content-type-options", "nosniff")?;
    let body = chunks.map(|c| Ok::<Vec<u8>, worker::Error>(c.into_bytes()));
    Ok(Response::from_stream(body).map_err(internal)?.with_headers(headers))
}

/// `POST /api/v1/load`: validate, then stream the load test's snapshots as NDJSON.
pub async fn load(mut req: Request, settings: &Settings) -> Result<Response> {
    answer(start_load(&mut req, settings).await)
}

async fn start_load(req: &mut Request, settings: &Settings) -> std::result::Result<Response, ApiError> {
    let Posted { own_origin, content_type, body } = accept(req, settings).await?;
    let plan = parse_load_request(content_type.as_deref(), &body, &settings.limits, Some(&own_origin))?;
    let in_flight = Rc::new(InFlight::default());
    watch_disconnect(req.inner().signal(), in_flight.clone());
    let probe = EdgeProbe {
        url: plan.url.clone(),
        method: plan.method,
        own_origin,
        max_body_bytes: settings.limits.max_body_bytes,
        in_flight,
        demo_robots_status: settings.demo_robots_status,
    };
    let runner = LoadRunner::new(LoadEngine::new(plan), probe, EdgeClock::start());
    ndjson_response(runner.map(|ev| ev.to_ndjson()))
}

/// A POSTed API request, authorised and read within the body limit.
pub struct Posted {
    /// The edge's own origin.
    pub own_origin: url::Url,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What `POST /api/v1/runs` and `POST /api/v1/load` do before parsing:
/// check the token, then read the body within `MAX_REQUEST_BYTES`.
pub async fn accept(req: &mut Request, settings: &Settings) -> std::result::Result<Posted, ApiError> {
    accept_within(req, settings, settings.limits.max_request_bytes).await
}

/// [`accept`] with a body limit of `max_bytes` (a job's list is bigger).
pub async fn accept_within(
    req: &mut Request,
    settings: &Settings,
    max_bytes: u64,
) -> std::result::Result<Posted, ApiError> {
    authorize(req, settings)?;
    let own_origin = req.url().map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let cap = match max_bytes {
        0 => DEFAULT_MAX_REQUEST_BYTES,
        n => n,
    };
    let body = read_body(req, cap).await?;
    let content_type = req.headers().get("content-type").ok().flatten();
    Ok(Posted { own_origin, content_type, body })
}
