//! `/api/v1/jobs`: background jobs. These handlers check what comes in and
//! pass it to the job's Durable Object (`crate::objects::job`), which does
//! the rest; the job list comes from D1.

use fanout_shared::engine::gate::Gate;
use fanout_shared::input::job::{JOB_EXAMPLE, JobBody, job_limits, read_job};
use fanout_shared::input::validation::{check_run_id, decode_json, parse_page, validate};
use fanout_shared::jobs::store::JobSpec;
use fanout_shared::wire::config::MAX_LINKS_PER_PAGE;
use fanout_shared::wire::jobs::{JobCreated, JobLinks, JobList, JobStatus};
use fanout_shared::wire::json::MAX_SAFE_INTEGER;
use fanout_shared::wire::protocol::ApiError;
use url::Url;
use worker::{Env, Method, Request, RequestInit, Response, Result, Stub};

use crate::context::accept_within;
use crate::context::{Settings, answer, authorize, json_response};
use crate::objects::job::InitJob;
use crate::routes::sitemap::read_sitemap;
use crate::store::history::{Store, new_run_id};

/// The Durable Object of job `id`.
pub fn stub(env: &Env, id: &str) -> std::result::Result<Stub, ApiError> {
    env.durable_object("JOB")
        .and_then(|ns| ns.get_by_name(id))
        .map_err(|e| ApiError::new(503, "jobs_unavailable", format!("this deployment has no JOB Durable Object: {e}")))
}

/// Ask job `id`'s object `path` (`/status`, `/cancel?…`), with `body` as JSON.
pub async fn ask(
    env: &Env,
    gate: &Gate,
    id: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> std::result::Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::new(502, "job_unreachable", e.to_string());
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(&format!("https://job{path}"), &init).map_err(internal)?;
    let stub = stub(env, id)?;
    // A Durable Object request is a subrequest: one of the invocation's
    // connections until its answer's headers arrive.
    let _held = gate.acquire().await;
    stub.fetch_with_request(req).await.map_err(internal)
}

/// Route `/api/v1/jobs…`.
pub async fn route(req: Request, env: &Env, settings: &Settings, path: &str) -> Result<Response> {
    answer(route_inner(req, env, settings, path).await)
}

async fn route_inner(
    mut req: Request,
    env: &Env,
    settings: &Settings,
    path: &str,
) -> std::result::Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
    let rest = path.trim_start_matches("/api/v1/jobs").trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (req.method(), parts.as_slice()) {
        (Method::Post, []) => create(&mut req, env, settings).await,
        (Method::Get, []) => {
            authorize(&req, settings)?;
            let url = req.url().map_err(internal)?;
            let (limit, offset) = parse_page(url.query().unwrap_or(""))?;
            let store = Store::open(env, settings).ok_or_else(no_history)?;
            let (jobs, total) = store.jobs(limit, offset).await.map_err(d1)?;
            json_response(200, &JobList { jobs, total, limit, offset }).map_err(internal)
        }
        (method, [id, tail @ ..]) => {
            authorize(&req, settings)?;
            let id = check_run_id(id).map_err(|_| {
                ApiError::refused(
                    "invalid_job_id",
                    format!("{id:?} is not a job id (1 to 64 letters, digits, '-' or '_')"),
                )
            })?;
            match (method.clone(), tail) {
                (Method::Get, []) => ask(env, &settings.gate, id, Method::Get, "/status", None).await,
                (Method::Post, ["cancel"]) => ask(env, &settings.gate, id, Method::Post, "/cancel", None).await,
                (Method::Delete, []) => {
                    let resp = ask(env, &settings.gate, id, Method::Post, "/delete", None).await?;
                    if resp.status_code() == 200
                        && let Some(store) = Store::open(env, settings)
                    {
                        store.delete_job(id).await.map_err(d1)?;
                    }
                    Ok(resp)
                }
                (Method::Get, ["events"]) => {
                    let url = req.url().map_err(internal)?;
                    let after = match url.query_pairs().find(|(k, _)| k == "after") {
                        None => 0,
                        Some((_, v)) => v.parse::<u64>().ok().filter(|n| *n <= MAX_SAFE_INTEGER).ok_or_else(|| {
                            ApiError::refused(
                                "invalid_after",
                                format!(
                                    "after = {v:?}: give the last seq you saw (a whole number, at most {MAX_SAFE_INTEGER})"
                                ),
                            )
                        })?,
                    };
                    ask(env, &settings.gate, id, Method::Get, &format!("/events?after={after}"), None).await
                }
                (method, [] | ["cancel" | "events"]) => Err(ApiError::method_not_allowed(&method, path)),
                _ => Err(ApiError::new(404, "not_found", format!("no API endpoint at {path}"))),
            }
        }
        (method, []) => Err(ApiError::method_not_allowed(&method, path)),
    }
}

fn no_history() -> ApiError {
    ApiError::new(503, "history_unavailable", "this deployment has no D1 database (DB), which jobs need")
}

fn d1(e: String) -> ApiError {
    ApiError::new(500, "history_error", e)
}

/// `POST /api/v1/jobs`: check it as a run request (with the job limits),
/// read a sitemap if given, make the job's object, answer 201 at once.
async fn create(req: &mut Request, env: &Env, settings: &Settings) -> std::result::Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
    let posted = accept_within(req, settings, settings.max_job_request_bytes).await?;
    let limits = job_limits(&settings.limits, settings.max_job_request_bytes);
    let body: serde_json::Value =
        decode_json(posted.content_type.as_deref(), &posted.body, &limits, "a job request", JOB_EXAMPLE)?;
    let created = start(env, settings, read_job(body)?, &posted.own_origin, None).await?;
    json_response(201, &created).map_err(internal)
}

/// Start a job: read its sitemap if it has one, check it (with the job
/// limits and, unless it is a watch's run, `MAX_ACTIVE_JOBS`), make its object. `watch_id` when it is a
/// run of a watch.
pub async fn start(
    env: &Env,
    settings: &Settings,
    job: JobBody,
    own_origin: &Url,
    watch_id: Option<String>,
) -> std::result::Result<JobCreated, ApiError> {
    let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
    let limits = job_limits(&settings.limits, settings.max_job_request_bytes);
    let JobBody { mut run, sitemap, kind } = job;
    if let Some(sitemap) = &sitemap {
        let found = read_sitemap(sitemap, own_origin, settings, limits.max_job_urls as usize).await?;
        if found.urls.is_empty() {
            return Err(ApiError::refused("no_urls", format!("the sitemap {sitemap} lists no URLs")));
        }
        run.urls = found.urls;
    }
    let valid = validate(run, &limits, Some(own_origin))?;
    let store = Store::open(env, settings).ok_or_else(no_history)?;
    // A watch's run does not count against MAX_ACTIVE_JOBS: each watch has
    // at most one run going (a busy slot is skipped), so MAX_WATCHES bounds
    // them, and watches due in the same minute must all start in it.
    let active = if watch_id.is_some() { 0 } else { store.active_jobs().await.map_err(d1)? };
    if active >= u64::from(limits.max_active_jobs) {
        return Err(ApiError::new(
            429,
            "too_many_jobs",
            format!(
                "{active} jobs are queued or running; the limit is {} (MAX_ACTIVE_JOBS). Cancel one or wait",
                limits.max_active_jobs
            ),
        ));
    }
    let id = new_run_id();
    let spec = JobSpec {
        options: valid.options,
        crawl: valid.crawl,
        own_origin: Some(own_origin.origin().ascii_serialization()),
        allow_private: limits.allow_private_targets,
        allowed_hosts: limits.allowed_hosts.clone(),
        batch_size: limits.job_batch_size.clamp(1, MAX_LINKS_PER_PAGE as u32),
        connections: limits.connections_per_invocation,
        lease_margin_ms: settings.job_lease_margin_ms,
        kind: kind.into(),
        watch_id,
    };
    let init = InitJob { id: id.clone(), spec, urls: valid.jobs.into_iter().map(|j| j.url).collect() };
    let body = serde_json::to_string(&init).map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let mut resp = ask(env, &settings.gate, &id, Method::Post, "/init", Some(body)).await?;
    if resp.status_code() != 201 {
        let err = resp.json::<fanout_shared::wire::protocol::ApiErrorBody>().await.map_err(internal)?;
        return Err(ApiError { status: resp.status_code(), ..err.error });
    }
    let status: JobStatus = resp.json().await.map_err(internal)?;
    Ok(JobCreated { job_id: id.clone(), state: status.state, links: JobLinks::of(&id) })
}
