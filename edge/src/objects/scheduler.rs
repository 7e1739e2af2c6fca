//! The watches' scheduler: one Durable Object (named `watches`) whose alarm
//! is kept at the earliest due time of all watches. When it fires, the
//! object starts every due watch's run (as a background job that knows its
//! watch), skips those whose previous run is still going, records when each
//! is due next, and sets its alarm again. Alarms fire under `wrangler dev`
//! as deployed, so `make dev` runs watches on time with no Cron Trigger.
//!
//! The rules are `fanout_shared::watch::schedule`'s. A slot is claimed
//! before its run starts: its new due time is written only where the stored
//! one is still the one read (`Store::claim_slot`), so nothing can start a
//! slot twice, whoever fires.
//!
//! Kept set defensively: every request touching the watches asks the object
//! to [`arm`] (with the due time it just wrote, if any), and an object that
//! has no alarm (lost across a restart) looks up the earliest due time in
//! D1 and sets it. The Cron Trigger, deployed, does the same every minute as
//! a backstop: it arms, it never starts a run.

// The `durable_object` macro adds the JS glue's methods, undocumented.
#![allow(missing_docs, reason = "the durable_object macro's generated methods carry no docs")]

use fanout_shared::input::job::{JobBody, read_job};
use fanout_shared::watch::schedule::{SlotAction, alarm_at, alarm_covers, handle_due};
use fanout_shared::wire::jobs::{JobCreated, JobRequest, JobState};
use fanout_shared::wire::protocol::ApiError;
use futures::StreamExt;
use url::Url;
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, Result, State, console_error, durable_object,
};

use crate::context::{Settings, answer, json_response};
use crate::platform::clock::unix_ms;
use crate::routes::jobs;
use crate::store::history::Store;
use crate::store::watches::StoredWatch;

/// Due watches read from D1 at a time.
const DUE_PER_READ: u32 = 100;
/// Reads one firing makes at most (100,000 watches).
const MAX_READS: u32 = 1000;
/// When a firing failed (D1 unreachable, say), the alarm tries again after this.
const RETRY_MS: u64 = 30_000;
/// The one scheduler object's name.
const NAME: &str = "watches";

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "internal", e.to_string())
}

fn d1(e: String) -> ApiError {
    ApiError::new(500, "history_error", e)
}

/// Ask the scheduler to keep an alarm for a watch due at `at` (Unix ms), or,
/// with `None`, to make sure it has one if any watch is due ever. A failure
/// is logged, not returned: the watch is saved, and the next touch (or the
/// backstop) arms again.
pub async fn arm(env: &Env, settings: &Settings, at: Option<u64>) {
    let ask = async {
        let stub = env.durable_object("SCHEDULER")?.get_by_name(NAME)?;
        let path = match at {
            Some(at) => format!("https://scheduler/arm?at={at}"),
            None => "https://scheduler/arm".to_owned(),
        };
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        let req = Request::new_with_init(&path, &init)?;
        // A Durable Object request: one of the invocation's connections.
        let _held = settings.gate.acquire().await;
        stub.fetch_with_request(req).await
    };
    match ask.await {
        Ok(r) if r.status_code() == 200 => {}
        Ok(r) => console_error!("the watches' scheduler answered {} to arm", r.status_code()),
        Err(e) => console_error!("the watches' scheduler is unreachable: {e}"),
    }
}

/// A stored job request, as a job body to start.
/// A watch run revalidates its URLs (conditional re-fetch), except a
/// crawl's, whose unchanged pages would yield no links to follow.
fn job_body(job: &JobRequest) -> std::result::Result<JobBody, ApiError> {
    let mut body = read_job(serde_json::to_value(job).map_err(internal)?)?;
    if body.run.crawl.is_none() {
        body.run.revalidate = Some(true);
    }
    Ok(body)
}

/// The watch's previous job, when it is still queued or running.
pub async fn still_running(store: &Store, w: &StoredWatch) -> std::result::Result<Option<String>, ApiError> {
    let Some(last) = &w.last_job_id else { return Ok(None) };
    let state = store.job_state(last).await.map_err(d1)?;
    Ok(matches!(state, Some(JobState::Queued | JobState::Running)).then(|| last.clone()))
}

/// Start a run of `w` now, as a job that knows its watch (`trigger`:
/// `schedule` or `manual`), and record it with the watch's next due time.
pub async fn start_run(
    env: &Env,
    settings: &Settings,
    store: &Store,
    w: &StoredWatch,
    trigger: &str,
    next_run_at: Option<u64>,
) -> std::result::Result<JobCreated, ApiError> {
    let own_origin = Url::parse(&w.own_origin).map_err(internal)?;
    let body = job_body(&w.watch.job)?;
    let id = &w.watch.watch_id;
    let created = jobs::start(env, settings, body, &own_origin, Some(id.clone())).await?;
    store.record_start(id, &created.job_id, unix_ms(), trigger, next_run_at).await.map_err(d1)?;
    Ok(created)
}

/// What one firing did.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tick {
    /// When it fired (Unix ms).
    pub at: u64,
    /// Watches due.
    pub due: u32,
    /// Runs started.
    pub started: u32,
    /// Due slots skipped (the previous run still going, or the run could not start).
    pub skipped: u32,
    /// Slots another firing had claimed first.
    pub claimed_elsewhere: u32,
    /// How long it took (ms).
    pub ms: u64,
}

/// Handle watch `w`'s due slot at `now`: claim it, then start or skip it.
async fn handle(env: &Env, settings: &Settings, store: &Store, w: StoredWatch, now: u64, t: &std::cell::RefCell<Tick>) {
    let id = w.watch.watch_id.clone();
    let running = match still_running(store, &w).await {
        Ok(r) => r,
        Err(e) => {
            // Left due: the next firing tries again.
            console_error!("watch {id}: {}", e.message);
            return;
        }
    };
    let (action, next) = handle_due(&id, w.watch.created_at, &w.watch.schedule, now, running.as_deref());
    match store.claim_slot(&id, w.watch.next_run_at, next).await {
        Ok(true) => {}
        Ok(false) => {
            t.borrow_mut().claimed_elsewhere += 1;
            return;
        }
        Err(e) => {
            console_error!("watch {id}: claiming its slot failed: {e}");
            return;
        }
    }
    let reason = match action {
        SlotAction::Skip { reason } => reason,
        SlotAction::Start => match start_run(env, settings, store, &w, "schedule", next).await {
            Ok(_) => {
                t.borrow_mut().started += 1;
                return;
            }
            Err(e) => format!("the run could not start: {}", e.message),
        },
    };
    t.borrow_mut().skipped += 1;
    if let Err(e) = store.record_skip(&id, now, &reason, next).await {
        console_error!("watch {id}: recording a skip failed: {e}");
    }
}

/// Start what is due at `now`, as many at once as the invocation has
/// connections.
async fn tick(env: &Env, settings: &Settings, store: &Store, now: u64) -> std::result::Result<Tick, ApiError> {
    let t = std::cell::RefCell::new(Tick { at: now, ..Tick::default() });
    let width = settings.limits.connections_per_invocation.max(1) as usize;
    for _ in 0..MAX_READS {
        let due = store.due_watches(now, DUE_PER_READ).await.map_err(d1)?;
        let n = due.len();
        t.borrow_mut().due += u32::try_from(n).unwrap_or(u32::MAX);
        futures::stream::iter(due).for_each_concurrent(width, |w| handle(env, settings, store, w, now, &t)).await;
        if n < DUE_PER_READ as usize {
            break;
        }
    }
    let mut t = t.into_inner();
    t.ms = unix_ms().saturating_sub(now);
    Ok(t)
}

/// The watches' scheduler. See the module docs.
#[durable_object]
pub struct SchedulerObject {
    state: State,
    env: Env,
}

impl SchedulerObject {
    /// Set the alarm for `at`, unless the one set fires no later. With
    /// `None`, only when there is none: then at the earliest due time in D1.
    async fn arm(&self, at: Option<u64>) -> std::result::Result<Option<u64>, ApiError> {
        let storage = self.state.storage();
        let current = storage.get_alarm().await.map_err(internal)?.and_then(|a| u64::try_from(a).ok());
        let now = unix_ms();
        let wanted = match at {
            Some(at) => Some(at),
            None if current.is_some() => return Ok(current),
            None => {
                let settings = Settings::from_env(&self.env);
                let store = Store::open(&self.env, &settings).ok_or_else(|| internal("no D1 database (DB)"))?;
                store.earliest_due().await.map_err(d1)?
            }
        };
        if alarm_covers(current, wanted) {
            return Ok(current);
        }
        let Some(at) = alarm_at(wanted, now) else { return Ok(current) };
        self.set(at, now).await?;
        Ok(Some(at))
    }

    async fn set(&self, at: u64, now: u64) -> std::result::Result<(), ApiError> {
        let offset = i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX).max(1);
        self.state.storage().set_alarm(offset).await.map_err(internal)
    }

    async fn fire(&self) -> std::result::Result<(), ApiError> {
        let settings = Settings::from_env(&self.env);
        let store = Store::open(&self.env, &settings).ok_or_else(|| internal("no D1 database (DB)"))?;
        let now = unix_ms();
        let t = tick(&self.env, &settings, &store, now).await?;
        worker::console_log!(
            "watches at {now}: {} due, {} started, {} skipped, {} claimed elsewhere, in {} ms",
            t.due,
            t.started,
            t.skipped,
            t.claimed_elsewhere,
            t.ms
        );
        let _ = self.state.storage().put("last_tick", &t).await;
        // The next alarm: the earliest due time now (later than `now` for
        // every slot just handled).
        let earliest = store.earliest_due().await.map_err(d1)?;
        if let Some(at) = alarm_at(earliest, unix_ms()) {
            self.set(at, unix_ms()).await?;
        }
        Ok(())
    }
}

impl DurableObject for SchedulerObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        answer(match url.path() {
            "/arm" => {
                let at = url.query_pairs().find(|(k, _)| k == "at").and_then(|(_, v)| v.parse::<u64>().ok());
                match self.arm(at).await {
                    Ok(alarm) => json_response(200, &serde_json::json!({ "alarm_at": alarm })).map_err(internal),
                    Err(e) => Err(e),
                }
            }
            "/status" => {
                let alarm = self.state.storage().get_alarm().await.ok().flatten();
                let last: Option<Tick> = self.state.storage().get("last_tick").await.ok().flatten();
                json_response(200, &serde_json::json!({ "alarm_at": alarm, "last_tick": last })).map_err(internal)
            }
            other => Err(ApiError::new(404, "not_found", format!("no scheduler route {other}"))),
        })
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.fire().await {
            console_error!("watches' scheduler: {}; trying again in {RETRY_MS} ms", e.message);
            let now = unix_ms();
            if let Err(e) = self.set(now + RETRY_MS, now).await {
                console_error!("watches' scheduler: setting its alarm failed: {}", e.message);
            }
        }
        Response::ok("ok")
    }
}
