//! Run history in D1 (binding `DB`, schema in `migrations/`): saving a run's
//! results while it streams, reading saved runs back, and the job list. The
//! comparison logic is `fanout_shared::history`; this file is SQL and glue
//! (the HTTP handlers are `crate::routes::history`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use fanout_shared::Event;
use fanout_shared::engine::gate::Gate;
use fanout_shared::history::{PricePoint, Recorder, RunRecord, SavedProduct, SavedResult, Timeline};
use fanout_shared::input::validation::make_run_id;
use fanout_shared::wire::jobs::{JobCounts, JobState, JobStatus};
use fanout_shared::wire::protocol::{Prior, SaveReport};
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env, Result};

use crate::context::Settings;
use crate::platform::clock::unix_ms;

/// Rows written per D1 batch while a run streams.
const SAVE_BATCH: usize = 250;

/// A job's status as the list stores it.
fn status_row(status: &JobStatus) -> Vec<JsValue> {
    let c = status.counts;
    let opt = |v: Option<u64>| v.map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64));
    vec![
        JsValue::from_str(&status.job_id),
        JsValue::from_f64(status.created_at as f64),
        JsValue::from_f64(unix_ms() as f64),
        JsValue::from_str(status.state.as_str()),
        JsValue::from_str(&status.kind),
        JsValue::from_f64(f64::from(c.total)),
        JsValue::from_f64(f64::from(c.pending)),
        JsValue::from_f64(f64::from(c.in_flight)),
        JsValue::from_f64(f64::from(c.done)),
        JsValue::from_f64(f64::from(c.failed)),
        JsValue::from_f64(f64::from(c.cancelled)),
        opt(status.started_at),
        opt(status.finished_at),
        JsValue::from_f64(status.throughput),
        JsValue::from_f64(status.last_seq as f64),
    ]
}

/// The D1 database, when the deployment has one.
#[derive(Clone)]
pub struct Store {
    db: Rc<D1Database>,
    max_runs: u32,
    max_age_days: u32,
    /// The invocation's connections: every D1 call holds one while it waits
    /// for its answer, as production counts it.
    gate: Gate,
}

/// A prepared D1 statement whose call waits for one of the invocation's
/// connections.
pub(crate) struct Stmt {
    inner: D1PreparedStatement,
    gate: Gate,
}

impl Stmt {
    pub(crate) async fn all(&self) -> Result<worker::D1Result> {
        let _held = self.gate.acquire().await;
        self.inner.all().await
    }

    pub(crate) async fn first<T: for<'de> Deserialize<'de>>(&self, column: Option<&str>) -> Result<Option<T>> {
        let _held = self.gate.acquire().await;
        self.inner.first::<T>(column).await
    }
}

pub(crate) fn js(s: &str) -> JsValue {
    JsValue::from_str(s)
}

pub(crate) fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

pub(crate) fn db_error(e: impl std::fmt::Display) -> String {
    format!("D1: {e}")
}

/// One row of the results ⟕ products join.
#[derive(Deserialize)]
struct ResultRow {
    url: String,
    outcome: String,
    status: Option<u16>,
    attempts: u32,
    ms: Option<u64>,
    bytes: u64,
    error_kind: Option<String>,
    has_product: u8,
    name: Option<String>,
    price: Option<String>,
    currency: Option<String>,
    availability: Option<String>,
    sku: Option<String>,
    #[serde(default)]
    timeline: Option<String>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    not_modified: Option<u8>,
    #[serde(default)]
    bytes_saved: Option<u64>,
}

impl From<ResultRow> for SavedResult {
    fn from(r: ResultRow) -> Self {
        // A timeline that does not parse (written by another version) is
        // left out: the row still replays as its outcome.
        let timeline = r.timeline.as_deref().and_then(|t| serde_json::from_str::<Timeline>(t).ok());
        let product = (r.has_product != 0).then_some(SavedProduct {
            name: r.name,
            price: r.price,
            currency: r.currency,
            availability: r.availability,
            sku: r.sku,
        });
        Self {
            url: r.url,
            outcome: r.outcome,
            status: r.status,
            attempts: r.attempts,
            ms: r.ms,
            bytes: r.bytes,
            error_kind: r.error_kind,
            product,
            etag: r.etag,
            last_modified: r.last_modified,
            not_modified: r.not_modified.unwrap_or(0) != 0,
            bytes_saved: r.bytes_saved.unwrap_or(0),
            timeline,
        }
    }
}

/// One result row with its product (`r` results ⟕ `p` products), as [`ResultRow`] reads it.
const RESULT_COLUMNS: &str = "r.url, r.outcome, r.status, r.attempts, r.ms, r.bytes, r.error_kind, r.etag, \
                              r.last_modified, r.not_modified, r.bytes_saved, (p.url IS NOT NULL) AS has_product, \
                              p.name, p.price, p.currency, p.availability, p.sku";

const RUN_COLUMNS: &str = "id, created_at, updated_at, total, done, failed, cancelled, chunks, updated_at - created_at AS duration_ms, options";

impl Store {
    /// The store of this deployment, or `None` without a `DB` binding.
    pub fn open(env: &Env, settings: &Settings) -> Option<Self> {
        let db = env.d1("DB").ok()?;
        Some(Self {
            db: Rc::new(db),
            max_runs: settings.history_max_runs,
            max_age_days: settings.history_max_age_days,
            gate: settings.gate.clone(),
        })
    }

    pub(crate) fn stmt(&self, sql: &str, args: &[JsValue]) -> std::result::Result<Stmt, String> {
        let inner = self.db.prepare(sql).bind(args).map_err(db_error)?;
        Ok(Stmt { inner, gate: self.gate.clone() })
    }

    pub(crate) async fn batch(&self, stmts: Vec<Stmt>) -> std::result::Result<(), String> {
        let stmts = stmts.into_iter().map(|s| s.inner).collect();
        let _held = self.gate.acquire().await;
        let results = self.db.batch(stmts).await.map_err(db_error)?;
        match results.iter().find_map(worker::D1Result::error) {
            Some(e) => Err(db_error(e)),
            None => Ok(()),
        }
    }

    fn upsert_run(&self, id: &str, started: u64, now: u64, options: &str) -> std::result::Result<Stmt, String> {
        self.stmt(
            "INSERT INTO runs (id, created_at, updated_at, options) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(id) DO UPDATE SET created_at = min(created_at, excluded.created_at), \
             updated_at = max(updated_at, excluded.updated_at)",
            &[js(id), num(started as f64), num(now as f64), js(options)],
        )
    }

    /// Write `rows` of run `id` in one D1 batch of three statements: the run
    /// row, then all results and all products, each from one JSON parameter
    /// unpacked by SQLite's `json_each` (one statement per row costs a D1
    /// call each, and D1 allows 100 bound parameters per statement, so
    /// multi-row `VALUES` would need a statement per 10 rows). Each row comes
    /// with its URL's index in the run.
    pub async fn save_rows(
        &self,
        id: &str,
        started: u64,
        options: &str,
        rows: &[(u32, SavedResult)],
    ) -> std::result::Result<u64, String> {
        #[derive(serde::Serialize)]
        struct Indexed<'a> {
            idx: u32,
            #[serde(flatten)]
            row: &'a SavedResult,
        }
        let json = serde_json::to_string(&rows.iter().map(|(idx, row)| Indexed { idx: *idx, row }).collect::<Vec<_>>())
            .map_err(|e| format!("encoding the rows: {e}"))?;
        let field = |f: &str| format!("json_extract(j.value, '$.{f}')");
        let results = format!(
            "INSERT OR REPLACE INTO results \
             (run_id, url, outcome, status, attempts, ms, bytes, error_kind, idx, timeline, etag, last_modified, \
             not_modified, bytes_saved) \
             SELECT ?1, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, coalesce({}, 0), coalesce({}, 0) \
             FROM json_each(?2) AS j",
            field("url"),
            field("outcome"),
            field("status"),
            field("attempts"),
            field("ms"),
            field("bytes"),
            field("error_kind"),
            field("idx"),
            field("timeline"),
            field("etag"),
            field("last_modified"),
            field("not_modified"),
            field("bytes_saved"),
        );
        let products = format!(
            "INSERT OR REPLACE INTO products (run_id, url, name, price, currency, availability, sku) \
             SELECT ?1, {}, {}, {}, {}, {}, {} FROM json_each(?2) AS j WHERE {} IS NOT NULL",
            field("url"),
            field("product.name"),
            field("product.price"),
            field("product.currency"),
            field("product.availability"),
            field("product.sku"),
            field("product"),
        );
        // The run's counts grow with each batch, so a run whose client went
        // away before its summary (no final recount) still lists what it saved.
        let count = |o: &str| rows.iter().filter(|(_, r)| r.outcome == o).count() as f64;
        self.batch(vec![
            self.upsert_run(id, started, unix_ms(), options)?,
            self.stmt(&results, &[js(id), js(&json)])?,
            self.stmt(&products, &[js(id), js(&json)])?,
            self.stmt(
                "UPDATE runs SET total = total + ?2, done = done + ?3, failed = failed + ?4, \
                 cancelled = cancelled + ?5 WHERE id = ?1",
                &[js(id), num(rows.len() as f64), num(count("done")), num(count("failed")), num(count("cancelled"))],
            )?,
        ])
        .await?;
        Ok(rows.len() as u64)
    }

    /// A chunk request of run `id` ended: recount the run and apply retention.
    pub async fn finish_chunk(&self, id: &str, started: u64, options: &str) -> std::result::Result<(), String> {
        let now = unix_ms();
        let oldest = now.saturating_sub(u64::from(self.max_age_days) * 86_400_000);
        let doomed = "SELECT id FROM runs WHERE created_at < ?1 OR id IN \
                      (SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?2)";
        let keep = [num(oldest as f64), num(self.max_runs)];
        self.batch(vec![
            self.upsert_run(id, started, now, options)?,
            self.stmt(
                "UPDATE runs SET chunks = chunks + 1, \
                 total = (SELECT count(*) FROM results WHERE run_id = ?1), \
                 done = (SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'done'), \
                 failed = (SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'failed'), \
                 cancelled = (SELECT count(*) FROM results WHERE run_id = ?1 AND outcome = 'cancelled') \
                 WHERE id = ?1",
                &[js(id)],
            )?,
            self.stmt(&format!("DELETE FROM products WHERE run_id IN ({doomed})"), &keep)?,
            self.stmt(&format!("DELETE FROM results WHERE run_id IN ({doomed})"), &keep)?,
            self.stmt(&format!("DELETE FROM runs WHERE id IN ({doomed})"), &keep)?,
        ])
        .await
    }

    pub async fn runs(&self, limit: u32, offset: u32) -> std::result::Result<(Vec<RunRecord>, u64), String> {
        let list = self
            .stmt(
                &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2"),
                &[num(limit), num(offset)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<RunRecord>()
            .map_err(db_error)?;
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let total = self
            .stmt("SELECT count(*) AS n FROM runs", &[])?
            .first::<Count>(None)
            .await
            .map_err(db_error)?
            .map_or(0, |c| c.n);
        Ok((list, total))
    }

    pub async fn run(&self, id: &str) -> std::result::Result<Option<RunRecord>, String> {
        self.stmt(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), &[js(id)])?
            .first::<RunRecord>(None)
            .await
            .map_err(db_error)
    }

    /// The results of run `id` in the order its URLs were given; with their
    /// timelines only when `timelines` (reopening a run needs them, a diff
    /// or an export does not).
    pub(crate) async fn results(&self, id: &str, timelines: bool) -> std::result::Result<Vec<SavedResult>, String> {
        let timeline = if timelines { "r.timeline" } else { "NULL AS timeline" };
        let rows = self
            .stmt(
                &format!(
                    "SELECT {RESULT_COLUMNS}, {timeline} \
                     FROM results r LEFT JOIN products p ON p.run_id = r.run_id AND p.url = r.url \
                     WHERE r.run_id = ?1 ORDER BY r.idx IS NULL, r.idx, r.rowid"
                ),
                &[js(id)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<ResultRow>()
            .map_err(db_error)?;
        Ok(rows.into_iter().map(SavedResult::from).collect())
    }

    /// [`Self::priors`] when a run or batch revalidates and there is a
    /// history; otherwise, or when reading it fails (logged), none: the
    /// URLs are then fetched in full.
    pub async fn priors_for(
        store: Option<&Store>,
        revalidate: bool,
        urls: impl Iterator<Item = String>,
    ) -> HashMap<String, Prior> {
        let Some(store) = store.filter(|_| revalidate) else { return HashMap::new() };
        let urls: Vec<String> = urls.collect();
        store.priors(&urls).await.unwrap_or_else(|e| {
            worker::console_error!("revalidate: reading the last answers: {e}");
            HashMap::new()
        })
    }

    /// What revalidating `urls` sends and carries forward: for each URL
    /// whose last saved done answer had a validator, that answer (the
    /// newest row wins, whichever run saved it). Read 250 URLs a query.
    pub async fn priors(&self, urls: &[String]) -> std::result::Result<HashMap<String, Prior>, String> {
        let mut out = HashMap::new();
        for chunk in urls.chunks(250) {
            let list = serde_json::to_string(chunk).map_err(|e| format!("encoding the URLs: {e}"))?;
            // The row as `results` reads it; `SavedResult::prior` decides
            // what of it a revalidation uses.
            let rows = self
                .stmt(
                    &format!(
                        "SELECT {RESULT_COLUMNS} \
                         FROM json_each(?1) AS u JOIN results r ON r.rowid = \
                         (SELECT r2.rowid FROM results r2 WHERE r2.url = u.value AND r2.outcome = 'done' \
                         ORDER BY r2.rowid DESC LIMIT 1) \
                         LEFT JOIN products p ON p.run_id = r.run_id AND p.url = r.url \
                         WHERE r.etag IS NOT NULL OR r.last_modified IS NOT NULL"
                    ),
                    &[js(&list)],
                )?
                .all()
                .await
                .map_err(db_error)?
                .results::<ResultRow>()
                .map_err(db_error)?;
            for row in rows {
                let saved = SavedResult::from(row);
                if let Some(prior) = saved.prior() {
                    out.insert(saved.url, prior);
                }
            }
        }
        Ok(out)
    }

    pub async fn previous(&self, run: &RunRecord) -> std::result::Result<Option<RunRecord>, String> {
        self.stmt(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE created_at < ?1 OR (created_at = ?1 AND id < ?2) \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            &[num(run.created_at as f64), js(&run.id)],
        )?
        .first::<RunRecord>(None)
        .await
        .map_err(db_error)
    }

    /// Bring job `status`'s row in the job list up to date.
    pub async fn put_job(&self, status: &JobStatus) -> std::result::Result<(), String> {
        self.batch(vec![self.stmt(
            "INSERT OR REPLACE INTO jobs (id, created_at, updated_at, state, kind, total, pending, in_flight, done, \
             failed, cancelled, started_at, finished_at, throughput, last_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            &status_row(status),
        )?])
        .await
    }

    /// A page of the job list, newest first, and the number of jobs.
    pub async fn jobs(&self, limit: u32, offset: u32) -> std::result::Result<(Vec<JobStatus>, u64), String> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            created_at: u64,
            state: String,
            kind: String,
            total: u32,
            pending: u32,
            in_flight: u32,
            done: u32,
            failed: u32,
            cancelled: u32,
            started_at: Option<u64>,
            finished_at: Option<u64>,
            throughput: f64,
            last_seq: u64,
        }
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        let rows = self
            .stmt(
                "SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2",
                &[num(limit), num(offset)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<Row>()
            .map_err(db_error)?;
        let total = self
            .stmt("SELECT count(*) AS n FROM jobs", &[])?
            .first::<Count>(None)
            .await
            .map_err(db_error)?
            .map_or(0, |c| c.n);
        let jobs = rows
            .into_iter()
            .map(|r| JobStatus {
                job_id: r.id,
                state: JobState::from_wire(&r.state).unwrap_or_default(),
                counts: JobCounts {
                    total: r.total,
                    pending: r.pending,
                    in_flight: r.in_flight,
                    done: r.done,
                    failed: r.failed,
                    cancelled: r.cancelled,
                },
                created_at: r.created_at,
                started_at: r.started_at,
                finished_at: r.finished_at,
                throughput: r.throughput,
                kind: r.kind,
                last_seq: r.last_seq,
            })
            .collect();
        Ok((jobs, total))
    }

    /// Jobs queued or running.
    pub async fn active_jobs(&self) -> std::result::Result<u64, String> {
        #[derive(Deserialize)]
        struct Count {
            n: u64,
        }
        Ok(self
            .stmt("SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running')", &[])?
            .first::<Count>(None)
            .await
            .map_err(db_error)?
            .map_or(0, |c| c.n))
    }

    /// Forget job `id`: its row in the list and its run.
    pub async fn delete_job(&self, id: &str) -> std::result::Result<(), String> {
        self.batch(vec![self.stmt("DELETE FROM jobs WHERE id = ?1", &[js(id)])?]).await?;
        self.delete(id).await
    }

    pub async fn delete(&self, id: &str) -> std::result::Result<(), String> {
        self.batch(vec![
            self.stmt("DELETE FROM products WHERE run_id = ?1", &[js(id)])?,
            self.stmt("DELETE FROM results WHERE run_id = ?1", &[js(id)])?,
            self.stmt("DELETE FROM runs WHERE id = ?1", &[js(id)])?,
        ])
        .await
    }

    pub async fn price_history(&self, url: &str) -> std::result::Result<Vec<PricePoint>, String> {
        self.stmt(
            "SELECT r.run_id, runs.created_at AS at, r.outcome, p.price, p.currency, p.availability \
             FROM results r JOIN runs ON runs.id = r.run_id \
             LEFT JOIN products p ON p.run_id = r.run_id AND p.url = r.url \
             WHERE r.url = ?1 ORDER BY runs.created_at ASC LIMIT 1000",
            &[js(url)],
        )?
        .all()
        .await
        .map_err(db_error)?
        .results::<PricePoint>()
        .map_err(db_error)
    }
}

/// Saves a run's final events in batches as they stream by, without holding
/// the stream up; only the summary waits for the writes, so it can say
/// whether they worked.
pub struct Saver {
    store: Option<Store>,
    run_id: String,
    started: u64,
    offset: u32,
    options: String,
    recorder: RefCell<Recorder>,
    buf: RefCell<Vec<(u32, SavedResult)>>,
    pending: RefCell<Vec<oneshot::Receiver<std::result::Result<u64, String>>>>,
    rows: Cell<u64>,
    /// Milliseconds with at least one write in flight, and (writes in
    /// flight, when the current busy stretch began).
    write_ms: Rc<Cell<u64>>,
    busy: Rc<Cell<(u32, u64)>>,
    error: RefCell<Option<String>>,
}

impl Saver {
    /// A saver for run `run_id`, whose URLs this chunk request holds from
    /// index `offset` on; this chunk's start is now.
    pub fn new(store: Option<Store>, run_id: String, offset: u32, options: String) -> Rc<Self> {
        let started = unix_ms();
        Rc::new(Self {
            store,
            run_id,
            started,
            offset,
            options,
            recorder: RefCell::new(Recorder::new(started)),
            buf: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            rows: Cell::new(0),
            write_ms: Rc::new(Cell::new(0)),
            busy: Rc::new(Cell::new((0, 0))),
            error: RefCell::new(None),
        })
    }

    /// The run id the results go under.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn spawn_write(self: &Rc<Self>) {
        let rows: Vec<(u32, SavedResult)> = std::mem::take(&mut *self.buf.borrow_mut());
        let Some(store) = self.store.clone() else { return };
        if rows.is_empty() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().push(rx);
        let (id, started, options) = (self.run_id.clone(), self.started, self.options.clone());
        let (write_ms, busy) = (self.write_ms.clone(), self.busy.clone());
        let (n, since) = busy.get();
        busy.set((n + 1, if n == 0 { unix_ms() } else { since }));
        wasm_bindgen_futures::spawn_local(async move {
            let saved = store.save_rows(&id, started, &options, &rows).await;
            let (n, since) = busy.get();
            busy.set((n - 1, since));
            if n == 1 {
                write_ms.set(write_ms.get() + unix_ms().saturating_sub(since));
            }
            let _ = tx.send(saved);
        });
    }

    /// Pass `ev` on; batches results, and before the summary waits for every
    /// write and reports how saving went.
    pub fn on_event(self: Rc<Self>, ev: Event) -> LocalBoxFuture<'static, Vec<Event>> {
        Box::pin(async move {
            let row = self.recorder.borrow_mut().observe(&ev);
            if let Some(row) = row {
                let idx = self.offset.saturating_add(ev.id().unwrap_or(0));
                self.buf.borrow_mut().push((idx, row));
                if self.buf.borrow().len() >= SAVE_BATCH {
                    self.spawn_write();
                }
                return vec![ev];
            }
            let Event::Summary(mut summary) = ev else { return vec![ev] };
            let Some(store) = self.store.clone() else { return vec![Event::Summary(summary)] };
            self.spawn_write();
            let pending: Vec<_> = std::mem::take(&mut *self.pending.borrow_mut());
            for rx in pending {
                match rx.await {
                    Ok(Ok(n)) => self.rows.set(self.rows.get() + n),
                    Ok(Err(e)) => self.fail(e),
                    Err(_) => self.fail("a history write was dropped".into()),
                }
            }
            let t = unix_ms();
            if let Err(e) = store.finish_chunk(&self.run_id, self.started, &self.options).await {
                self.fail(e);
            }
            self.write_ms.set(self.write_ms.get() + unix_ms().saturating_sub(t));
            let error = self.error.borrow().clone();
            summary.saved = Some(SaveReport {
                run_id: self.run_id.clone(),
                rows: self.rows.get(),
                write_ms: self.write_ms.get(),
                error: error.clone(),
            });
            let mut out = Vec::new();
            if let Some(message) = error {
                out.push(Event::SaveError { message, t: summary.elapsed_ms });
            }
            out.push(Event::Summary(summary));
            out
        })
    }

    fn fail(&self, e: String) {
        let mut err = self.error.borrow_mut();
        if err.is_none() {
            *err = Some(format!("saving the results failed: {e}"));
        }
    }
}

/// A new run id: `r`, the time in hex and 32 random bits.
pub fn new_run_id() -> String {
    make_run_id(unix_ms(), (js_sys::Math::random() * f64::from(u32::MAX)) as u32)
}
