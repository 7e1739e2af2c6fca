//! `/api/v1/jobs`: background jobs. These handlers check what comes in and
//! pass it to the job's Durable Object (`crate::job_object`), which does
//! the rest; the job list comes from D1.

use fanout_shared::input::validation::{check_run_id, decode_json, parse_page, validate};
use fanout_shared::jobs::store::JobSpec;
use fanout_shared::wire::config::MAX_LINKS_PER_PAGE;
use fanout_shared::wire::jobs::{JobCreated, JobLinks, JobList, JobStatus};
use fanout_shared::wire::protocol::{ApiError, RunRequest};
use worker::{Env, Method, Request, RequestInit, Response, Result, Stub};

use crate::api::{accept_within, read_sitemap};
use crate::context::{Settings, authorize, error_response, json_response};
use crate::history::{Store, new_run_id};
use crate::job_object::InitJob;

/// The Durable Object of job `id`.
pub fn stub(env: &Env, id: &str) -> std::result::Result<Stub, ApiError> {
    env.durable_object("JOB")
        .and_then(|ns| ns.get_by_name(id))
        .map_err(|e| ApiError::new(503, "jobs_unavailable", format!("this deployment has no JOB Durable Object: {e}")))
}

/// Ask job `id`'s object `path` (`/status`, `/cancel?…`), with `body` as JSON.
pub async fn ask(
    env: &Env,
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
    stub(env, id)?.fetch_with_request(req).await.map_err(internal)
}

/// Route `/api/v1/jobs…`.
pub async fn route(req: Request, env: &Env, settings: &Settings, path: &str) -> Result<Response> {
    match route_inner(req, env, settings, path).await {
        Ok(resp) => Ok(resp),
        Err(e) => error_response(&e),
    }
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
                ApiError::bad_request(
                    "invalid_job_id",
                    format!("{id:?} is not a job id (1 to 64 letters, digits, '-' or '_')"),
                )
            })?;
            match (method.clone(), tail) {
                (Method::Get, []) => ask(env, id, Method::Get, "/status", None).await,
                (Method::Post, ["cancel"]) => ask(env, id, Method::Post, "/cancel", None).await,
                (Method::Delete, []) => {
                    let resp = ask(env, id, Method::Post, "/delete", None).await?;
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
                        Some((_, v)) => v.parse::<u64>().map_err(|_| {
                            ApiError::bad_request(
                                "invalid_after",
                                format!("after = {v:?}: give the last seq you saw (a whole number)"),
                            )
                        })?,
                    };
                    ask(env, id, Method::Get, &format!("/events?after={after}"), None).await
                }
                (_, [] | ["cancel"] | ["events"]) => {
                    Err(ApiError::new(405, "method_not_allowed", format!("{method:?} is not allowed on {path}")))
                }
                _ => Err(ApiError::new(404, "not_found", format!("no API endpoint at {path}"))),
            }
        }
        (method, []) => Err(ApiError::new(405, "method_not_allowed", format!("{method:?} is not allowed on {path}"))),
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
    // A job's lists and crawls may be as big as the job limit.
    let mut limits = settings.limits.clone();
    limits.max_request_bytes = settings.max_job_request_bytes;
    limits.max_urls_per_request = limits.max_job_urls;
    limits.max_crawl_pages = limits.max_job_urls;
    const EXAMPLE: &str = r#"{"urls": ["https://…"], …} or {"sitemap": "https://…/sitemap.xml", …}"#;
    let mut body: serde_json::Value =
        decode_json(posted.content_type.as_deref(), &posted.body, &limits, "a job request", EXAMPLE)?;
    // `sitemap` is the job's own field; the rest is a run request, read
    // strictly (unknown fields refused), its `urls` empty with a sitemap.
    let malformed = |e: String| {
        ApiError::bad_request("malformed_json", format!("the body is not a job request: {e}. Expected {EXAMPLE}"))
    };
    let obj = body.as_object_mut().ok_or_else(|| malformed("not a JSON object".into()))?;
    let sitemap = match obj.remove("sitemap") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(malformed("`sitemap` must be a URL string".into())),
    };
    if sitemap.is_some() && !obj.contains_key("urls") {
        obj.insert("urls".into(), serde_json::Value::Array(Vec::new()));
    }
    let mut run: RunRequest = serde_json::from_value(body).map_err(|e| malformed(e.to_string()))?;
    let kind = match (&sitemap, &run.crawl) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("conflicting_options", "give `sitemap` or `crawl`, not both"));
        }
        (Some(_), None) if !run.urls.is_empty() => {
            return Err(ApiError::bad_request("conflicting_options", "give `urls` or `sitemap`, not both"));
        }
        (Some(sitemap), None) => {
            let found = read_sitemap(sitemap, &posted.own_origin, settings, limits.max_job_urls as usize).await?;
            if found.urls.is_empty() {
                return Err(ApiError::bad_request("no_urls", format!("the sitemap {sitemap} lists no URLs")));
            }
            run.urls = found.urls;
            "sitemap"
        }
        (None, Some(_)) => "crawl",
        (None, None) => "list",
    };
    let valid = validate(run, &limits, Some(&posted.own_origin))?;
    let store = Store::open(env, settings).ok_or_else(no_history)?;
    let active = store.active_jobs().await.map_err(d1)?;
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
        own_origin: Some(posted.own_origin.origin().ascii_serialization()),
        allow_private: limits.allow_private_targets,
        allowed_hosts: limits.allowed_hosts.clone(),
        batch_size: limits.job_batch_size.clamp(1, MAX_LINKS_PER_PAGE as u32),
        lease_margin_ms: settings.job_lease_margin_ms,
        kind: kind.into(),
    };
    let init = InitJob { id: id.clone(), spec, urls: valid.jobs.into_iter().map(|j| j.url).collect() };
    let body = serde_json::to_string(&init).map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let mut resp = ask(env, &id, Method::Post, "/init", Some(body)).await?;
    if resp.status_code() != 201 {
        return Ok(resp);
    }
    let status: JobStatus = resp.json().await.map_err(internal)?;
    let created = JobCreated { job_id: id.clone(), state: status.state, links: JobLinks::of(&id) };
    json_response(201, &created).map_err(internal)
}
