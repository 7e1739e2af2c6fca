//! `/api/v1/watches`: watches. Their scheduler (`crate::objects::scheduler`)
//! starts each run on its schedule, from a Durable Object alarm; every
//! request here also asks it to keep that alarm (set again if it was lost).
//! A watch's run is a background job (`crate::routes::jobs::start`) that
//! knows its watch; when it finishes, its Durable Object evaluates the rules
//! and delivers the alerts (`crate::objects::alerts`).

use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::input::job::{job_limits, read_job};
use fanout_shared::input::target::TargetPolicy;
use fanout_shared::input::validation::{check_run_id, decode_json, decode_value, parse_page};
use fanout_shared::watch::check::{check_channels, check_job, check_name, check_rules, check_schedule, check_webhook};
use fanout_shared::watch::schedule::{first_due, next_due};
use fanout_shared::wire::jobs::JobRequest;
use fanout_shared::wire::protocol::ApiError;
use fanout_shared::wire::watches::{
    DeliveryLog, TestRequest, TestSent, Watch, WatchCreated, WatchDetail, WatchList, WatchPatch, WatchPrices,
    WatchRequest, Webhook,
};
use url::Url;
use wasm_bindgen::JsCast;
use worker::{Env, Method, Request, Response, Result};

use crate::context::accept_within;
use crate::context::{Settings, answer, authorize, json_response};
use crate::objects::alerts::test_send;
use crate::objects::scheduler::{arm, start_run, still_running};
use crate::platform::clock::unix_ms;
use crate::store::history::{Store, new_run_id};
use crate::store::watches::StoredWatch;

/// Runs a watch's page lists, newest first.
const RUNS_SHOWN: u32 = 100;
/// Delivery attempts shown.
const DELIVERIES_SHOWN: u32 = 200;
/// Products a price chart draws at most.
const SERIES_SHOWN: usize = 200;

const EXAMPLE: &str = r#"{"job": {"urls": ["https://…"]}, "schedule": {"every_minutes": 60}, "rules": [{"kind": "price_drop", "percent": 10}], "webhook": {"url": "https://…"}, "channels": [{"kind": "slack", "url": "https://hooks.slack.com/services/…"}]}"#;

fn no_history() -> ApiError {
    ApiError::new(503, "history_unavailable", "this deployment has no D1 database (DB), which watches need")
}

fn d1(e: String) -> ApiError {
    ApiError::new(500, "history_error", e)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "internal", e.to_string())
}

fn not_found() -> ApiError {
    ApiError::new(404, "watch_not_found", "no watch with this id (it may have been deleted)")
}

/// 32 random bytes from the runtime's CSPRNG, as hex: a webhook secret.
fn new_secret() -> std::result::Result<String, ApiError> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let crypto = global.crypto().map_err(|_| internal("no crypto.getRandomValues"))?;
    let mut bytes = [0u8; 32];
    crypto.get_random_values_with_u8_array(&mut bytes).map_err(|_| internal("crypto.getRandomValues failed"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A job request given as JSON, read and checked as a watch's job.
fn job_from(
    value: serde_json::Value,
    settings: &Settings,
    own_origin: &Url,
) -> std::result::Result<JobRequest, ApiError> {
    let limits = job_limits(&settings.limits, settings.max_job_request_bytes);
    let job = read_job(value).map_err(|e| ApiError { message: format!("job: {}", e.message), ..e })?;
    check_job(&job, &limits, Some(own_origin))?;
    Ok(JobRequest { run: job.run, sitemap: job.sitemap })
}

/// Parse `body` as `T` after `job` has been read strictly on its own: the
/// watch's fields refuse unknown ones, and so does its job.
fn read_with_job<T: serde::de::DeserializeOwned>(
    mut body: serde_json::Value,
    job: Option<&JobRequest>,
) -> std::result::Result<T, ApiError> {
    let malformed =
        |e: String| ApiError::refused("malformed_json", format!("the body is not a watch: {e}. Expected {EXAMPLE}"));
    if let (Some(obj), Some(job)) = (body.as_object_mut(), job) {
        obj.insert("job".into(), serde_json::to_value(job).map_err(internal)?);
    }
    serde_json::from_value(body).map_err(|e| malformed(e.to_string()))
}

/// Route `/api/v1/watches…`.
pub async fn route(req: Request, env: &Env, settings: &Settings, path: &str) -> Result<Response> {
    answer(route_inner(req, env, settings, path).await)
}

async fn route_inner(
    mut req: Request,
    env: &Env,
    settings: &Settings,
    path: &str,
) -> std::result::Result<Response, ApiError> {
    let rest = path.trim_start_matches("/api/v1/watches").trim_start_matches('/');
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let method = req.method();
    authorize(&req, settings)?;
    let store = Store::open(env, settings).ok_or_else(no_history)?;
    // Any touch of the watches makes sure the scheduler has its alarm (one
    // lost across a restart is set again); a change of due time moves it.
    if !matches!(method, Method::Post | Method::Patch) {
        arm(env, settings, None).await;
    }
    match (method.clone(), parts.as_slice()) {
        (Method::Post, []) => create(&mut req, env, settings, &store).await,
        (Method::Get, []) => {
            let url = req.url().map_err(internal)?;
            let (limit, offset) = parse_page(url.query().unwrap_or(""))?;
            let (watches, total) = store.watches(limit, offset).await.map_err(d1)?;
            let watches = watches.into_iter().map(|w| w.watch).collect();
            json_response(200, &WatchList { watches, total, limit, offset }).map_err(internal)
        }
        (method, [id, tail @ ..]) => {
            let id = check_run_id(id).map_err(|_| {
                ApiError::refused(
                    "invalid_watch_id",
                    format!("{id:?} is not a watch id (1 to 64 letters, digits, '-' or '_')"),
                )
            })?;
            match (method, tail) {
                (Method::Get, []) => {
                    let w = store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    let runs = store.watch_runs(id, RUNS_SHOWN).await.map_err(d1)?;
                    json_response(200, &WatchDetail { watch: w.watch, runs }).map_err(internal)
                }
                (Method::Patch, []) => patch(&mut req, env, settings, &store, id).await,
                (Method::Delete, []) => {
                    store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    store.delete_watch(id).await.map_err(d1)?;
                    json_response(200, &serde_json::json!({"deleted": true})).map_err(internal)
                }
                (Method::Post, ["run"]) => {
                    let w = store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    if let Some(busy) = still_running(&store, &w).await? {
                        return Err(ApiError::new(
                            409,
                            "watch_busy",
                            format!("its previous run, job {busy}, is still going; cancel it or wait"),
                        ));
                    }
                    // A manual run leaves the schedule as it was.
                    let created = start_run(env, settings, &store, &w, "manual", w.watch.next_run_at).await?;
                    json_response(201, &created).map_err(internal)
                }
                (Method::Get, ["deliveries"]) => {
                    store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    let deliveries = store.deliveries(id, DELIVERIES_SHOWN).await.map_err(d1)?;
                    json_response(200, &DeliveryLog { deliveries }).map_err(internal)
                }
                (Method::Post, ["test"]) => {
                    let w = store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    let posted = accept_within(&mut req, settings, settings.limits.max_request_bytes).await?;
                    let t: TestRequest = if posted.body.iter().all(u8::is_ascii_whitespace) {
                        TestRequest::default()
                    } else {
                        decode_value(&posted.body, "a test request", r#"{"channel": "slack"} or nothing"#)?
                    };
                    let has = |c: &str| {
                        (c == "webhook" && w.watch.webhook_url.is_some())
                            || w.watch.channels.iter().any(|x| x.kind.as_str() == c)
                    };
                    if let Some(c) = t.channel.as_deref().filter(|c| !matches!(*c, "webhook" | "slack" | "discord")) {
                        return Err(ApiError::refused(
                            "invalid_channel",
                            format!("{c:?} is not a channel: webhook, slack or discord"),
                        ));
                    }
                    // A well-formed request this watch cannot serve as it
                    // stands: 409 until the channel is set.
                    if let Some(c) = t.channel.as_deref().filter(|c| !has(c)) {
                        return Err(ApiError::new(
                            409,
                            "channel_not_set",
                            format!("this watch has no {c} channel; add it with PATCH first"),
                        ));
                    }
                    if w.watch.webhook_url.is_none() && w.watch.channels.is_empty() {
                        return Err(ApiError::new(
                            409,
                            "channel_not_set",
                            "this watch has no webhook and no channel to send a test to",
                        ));
                    }
                    let mut rng = SplitMix64::new((js_sys::Math::random() * 9_007_199_254_740_992.0) as u64);
                    let attempts = test_send(env, settings, &w, t.channel.as_deref(), &mut rng).await.map_err(d1)?;
                    json_response(200, &TestSent { attempts }).map_err(internal)
                }
                (Method::Get, ["prices"]) => {
                    store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
                    let series = store.watch_prices(id, SERIES_SHOWN).await.map_err(d1)?;
                    json_response(200, &WatchPrices { series }).map_err(internal)
                }
                (method, [] | ["run" | "test" | "deliveries" | "prices"]) => {
                    Err(ApiError::method_not_allowed(&method, path))
                }
                _ => Err(ApiError::new(404, "not_found", format!("no API endpoint at {path}"))),
            }
        }
        (method, []) => Err(ApiError::method_not_allowed(&method, path)),
    }
}

/// The webhook checked, its secret given or made.
fn webhook(w: &Webhook, settings: &Settings) -> std::result::Result<(String, String), ApiError> {
    check_webhook(w, &TargetPolicy::from_limits(&settings.limits))?;
    let secret = match &w.secret {
        Some(s) => s.clone(),
        None => new_secret()?,
    };
    Ok((w.url.clone(), secret))
}

/// `POST /api/v1/watches`.
async fn create(
    req: &mut Request,
    env: &Env,
    settings: &Settings,
    store: &Store,
) -> std::result::Result<Response, ApiError> {
    let posted = accept_within(req, settings, settings.max_job_request_bytes).await?;
    let limits = job_limits(&settings.limits, settings.max_job_request_bytes);
    let mut body: serde_json::Value =
        decode_json(posted.content_type.as_deref(), &posted.body, &limits, "a watch", EXAMPLE)?;
    let job_value = body.as_object_mut().and_then(|o| o.remove("job")).ok_or_else(|| {
        ApiError::refused("malformed_json", format!("a watch needs `job`: what to fetch. Expected {EXAMPLE}"))
    })?;
    let job = job_from(job_value, settings, &posted.own_origin)?;
    let mut w: WatchRequest = read_with_job(body, Some(&job))?;
    check_name(w.name.as_deref())?;
    check_schedule(&w.schedule, settings.limits.min_watch_minutes)?;
    check_rules(&mut w.rules)?;
    let hook = w.webhook.as_ref().map(|h| webhook(h, settings)).transpose()?;
    check_channels(&w.channels, &TargetPolicy::from_limits(&settings.limits))?;
    let count = store.count_watches().await.map_err(d1)?;
    if count >= u64::from(settings.limits.max_watches) {
        return Err(ApiError::new(
            429,
            "too_many_watches",
            format!(
                "{count} watches exist; the limit is {} (MAX_WATCHES). Delete one first",
                settings.limits.max_watches
            ),
        ));
    }
    let now = unix_ms();
    let id = new_run_id().replacen('r', "w", 1);
    let stored = StoredWatch {
        watch: Watch {
            watch_id: id.clone(),
            name: w.name,
            job: w.job,
            schedule: w.schedule,
            rules: w.rules,
            webhook_url: hook.as_ref().map(|(u, _)| u.clone()),
            channels: w.channels,
            created_at: now,
            updated_at: now,
            next_run_at: first_due(&id, now, &w.schedule),
            runs: 0,
            last_run: None,
            last_skip: None,
        },
        own_origin: posted.own_origin.origin().ascii_serialization(),
        secret: hook.as_ref().map(|(_, s)| s.clone()),
        last_job_id: None,
    };
    store.put_watch(&stored).await.map_err(d1)?;
    arm(env, settings, stored.watch.next_run_at).await;
    let secret = stored.secret.clone();
    json_response(201, &WatchCreated { watch: stored.watch, secret }).map_err(internal)
}

/// `PATCH /api/v1/watches/{id}`.
async fn patch(
    req: &mut Request,
    env: &Env,
    settings: &Settings,
    store: &Store,
    id: &str,
) -> std::result::Result<Response, ApiError> {
    let mut w = store.watch(id).await.map_err(d1)?.ok_or_else(not_found)?;
    let posted = accept_within(req, settings, settings.max_job_request_bytes).await?;
    let limits = job_limits(&settings.limits, settings.max_job_request_bytes);
    let mut body: serde_json::Value =
        decode_json(posted.content_type.as_deref(), &posted.body, &limits, "a watch change", EXAMPLE)?;
    // `"job": null` leaves the job as it is, as leaving it out does.
    let job_value = body.as_object_mut().and_then(|o| o.remove("job")).filter(|v| !v.is_null());
    let own_origin = Url::parse(&w.own_origin).unwrap_or(posted.own_origin.clone());
    let job = job_value.map(|v| job_from(v, settings, &own_origin)).transpose()?;
    let mut p: WatchPatch = read_with_job(body, job.as_ref())?;
    let now = unix_ms();
    if let Some(name) = p.name.take() {
        check_name(Some(&name))?;
        w.watch.name = Some(name).filter(|n| !n.trim().is_empty());
    }
    if let Some(job) = p.job.take() {
        w.watch.job = job;
    }
    if let Some(schedule) = p.schedule {
        check_schedule(&schedule, settings.limits.min_watch_minutes)?;
        w.watch.schedule = schedule;
        w.watch.next_run_at = if w.watch.runs == 0 {
            first_due(id, now, &schedule)
        } else {
            next_due(id, w.watch.created_at, &schedule, now)
        };
    }
    if let Some(mut rules) = p.rules.take() {
        check_rules(&mut rules)?;
        w.watch.rules = rules;
    }
    if let Some(channels) = p.channels.take() {
        check_channels(&channels, &TargetPolicy::from_limits(&settings.limits))?;
        w.watch.channels = channels;
    }
    let mut shown_secret = None;
    match p.webhook.take() {
        Some(Some(h)) => {
            let (url, secret) = webhook(&h, settings)?;
            w.watch.webhook_url = Some(url);
            w.secret = Some(secret.clone());
            shown_secret = Some(secret);
        }
        Some(None) => {
            w.watch.webhook_url = None;
            w.secret = None;
        }
        None => {}
    }
    w.watch.updated_at = now;
    store.put_watch(&w).await.map_err(d1)?;
    arm(env, settings, w.watch.next_run_at).await;
    json_response(200, &WatchCreated { watch: w.watch, secret: shown_secret }).map_err(internal)
}
