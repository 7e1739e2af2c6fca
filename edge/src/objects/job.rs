//! The Durable Object of one background job: the one writer of its state.
//!
//! It holds a `fanout_shared::jobs::machine::JobMachine` over its own SQLite
//! storage ([`SqlStore`]) and is its shell: it sends the batches the job
//! hands out as queue messages, answers consumers' claims and reports,
//! writes results to the run history (D1) and the job list, keeps an alarm
//! at the next lease's end (so a job whose consumers vanished, or whose
//! queue messages a crash lost, goes on by itself), and streams the job's
//! event log to clients from any `seq`.
//!
//! Routes (from the edge's `/api/v1/jobs` handlers, never from outside):
//! `POST /init`, `POST /claim?batch=`, `GET /alive?batch=`, `POST /report`,
//! `GET /status`, `GET /events?after=`, `POST /cancel`, `POST /delete`.

// The `durable_object` macro adds the JS glue's methods to `JobObject`,
// undocumented.
#![allow(missing_docs, reason = "the durable_object macro's generated methods carry no docs")]

use std::cell::RefCell;
use std::collections::HashSet;

use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::jobs::machine::JobMachine;
use fanout_shared::jobs::protocol::{BatchMessage, BatchReport, LaneWake};
use fanout_shared::jobs::store::{BatchRow, Candidate, JobMeta, JobSpec, JobStore, RobotsRow, UrlRow, UrlState};
use fanout_shared::watch::delivery::Delivery;
use fanout_shared::wire::jobs::JobLine;
use fanout_shared::wire::protocol::{ApiError, Event, HEARTBEAT_MS};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State, console_error, durable_object,
};

use crate::context::ndjson_response;
use crate::context::{Settings, answer, json_response};
use crate::objects::alerts;
use crate::platform::clock::{Sleep, unix_ms};
use crate::store::history::Store;

/// The job's tables, made on first use.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS urls (id INTEGER PRIMARY KEY, url TEXT NOT NULL, host TEXT NOT NULL,
  depth INTEGER NOT NULL, state INTEGER NOT NULL, batch INTEGER NOT NULL, handouts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS urls_pending ON urls (state, id);
CREATE INDEX IF NOT EXISTS urls_batch ON urls (batch, state);
CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, lease_until INTEGER NOT NULL, robots TEXT NOT NULL,
  claimed INTEGER NOT NULL, closed INTEGER NOT NULL, grant_json TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS batches_open ON batches (closed, lease_until);
CREATE TABLE IF NOT EXISTS seen (k TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS robots (origin TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS waiting (n INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS waiting_origin ON waiting (origin);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
";

/// Rows inserted per statement (one JSON parameter unpacked by `json_each`).
const ROWS_PER_STATEMENT: usize = 1000;

/// A job's state in its Durable Object's SQLite. Errors are logged: the
/// trait is infallible, and a failed write shows as work handed out again.
pub struct SqlStore {
    sql: SqlStorage,
}

fn log_err<T>(what: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            console_error!("job storage, {what}: {e}");
            None
        }
    }
}

fn s(v: impl Into<String>) -> SqlStorageValue {
    SqlStorageValue::String(v.into())
}

fn n(v: impl Into<i64>) -> SqlStorageValue {
    SqlStorageValue::Integer(v.into())
}

#[derive(Deserialize)]
struct UrlSql {
    id: u32,
    url: String,
    host: String,
    depth: u32,
    state: u8,
    batch: u64,
    handouts: u32,
}

impl From<UrlSql> for UrlRow {
    fn from(r: UrlSql) -> Self {
        let state = match r.state {
            0 => UrlState::Pending,
            1 => UrlState::Leased(r.batch),
            _ => UrlState::Final,
        };
        UrlRow { id: r.id, url: r.url, host: r.host, depth: r.depth, state, handouts: r.handouts }
    }
}

#[derive(Deserialize)]
struct BatchSql {
    id: u64,
    lease_until: u64,
    robots: String,
    claimed: u8,
    closed: u8,
    grant_json: String,
}

impl From<BatchSql> for BatchRow {
    fn from(b: BatchSql) -> Self {
        BatchRow {
            id: b.id,
            lease_until: b.lease_until,
            robots: serde_json::from_str(&b.robots).unwrap_or_default(),
            claimed: b.claimed != 0,
            closed: b.closed != 0,
            grant: serde_json::from_str(&b.grant_json).unwrap_or_default(),
        }
    }
}

const BATCH_COLUMNS: &str = "id, lease_until, robots, claimed, closed, grant_json";

#[derive(Deserialize)]
struct Text {
    v: String,
}

#[derive(Deserialize)]
struct Seq {
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct Line {
    seq: u64,
    line: String,
}

#[derive(Serialize)]
struct UrlJson<'a> {
    id: u32,
    url: &'a str,
    host: &'a str,
    depth: u32,
    state: u8,
    batch: u64,
    handouts: u32,
}

impl SqlStore {
    /// The store of `state`'s storage, its tables made.
    pub fn open(state: &State) -> Self {
        let sql = state.storage().sql();
        for stmt in SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            log_err("schema", sql.exec(stmt, None));
        }
        // A job made before batches carried grants: its table gets the
        // column (an error here means it has it already).
        let _ = sql.exec("ALTER TABLE batches ADD COLUMN grant_json TEXT NOT NULL DEFAULT '{}'", None);
        Self { sql }
    }

    fn rows<T: for<'de> Deserialize<'de>>(&self, what: &str, q: &str, args: Vec<SqlStorageValue>) -> Vec<T> {
        log_err(what, self.sql.exec(q, Some(args)).and_then(|c| c.to_array::<T>())).unwrap_or_default()
    }

    fn run(&self, what: &str, q: &str, args: Vec<SqlStorageValue>) {
        log_err(what, self.sql.exec(q, Some(args)));
    }

    /// A value the shell keeps beside the job (the watch's evaluation, a
    /// delivery between attempts), in the `meta` table.
    fn kv_get(&self, k: &str) -> Option<String> {
        let rows: Vec<Text> = self.rows("meta", "SELECT v FROM meta WHERE k = ?", vec![s(k)]);
        rows.into_iter().next().map(|r| r.v)
    }

    fn kv_put(&self, k: &str, v: &str) {
        self.run("meta", "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", vec![s(k), s(v)]);
    }

    fn kv_del(&self, k: &str) {
        self.run("meta", "DELETE FROM meta WHERE k = ?", vec![s(k)]);
    }

    /// Every table emptied (the job deleted).
    pub fn wipe(&self) {
        for t in ["meta", "urls", "batches", "seen", "robots", "waiting", "events"] {
            self.run("wipe", &format!("DELETE FROM {t}"), Vec::new());
        }
    }
}

const URL_COLUMNS: &str = "id, url, host, depth, state, batch, handouts";

impl JobStore for SqlStore {
    fn load_meta(&self) -> Option<JobMeta> {
        let rows: Vec<Text> = self.rows("meta", "SELECT v FROM meta WHERE k = 'job'", Vec::new());
        rows.first().and_then(|r| serde_json::from_str(&r.v).ok())
    }

    fn save_meta(&mut self, meta: &JobMeta) {
        let json = serde_json::to_string(meta).unwrap_or_default();
        self.run("meta", "INSERT OR REPLACE INTO meta (k, v) VALUES ('job', ?)", vec![s(json)]);
    }

    fn put_urls(&mut self, rows: &[UrlRow]) {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let json: Vec<UrlJson> = chunk
                .iter()
                .map(|r| {
                    let (state, batch) = match r.state {
                        UrlState::Pending => (0, 0),
                        UrlState::Leased(b) => (1, b),
                        UrlState::Final => (2, 0),
                    };
                    UrlJson { id: r.id, url: &r.url, host: &r.host, depth: r.depth, state, batch, handouts: r.handouts }
                })
                .collect();
            let f = |k: &str| format!("json_extract(value, '$.{k}')");
            let q = format!(
                "INSERT OR REPLACE INTO urls ({URL_COLUMNS}) SELECT {}, {}, {}, {}, {}, {}, {} FROM json_each(?)",
                f("id"),
                f("url"),
                f("host"),
                f("depth"),
                f("state"),
                f("batch"),
                f("handouts")
            );
            self.run("urls", &q, vec![s(serde_json::to_string(&json).unwrap_or_default())]);
        }
    }

    fn url(&self, id: u32) -> Option<UrlRow> {
        let rows: Vec<UrlSql> = self.rows("url", &format!("SELECT {URL_COLUMNS} FROM urls WHERE id = ?"), vec![n(id)]);
        rows.into_iter().next().map(UrlRow::from)
    }

    fn pending(&self, skip: &HashSet<String>, limit: usize) -> Vec<UrlRow> {
        let skip: Vec<&String> = skip.iter().collect();
        let rows: Vec<UrlSql> = self.rows(
            "pending",
            &format!(
                "SELECT {URL_COLUMNS} FROM urls WHERE state = 0 AND host NOT IN (SELECT value FROM json_each(?)) \
                 ORDER BY id LIMIT ?"
            ),
            vec![s(serde_json::to_string(&skip).unwrap_or_default()), n(i64::try_from(limit).unwrap_or(i64::MAX))],
        );
        rows.into_iter().map(UrlRow::from).collect()
    }

    fn leased_by(&self, batch: u64) -> Vec<UrlRow> {
        let rows: Vec<UrlSql> = self.rows(
            "leased",
            &format!("SELECT {URL_COLUMNS} FROM urls WHERE batch = ? AND state = 1"),
            vec![n(i64::try_from(batch).unwrap_or(0))],
        );
        rows.into_iter().map(UrlRow::from).collect()
    }

    fn unfinished(&self) -> Vec<UrlRow> {
        let rows: Vec<UrlSql> =
            self.rows("unfinished", &format!("SELECT {URL_COLUMNS} FROM urls WHERE state < 2 ORDER BY id"), Vec::new());
        rows.into_iter().map(UrlRow::from).collect()
    }

    fn open_batches(&self) -> Vec<BatchRow> {
        let rows: Vec<BatchSql> =
            self.rows("open batches", &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE closed = 0"), Vec::new());
        rows.into_iter().map(BatchRow::from).collect()
    }

    fn put_batch(&mut self, b: &BatchRow) {
        self.run(
            "batch",
            &format!("INSERT OR REPLACE INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
            vec![
                n(i64::try_from(b.id).unwrap_or(0)),
                n(i64::try_from(b.lease_until).unwrap_or(i64::MAX)),
                s(serde_json::to_string(&b.robots).unwrap_or_default()),
                n(i64::from(b.claimed)),
                n(i64::from(b.closed)),
                s(serde_json::to_string(&b.grant).unwrap_or_default()),
            ],
        );
    }

    fn batch(&self, id: u64) -> Option<BatchRow> {
        let rows: Vec<BatchSql> = self.rows(
            "batch",
            &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?"),
            vec![n(i64::try_from(id).unwrap_or(0))],
        );
        rows.into_iter().next().map(BatchRow::from)
    }

    fn expired(&self, now: u64) -> Vec<BatchRow> {
        let rows: Vec<BatchSql> = self.rows(
            "expired",
            &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE closed = 0 AND lease_until <= ?"),
            vec![n(i64::try_from(now).unwrap_or(i64::MAX))],
        );
        rows.into_iter().map(BatchRow::from).collect()
    }

    fn next_lease_end(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct M {
            m: Option<u64>,
        }
        let rows: Vec<M> =
            self.rows("lease end", "SELECT min(lease_until) AS m FROM batches WHERE closed = 0", Vec::new());
        rows.into_iter().next().and_then(|r| r.m)
    }

    fn seen_insert(&mut self, key: &str) -> bool {
        log_err("seen", self.sql.exec("INSERT OR IGNORE INTO seen (k) VALUES (?)", Some(vec![s(key)])))
            .is_some_and(|c| c.rows_written() > 0)
    }

    fn put_robots(&mut self, origin: &str, row: &RobotsRow) {
        let json = serde_json::to_string(row).unwrap_or_default();
        self.run("robots", "INSERT OR REPLACE INTO robots (origin, row) VALUES (?, ?)", vec![s(origin), s(json)]);
    }

    fn robots(&self, origin: &str) -> Option<RobotsRow> {
        let rows: Vec<Text> = self.rows("robots", "SELECT row AS v FROM robots WHERE origin = ?", vec![s(origin)]);
        rows.first().and_then(|r| serde_json::from_str(&r.v).ok())
    }

    fn robots_needed(&self) -> Vec<String> {
        self.robots_where(|r| matches!(r, RobotsRow::Needed(_)))
    }

    fn robots_pending(&self) -> Vec<String> {
        self.robots_where(|r| !matches!(r, RobotsRow::Known(_)))
    }

    fn push_waiting(&mut self, c: &Candidate) {
        let json = serde_json::to_string(c).unwrap_or_default();
        self.run("waiting", "INSERT INTO waiting (origin, row) VALUES (?, ?)", vec![s(&c.origin), s(json)]);
    }

    fn take_waiting(&mut self, origin: &str) -> Vec<Candidate> {
        let rows: Vec<Text> =
            self.rows("waiting", "SELECT row AS v FROM waiting WHERE origin = ? ORDER BY n", vec![s(origin)]);
        self.run("waiting", "DELETE FROM waiting WHERE origin = ?", vec![s(origin)]);
        rows.iter().filter_map(|r| serde_json::from_str(&r.v).ok()).collect()
    }

    fn append_events(&mut self, events: &[Event]) -> u64 {
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let lines: Vec<String> = chunk.iter().map(|e| e.to_ndjson().trim_end().to_owned()).collect();
            self.run(
                "events",
                "INSERT INTO events (line) SELECT value FROM json_each(?)",
                vec![s(serde_json::to_string(&lines).unwrap_or_default())],
            );
        }
        self.last_seq()
    }

    fn events_after(&self, seq: u64, limit: usize) -> Vec<(u64, Event)> {
        let rows: Vec<Line> = self.rows(
            "events",
            "SELECT seq, line FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            vec![n(i64::try_from(seq).unwrap_or(i64::MAX)), n(i64::try_from(limit).unwrap_or(i64::MAX))],
        );
        rows.into_iter().filter_map(|l| serde_json::from_str(&l.line).ok().map(|e| (l.seq, e))).collect()
    }

    fn last_seq(&self) -> u64 {
        let rows: Vec<Seq> = self.rows("seq", "SELECT max(seq) AS seq FROM events", Vec::new());
        rows.into_iter().next().and_then(|r| r.seq).unwrap_or(0)
    }
}

impl SqlStore {
    fn robots_where(&self, keep: impl Fn(&RobotsRow) -> bool) -> Vec<String> {
        #[derive(Deserialize)]
        struct O {
            origin: String,
            row: String,
        }
        let rows: Vec<O> = self.rows("robots", "SELECT origin, row FROM robots", Vec::new());
        rows.into_iter()
            .filter(|o| serde_json::from_str::<RobotsRow>(&o.row).is_ok_and(|r| keep(&r)))
            .map(|o| o.origin)
            .collect()
    }

    /// Raw event lines after `seq`, as stored (a client's stream needs no
    /// parsing).
    fn lines_after(&self, seq: u64, limit: usize) -> Vec<(u64, String)> {
        let rows: Vec<Line> = self.rows(
            "events",
            "SELECT seq, line FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            vec![n(i64::try_from(seq).unwrap_or(i64::MAX)), n(i64::try_from(limit).unwrap_or(i64::MAX))],
        );
        rows.into_iter().map(|l| (l.seq, l.line)).collect()
    }

    /// Whether the job has ended: its log's last line (by its key, not a
    /// scan of the log) is the summary.
    fn has_summary(&self) -> bool {
        let rows: Vec<Line> = self.rows("events", "SELECT seq, line FROM events ORDER BY seq DESC LIMIT 1", Vec::new());
        rows.first().is_some_and(|l| is_summary(&l.line))
    }
}

/// Whether a stored event line is the job's `summary` (the last it logs).
fn is_summary(line: &str) -> bool {
    line.starts_with("{\"type\":\"summary\"")
}

/// Tell lane `lane`'s shard of job `job_id` (named after the job and the
/// lane, so the lane's work meets one object) to `/wake` (it asks the job
/// for batches in an alarm of its own, an invocation with its own
/// connections) or to `/stop` (the job was cancelled).
async fn tell_lane(
    env: &Env,
    settings: &Settings,
    job_id: &str,
    lane: u32,
    what: &str,
) -> std::result::Result<(), String> {
    let err = |e: worker::Error| e.to_string();
    let ns = env.durable_object("SHARD").map_err(err)?;
    let stub = ns.id_from_name(&format!("{job_id}/lane/{lane}")).map_err(err)?.get_stub().map_err(err)?;
    let body = serde_json::to_string(&LaneWake { job_id: job_id.to_owned(), lane }).map_err(|e| e.to_string())?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://shard{what}"), &init).map_err(err)?;
    let _held = settings.gate.acquire().await;
    let resp = stub.fetch_with_request(req).await.map_err(err)?;
    if resp.status_code() >= 300 {
        return Err(format!("the shard answered {}", resp.status_code()));
    }
    Ok(())
}

/// A handle on the set of working lanes, for a wake that failed.
struct AwakeHandle(std::rc::Weak<RefCell<HashSet<u32>>>);

impl AwakeHandle {
    fn remove(&self, lane: u32) {
        if let Some(set) = self.0.upgrade() {
            set.borrow_mut().remove(&lane);
        }
    }
}

/// What `POST /init` carries: the job's id, spec and URLs.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitJob {
    /// The job's id.
    pub id: String,
    /// What it does.
    pub spec: JobSpec,
    /// Its URLs (or a crawl's start pages).
    pub urls: Vec<String>,
}

/// The watch run's deliveries kept between attempts (one per channel; a job
/// made by an older version kept one, under `delivery`).
fn deliveries(kv: &SqlStore) -> Vec<Delivery> {
    if let Some(all) = kv.kv_get("deliveries").and_then(|d| serde_json::from_str::<Vec<Delivery>>(&d).ok()) {
        return all;
    }
    kv.kv_get("delivery").and_then(|d| serde_json::from_str::<Delivery>(&d).ok()).into_iter().collect()
}

/// One background job. See the module docs.
#[durable_object]
pub struct JobObject {
    state: State,
    env: Env,
    job: RefCell<Option<JobMachine<SqlStore>>>,
    /// When the job list in D1 was last brought up to date (Unix ms).
    listed_at: std::cell::Cell<u64>,
    /// Lanes whose shard is working (asking for batches); the others are
    /// woken when the job has a batch for them. Not kept in storage: after a
    /// restart every lane with work is woken again (a wake is idempotent).
    awake: std::rc::Rc<RefCell<HashSet<u32>>>,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::refused("malformed_json", e.to_string())
}

fn not_found() -> ApiError {
    ApiError::new(404, "job_not_found", "no job with this id")
}

impl JobObject {
    /// The job, loaded from storage on first use.
    fn with_job<T>(&self, f: impl FnOnce(&mut JobMachine<SqlStore>) -> T) -> Option<T> {
        let mut slot = self.job.borrow_mut();
        if slot.is_none() {
            *slot = JobMachine::load(SqlStore::open(&self.state));
        }
        slot.as_mut().map(f)
    }

    fn settings(&self) -> Settings {
        Settings::from_env(&self.env)
    }

    /// Everything after a change: send what the job hands out, keep the
    /// alarm, write results and the job list.
    async fn after_change(&self) {
        let now = unix_ms();
        let Some((lanes, alarm, results, status, id, created, options, watch)) = self.with_job(|job| {
            job.expire(now);
            job.dispatch(now);
            (
                job.lanes_waiting(),
                job.next_alarm(),
                job.take_results(),
                job.status(now),
                job.id().to_owned(),
                job.created_at(),
                serde_json::to_string(&job.spec().options).unwrap_or_default(),
                job.spec().watch_id.clone(),
            )
        }) else {
            return;
        };
        let mut retry_soon = false;
        let settings = self.settings();
        // Lanes with new work whose shard is not working are woken; a
        // working shard asks for its next batch by itself. The job waits on
        // no shard: under `wrangler dev` (workerd), while this object had a
        // request to another Durable Object out, requests from outside (a
        // client's status or events) were not delivered to it, and a job
        // that handed every batch to its shard kept its clients waiting for
        // seconds. A wake that fails is made again at the next change.
        let sleeping: Vec<u32> = {
            let mut awake = self.awake.borrow_mut();
            lanes.into_iter().filter(|l| awake.insert(*l)).collect()
        };
        for lane in sleeping {
            let (env, settings, job_id) = (self.env.clone(), settings.clone(), id.clone());
            let awake = AwakeHandle(std::rc::Rc::downgrade(&self.awake));
            self.state.wait_until(async move {
                if let Err(e) = tell_lane(&env, &settings, &job_id, lane, "/wake").await {
                    console_error!("job {job_id}: waking lane {lane} failed: {e}");
                    awake.remove(lane);
                }
            });
        }
        if let Some(store) = Store::open(&self.env, &settings) {
            if !results.is_empty()
                && let Err(e) = store.save_rows(&id, created, &options, &results).await
            {
                console_error!("job {id}: saving {} results failed: {e}", results.len());
            }
            if status.state.is_final()
                && let Err(e) = store.finish_chunk(&id, created, &options).await
            {
                console_error!("job {id}: finishing its run failed: {e}");
            }
            if status.state.is_final() || now >= self.listed_at.get() + 1000 {
                self.listed_at.set(now);
                if let Err(e) = store.put_job(&status).await {
                    console_error!("job {id}: updating the job list failed: {e}");
                }
            }
        }
        // A watch's run, finished: its rules evaluated once, and its
        // deliveries (one per channel) kept for the alarm to make.
        let kv = SqlStore::open(&self.state);
        if let Some(watch) = watch.filter(|_| status.state.is_final())
            && kv.kv_get("watch").is_none()
        {
            kv.kv_put("watch", "evaluating");
            match alerts::evaluate_run(&self.env, &settings, &watch, &id, &status, now).await {
                Ok(deliveries) => {
                    kv.kv_put("watch", "evaluated");
                    if !deliveries.is_empty() {
                        kv.kv_put("deliveries", &serde_json::to_string(&deliveries).unwrap_or_default());
                    }
                }
                Err(e) => {
                    console_error!("job {id}: evaluating watch {watch}'s rules failed: {e}");
                    kv.kv_del("watch");
                    retry_soon = true;
                }
            }
        }
        let delivery_at = deliveries(&kv).iter().filter_map(|d| d.next_at).min();
        let storage = self.state.storage();
        // A lost send is retried in a second; otherwise wake at the next
        // lease's end, or for the next delivery attempt.
        let wake = if retry_soon {
            Some(now + 1000)
        } else {
            match (alarm, delivery_at) {
                (Some(a), Some(d)) => Some(a.min(d)),
                (a, d) => a.or(d),
            }
        };
        let result = match wake {
            Some(at) => storage.set_alarm(i64::try_from(at.saturating_sub(now)).unwrap_or(1000).max(1)).await,
            None => storage.delete_alarm().await,
        };
        if let Err(e) = result {
            console_error!("job {id}: alarm: {e}");
        }
    }

    /// Lane `lane`'s next batch, claimed, for its shard (`None` inside: no
    /// work for it now). A lane whose shard holds nothing more is asleep
    /// from here: the job wakes it when it has work for it again.
    fn next_for(&self, lane: u32, now: u64) -> Option<Option<BatchMessage>> {
        self.with_job(|job| {
            let next = job.next_for_lane(lane, now);
            if next.is_none() && !job.lane_holds(lane) {
                self.awake.borrow_mut().remove(&lane);
            }
            next
        })
    }

    /// Tell the shards of `lanes` to stop their running batches now (the job
    /// was cancelled), rather than at their next asking.
    fn stop_lanes(&self, lanes: Vec<u32>) {
        let Some(job_id) = self.with_job(|job| job.id().to_owned()) else { return };
        let settings = self.settings();
        for lane in lanes {
            let (env, settings, job_id) = (self.env.clone(), settings.clone(), job_id.clone());
            self.state.wait_until(async move {
                if let Err(e) = tell_lane(&env, &settings, &job_id, lane, "/stop").await {
                    console_error!("job {job_id}: stopping lane {lane} failed: {e}");
                }
            });
        }
    }

    /// The watch deliveries' next attempts, those that are due, one after
    /// another.
    async fn deliver(&self) {
        let kv = SqlStore::open(&self.state);
        let mut all = deliveries(&kv);
        let now = unix_ms();
        if !all.iter().any(|d| d.due(now)) {
            return;
        }
        let mut rng = SplitMix64::new((js_sys::Math::random() * 9_007_199_254_740_992.0) as u64);
        // One invocation, one set of connections for all of its attempts.
        let settings = self.settings();
        for d in all.iter_mut().filter(|d| d.due(now)) {
            if let Err(e) = alerts::attempt(&self.env, &settings, d, &mut rng).await {
                console_error!("delivery {}: {e}", d.delivery_id);
            }
        }
        kv.kv_put("deliveries", &serde_json::to_string(&all).unwrap_or_default());
    }

    async fn route(&self, mut req: Request) -> std::result::Result<Response, ApiError> {
        let internal = |e: worker::Error| ApiError::new(500, "internal", e.to_string());
        let url = req.url().map_err(internal)?;
        let param = |k: &str| url.query_pairs().find(|(key, _)| key == k).and_then(|(_, v)| v.parse::<u64>().ok());
        let now = unix_ms();
        match url.path() {
            "/init" => {
                let init: InitJob = req.json().await.map_err(bad)?;
                if self.with_job(|_| ()).is_some() {
                    return Err(ApiError::new(409, "job_exists", "this job id is taken"));
                }
                let job = JobMachine::create(SqlStore::open(&self.state), &init.id, init.spec, init.urls, now);
                let status = job.status(now);
                *self.job.borrow_mut() = Some(job);
                self.after_change().await;
                json_response(201, &status).map_err(internal)
            }
            "/next" => {
                let lane = u32::try_from(param("lane").unwrap_or(0)).unwrap_or(0);
                let next = self.next_for(lane, now).ok_or_else(not_found)?;
                json_response(200, &next).map_err(internal)
            }
            "/alive" => {
                let batch = param("batch").unwrap_or(0);
                let answer = self.with_job(|job| job.alive(batch, now)).ok_or_else(not_found)?;
                json_response(200, &answer).map_err(internal)
            }
            "/report" => {
                // The answer is the lane's next batch, when there is one.
                let lane = u32::try_from(param("lane").unwrap_or(0)).unwrap_or(0);
                let report: BatchReport = req.json().await.map_err(bad)?;
                self.with_job(|job| job.report(now, report)).ok_or_else(not_found)?;
                self.after_change().await;
                let next = self.next_for(lane, unix_ms()).ok_or_else(not_found)?;
                json_response(200, &next).map_err(internal)
            }
            "/status" => {
                let status = self.with_job(|job| job.status(now)).ok_or_else(not_found)?;
                json_response(200, &status).map_err(internal)
            }
            "/cancel" => {
                let status = self
                    .with_job(|job| {
                        let lanes = job.lanes_busy();
                        job.cancel(now);
                        (lanes, job.status(now))
                    })
                    .ok_or_else(not_found)?;
                self.stop_lanes(status.0);
                self.after_change().await;
                json_response(200, &status.1).map_err(internal)
            }
            "/delete" => {
                let lanes = self
                    .with_job(|job| {
                        let lanes = job.lanes_busy();
                        job.cancel(now);
                        lanes
                    })
                    .ok_or_else(not_found)?;
                self.stop_lanes(lanes);
                self.after_change().await;
                *self.job.borrow_mut() = None;
                SqlStore::open(&self.state).wipe();
                let _ = self.state.storage().delete_alarm().await;
                json_response(200, &serde_json::json!({"deleted": true})).map_err(internal)
            }
            "/events" => {
                let after = param("after").unwrap_or(0);
                self.with_job(|_| ()).ok_or_else(not_found)?;
                // A client watching is a chance to move a stalled job on.
                self.after_change().await;
                self.events(after)
            }
            other => Err(ApiError::new(404, "not_found", format!("no job route {other}"))),
        }
    }

    /// The event log from `after`, live while the job runs: lines as they
    /// are appended (polled every 200 ms), a heartbeat after a quiet
    /// `HEARTBEAT_MS`, the end after the summary.
    fn events(&self, after: u64) -> std::result::Result<Response, ApiError> {
        let store = SqlStore::open(&self.state);
        let started = unix_ms();
        let created = self.with_job(|job| job.created_at()).unwrap_or(started);
        let stream = futures::stream::unfold(
            (store, after, false, unix_ms()),
            move |(store, seq, done, quiet_since)| async move {
                if done {
                    return None;
                }
                let mut seq = seq;
                let mut quiet = quiet_since;
                for _ in 0..10_000 {
                    let lines = store.lines_after(seq, 500);
                    if let Some(&(last, _)) = lines.last() {
                        seq = last;
                        let ended = lines.iter().any(|(_, l)| is_summary(l));
                        let mut chunk = String::new();
                        for (n, line) in lines {
                            chunk.push_str(&format!("{{\"seq\":{n},{}\n", line.strip_prefix('{').unwrap_or(&line)));
                        }
                        return Some((chunk, (store, seq, ended, unix_ms())));
                    }
                    // Nothing after `seq` and the job has ended (its
                    // summary at or before `seq`, e.g. `after` is its last
                    // seq): the stream ends rather than beat forever.
                    if store.has_summary() {
                        return None;
                    }
                    if unix_ms() >= quiet + HEARTBEAT_MS {
                        let t = unix_ms().saturating_sub(created);
                        let beat = JobLine { seq: 0, event: Event::Heartbeat { t } }.to_ndjson();
                        return Some((beat, (store, seq, false, unix_ms())));
                    }
                    Sleep::new(200).await;
                    quiet = quiet.min(unix_ms());
                }
                None
            },
        );
        ndjson_response(stream.boxed_local())
    }
}

impl DurableObject for JobObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, job: RefCell::new(None), listed_at: std::cell::Cell::new(0), awake: Default::default() }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        answer(self.route(req).await)
    }

    async fn alarm(&self) -> Result<Response> {
        self.deliver().await;
        // Leases that ended go out again; the alarm is set anew.
        self.after_change().await;
        Response::ok("ok")
    }
}
