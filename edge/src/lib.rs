//! Fanout's edge: a Cloudflare Worker that fans out page fetches.
//!
//! # Layout
//! - `lib.rs`: the route table, nothing else.
//! - [`context`]: what every route needs: [`context::Settings`] from `[vars]`
//!   and the token secret, the token check, a bounded body reader, and
//!   errors → HTTP in one place.
//! - [`api`]: `/api/v1/*` handlers (health, config, runs, sitemap, load).
//! - [`history`]: run history in D1: saving while streaming, list, get,
//!   export, delete, diff, price history.
//! - [`demo`]: the built-in demo shop under `/demo/`.
//! - [`fetch`]: the shell half of the fan-out: `worker::Fetch` +
//!   `AbortController` behind `fanout_shared::engine::runner::Fetcher`, and
//!   the load test's probe.
//! - [`jobs`], [`job_object`], [`consumer`]: background jobs: the API, the
//!   Durable Object per job, the queue consumer.
//! - [`watches`], [`watch_store`], [`alerts`]: watches: the API and the Cron
//!   Trigger's tick, their rows in D1, and a finished run's rules and
//!   webhook deliveries (made by the run's job object).
//! - [`clock`]: the wall clock, a `setTimeout` future and the run's clock
//!   behind `fanout_shared::engine::runner::Clock`.
//!
//! Imports point down this list (`api` → `history`, `fetch` → `demo` →
//! `clock`; everything → `context`), never back up.
//!
//! Data flow: a run request is checked by `fanout_shared::input::validation`,
//! run by `fanout_shared::engine::runner::Runner` over an [`fetch::EdgeFetcher`],
//! and its events are streamed back as NDJSON lines. Static assets (the
//! dashboard) are served by Workers static assets before this code runs.

use fanout_shared::wire::protocol::ApiError;
use worker::{Context, Env, Method, Request, Response, Result, ScheduleContext, ScheduledEvent, event};

mod context;
mod objects;
mod platform;
mod routes;
mod store;

pub use objects::job::JobObject;
pub use objects::scheduler::SchedulerObject;
pub use objects::shard::ShardObject;

use routes::{demo, history, jobs, load, meta, runs, sitemap, watches};

use context::{Settings, error_response};

/// The methods workers-rs tells apart.
const KNOWN_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "REPORT"];

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let settings = Settings::from_env(&env);
    let path = req.path();
    let method = req.method();
    // workers-rs reads a method it does not know (QUERY, say) as GET: such a
    // request is refused here, before it could be served as one.
    let raw = req.inner().method();
    if path.starts_with("/api/") && !KNOWN_METHODS.contains(&raw.to_ascii_uppercase().as_str()) {
        return error_response(&ApiError::method_not_allowed(&raw, &path));
    }
    // Every API route but the public ones: the token, or an open
    // deployment's rate limit, or 401 (closed by default).
    if path.starts_with("/api/")
        && !context::is_public(&path)
        && let Err(e) = context::guard(&req, &env, &settings).await
    {
        return error_response(&e);
    }
    match (method.clone(), path.as_str()) {
        (Method::Get, "/api/v1/health") => meta::health(),
        (Method::Get, "/api/v1/config") => meta::config(&settings),
        (Method::Get, "/api/v1/openapi.json") => meta::openapi(&settings),
        (Method::Post, "/api/v1/runs") => {
            let store = store::history::Store::open(&env, &settings);
            runs::runs(req, &env, &settings, store).await
        }
        (_, p) if p == "/api/v1/history" || p == "/api/v1/runs" || p.starts_with("/api/v1/runs/") => {
            history::route(&req, &env, &settings, p).await
        }
        (_, p) if p == "/api/v1/jobs" || p.starts_with("/api/v1/jobs/") => jobs::route(req, &env, &settings, p).await,
        (_, p) if p == "/api/v1/watches" || p.starts_with("/api/v1/watches/") => {
            watches::route(req, &env, &settings, p).await
        }
        (Method::Get, "/api/v1/sitemap") => sitemap::sitemap(&req, &settings).await,
        (Method::Post, "/api/v1/load") => load::load(req, &env, &settings).await,
        (_, "/api/v1/health" | "/api/v1/config" | "/api/v1/openapi.json" | "/api/v1/sitemap" | "/api/v1/load") => {
            error_response(&ApiError::method_not_allowed(&method, &path))
        }
        (_, p) if p.starts_with("/api/") => {
            error_response(&ApiError::new(404, "not_found", format!("no API endpoint at {p}")))
        }
        (Method::Get | Method::Head, p) if p == "/demo" || p.starts_with("/demo/") || p == "/robots.txt" => {
            let url = req.url()?;
            let attempt = req
                .headers()
                .get(fanout_shared::demo::ATTEMPT_HEADER)
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let if_none_match = req.headers().get("if-none-match").ok().flatten();
            let now = platform::clock::unix_ms();
            demo::reply(&url, attempt, now, settings.demo_robots_status, if_none_match.as_deref()).await.into_response()
        }
        _ => Response::error("Not Found", 404),
    }
}

/// The Cron Trigger (`[triggers] crons`), deployed: a backstop that makes
/// sure the watches' scheduler has its alarm. It never starts a run itself
/// (the scheduler's alarm does, `objects::scheduler`).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let settings = Settings::from_env(&env);
    objects::scheduler::arm(&env, &settings, None).await;
}
