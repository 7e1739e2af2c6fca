//! What every route needs: the deployment's settings, the token check,
//! reading a bounded request body, and the one place where errors become
//! HTTP responses.
//!
//! Settings are limits from `wrangler.toml` `[vars]` and the optional API
//! token secret.

use fanout_shared::engine::gate::Gate;
use fanout_shared::wire::config::{DEFAULT_MAX_REQUEST_BYTES, Limits};
use fanout_shared::wire::protocol::ApiError;
use futures::{Stream, StreamExt};
use worker::{Env, Headers, Request, Response, Result};

/// Everything a request handler needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Limits in force.
    pub limits: Limits,
    /// When set, every API route but the public ones needs
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Without a token: `OPEN_ACCESS = "true"` opens the API to anyone
    /// (rate limited per client IP); otherwise it answers 401.
    pub open_access: bool,
    /// Saved runs kept at most; the oldest go first.
    pub history_max_runs: u32,
    /// Saved runs older than this many days are deleted.
    pub history_max_age_days: u32,
    /// The demo shop's robots.txt answers this status (`DEMO_ROBOTS_STATUS`,
    /// default 200): a 5xx makes a crawl of the shop disallow everything,
    /// as RFC 9309 says, a 404 allow everything.
    pub demo_robots_status: u16,
    /// Added to a job batch's worst-case run for its lease (`JOB_LEASE_MARGIN_MS`).
    pub job_lease_margin_ms: u64,
    /// Largest `POST /api/v1/jobs` body (`MAX_JOB_REQUEST_BYTES`): a list of
    /// 100,000 URLs is several megabytes.
    pub max_job_request_bytes: u64,
    /// This invocation's connections (`CONNECTIONS_PER_INVOCATION`): every
    /// subrequest it makes holds one until its headers arrive. Settings are
    /// read once per invocation (a request, an alarm, a queue batch), so
    /// the gate is that invocation's.
    pub gate: Gate,
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}

fn num<T: std::str::FromStr>(env: &Env, name: &str, fallback: T) -> T {
    // A malformed var falls back to the built-in default rather than taking
    // the whole API down; /api/v1/config shows what is in force.
    var(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(fallback)
}

impl Settings {
    /// Read the settings from the Worker's environment.
    pub fn from_env(env: &Env) -> Self {
        let d = Limits::default();
        let limits = Limits {
            max_urls_per_request: num(env, "MAX_URLS_PER_REQUEST", d.max_urls_per_request),
            max_concurrency: num(env, "MAX_CONCURRENCY", d.max_concurrency),
            max_attempts: num(env, "MAX_ATTEMPTS", d.max_attempts),
            max_timeout_ms: num(env, "MAX_TIMEOUT_MS", d.max_timeout_ms),
            max_deadline_ms: num(env, "MAX_DEADLINE_MS", d.max_deadline_ms),
            max_backoff_ms: num(env, "MAX_BACKOFF_MS", d.max_backoff_ms),
            max_request_bytes: num(env, "MAX_REQUEST_BYTES", d.max_request_bytes),
            max_body_bytes: num(env, "MAX_BODY_BYTES", d.max_body_bytes),
            max_load_requests: num(env, "MAX_LOAD_REQUESTS", d.max_load_requests),
            max_load_duration_ms: num(env, "MAX_LOAD_DURATION_MS", d.max_load_duration_ms),
            max_load_concurrency: num(env, "MAX_LOAD_CONCURRENCY", d.max_load_concurrency),
            max_crawl_pages: num(env, "MAX_CRAWL_PAGES", d.max_crawl_pages),
            max_host_interval_ms: num(env, "MAX_HOST_INTERVAL_MS", d.max_host_interval_ms),
            max_job_urls: num(env, "MAX_JOB_URLS", d.max_job_urls),
            max_active_jobs: num(env, "MAX_ACTIVE_JOBS", d.max_active_jobs),
            job_batch_size: num(env, "JOB_BATCH_SIZE", d.job_batch_size).clamp(1, 100),
            min_watch_minutes: num(env, "MIN_WATCH_MINUTES", d.min_watch_minutes).max(1),
            max_watches: num(env, "MAX_WATCHES", d.max_watches),
            connections_per_invocation: num(env, "CONNECTIONS_PER_INVOCATION", d.connections_per_invocation),
            subrequests_per_invocation: num(env, "SUBREQUESTS_PER_INVOCATION", d.subrequests_per_invocation),
            allow_private_targets: var(env, "ALLOW_PRIVATE_TARGETS")
                .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes")),
            allowed_hosts: var(env, "ALLOWED_HOSTS")
                .map(|v| v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect())
                .unwrap_or_default(),
        };
        let token = env.secret("API_TOKEN").ok().map(|s| s.to_string()).filter(|s| !s.is_empty());
        let gate = Gate::new(limits.connections_per_invocation);
        Self {
            gate,
            limits,
            token,
            open_access: var(env, "OPEN_ACCESS").is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes")),
            // At least the run being saved, and at least a day.
            history_max_runs: num(env, "HISTORY_MAX_RUNS", 200).max(1),
            history_max_age_days: num(env, "HISTORY_MAX_AGE_DAYS", 90).max(1),
            demo_robots_status: num(env, "DEMO_ROBOTS_STATUS", 200u16).clamp(100, 599),
            job_lease_margin_ms: num(env, "JOB_LEASE_MARGIN_MS", 10_000u64),
            max_job_request_bytes: num(env, "MAX_JOB_REQUEST_BYTES", 16u64 * 1024 * 1024),
        }
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte
/// from response timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths anyone may read, whatever the access: health, config, the API's
/// description. (The page and the demo shop are not API routes.)
pub fn is_public(path: &str) -> bool {
    matches!(path, "/api/v1/health" | "/api/v1/config" | "/api/v1/openapi.json")
}

/// How long a client over the rate limit waits (the binding's period).
const RATE_PERIOD_S: u32 = 60;

/// Who may use a non-public API route: with a token set, whoever sends it;
/// without one, nobody, unless the owner opened the deployment on purpose
/// (`OPEN_ACCESS = "true"`), and then each client IP within the
/// `RATE_LIMITER` binding's limit. `Err` is the answer to send.
pub async fn guard(req: &Request, env: &Env, settings: &Settings) -> std::result::Result<(), ApiError> {
    if settings.token.is_some() {
        return authorize(req, settings);
    }
    if !settings.open_access {
        return Err(ApiError::new(
            401,
            "unauthorized",
            "this deployment is closed: it has no API token. Its owner sets one with `wrangler secret put \
             API_TOKEN` (then send `Authorization: Bearer <token>`), or opens it to anyone on purpose with \
             `[vars] OPEN_ACCESS = \"true\"` (rate limited per client IP)",
        ));
    }
    let Ok(limiter) = env.rate_limiter("RATE_LIMITER") else {
        return Ok(()); // no binding: nothing to count with
    };
    let ip = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "local".to_owned());
    match limiter.limit(ip.clone()).await {
        Ok(o) if !o.success => Err(ApiError::new(
            429,
            "rate_limited",
            format!(
                "this open deployment takes a limited number of API requests per client per minute, and {ip} is \
                 over it; try again in {RATE_PERIOD_S} s (Retry-After), or ask its owner for a token"
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuse a request without the deployment's API token, when one is set.
pub fn authorize(req: &Request, settings: &Settings) -> std::result::Result<(), ApiError> {
    let Some(token) = &settings.token else {
        return Ok(());
    };
    let given = req.headers().get("authorization").ok().flatten().unwrap_or_default();
    match given.strip_prefix("Bearer ") {
        Some(t) if same(t.trim().as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(401, "unauthorized", "this deployment needs Authorization: Bearer <API token>")),
    }
}

/// Read at most `max + 1` bytes of the request body, so an oversized body is
/// refused without being held in memory.
pub async fn read_body(req: &mut Request, max: u64) -> std::result::Result<Vec<u8>, ApiError> {
    let too_large = |n: u64| {
        ApiError::new(
            413,
            "body_too_large",
            format!("the request body is over {max} bytes ({n} seen); send fewer URLs per request"),
        )
    };
    if let Some(len) = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok())
        && len > max
    {
        return Err(too_large(len));
    }
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::refused("malformed_body", e.to_string()))?;
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max {
            return Err(too_large(body.len() as u64));
        }
    }
    Ok(body)
}

/// A JSON response with the security headers every API answer carries.
pub fn json_response<T: serde::Serialize>(status: u16, value: &T) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    let body = serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(Response::ok(body)?.with_status(status).with_headers(headers))
}

/// A handler's answer, a refusal turned into its JSON error response.
pub fn answer(result: std::result::Result<Response, ApiError>) -> Result<Response> {
    result.or_else(|e| error_response(&e))
}

/// `{"error": {"kind", "message"}}` with the error's status.
pub fn error_response(err: &ApiError) -> Result<Response> {
    let resp = json_response(err.status, &err.to_body())?;
    if err.status == 401 {
        resp.headers().set("www-authenticate", "Bearer")?;
    }
    if err.kind == "rate_limited" {
        resp.headers().set("retry-after", &RATE_PERIOD_S.to_string())?;
    }
    if let Some(allow) = err.allow {
        resp.headers().set("allow", allow)?;
    }
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
