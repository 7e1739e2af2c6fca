//! Watches in D1 (migration `0004_watches.sql`): the watches, their runs and
//! what each found, and the log of webhook attempts. SQL and glue only; the
//! logic is `fanout_shared::watch`.

use std::collections::BTreeMap;

use fanout_shared::wire::jobs::{JobRequest, JobState};
use fanout_shared::wire::watches::{
    Alert, Channel, DeliveryAttempt, PriceSeries, Rule, RunCounts, Schedule, SeriesPoint, Skip, Watch, WatchRun,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::store::history::{Store, db_error, js, num};

/// What a watch's `spec` column holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// What each run fetches.
    pub job: JobRequest,
    /// When it runs.
    pub schedule: Schedule,
    /// What it alerts on.
    pub rules: Vec<Rule>,
    /// Where alerts go.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Slack and Discord channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
}

/// A watch as stored: its view, and what the view does not show.
#[derive(Debug, Clone)]
pub struct StoredWatch {
    /// The watch.
    pub watch: Watch,
    /// The edge's origin when it was made (its demo shop is served in-process).
    pub own_origin: String,
    /// The webhook's signing secret.
    pub secret: Option<String>,
    /// The newest run's job.
    pub last_job_id: Option<String>,
}

impl StoredWatch {
    /// Its spec, as stored.
    pub fn spec(&self) -> Spec {
        Spec {
            job: self.watch.job.clone(),
            schedule: self.watch.schedule,
            rules: self.watch.rules.clone(),
            webhook_url: self.watch.webhook_url.clone(),
            channels: self.watch.channels.clone(),
        }
    }
}

#[derive(Deserialize)]
struct WatchRow {
    id: String,
    name: Option<String>,
    spec: String,
    own_origin: String,
    secret: Option<String>,
    created_at: u64,
    updated_at: u64,
    next_run_at: Option<u64>,
    runs: u32,
    last_job_id: Option<String>,
    last_skip_at: Option<u64>,
    last_skip_reason: Option<String>,
}

impl WatchRow {
    fn into_stored(self) -> Option<StoredWatch> {
        let spec: Spec = serde_json::from_str(&self.spec).ok()?;
        let last_skip = match (self.last_skip_at, self.last_skip_reason) {
            (Some(at), Some(reason)) => Some(Skip { at, reason }),
            _ => None,
        };
        Some(StoredWatch {
            watch: Watch {
                watch_id: self.id,
                name: self.name,
                job: spec.job,
                schedule: spec.schedule,
                rules: spec.rules,
                webhook_url: spec.webhook_url,
                channels: spec.channels,
                created_at: self.created_at,
                updated_at: self.updated_at,
                next_run_at: self.next_run_at,
                runs: self.runs,
                last_run: None,
                last_skip,
            },
            own_origin: self.own_origin,
            secret: self.secret,
            last_job_id: self.last_job_id,
        })
    }
}

#[derive(Deserialize)]
struct RunRow {
    job_id: String,
    started_at: u64,
    finished_at: Option<u64>,
    state: String,
    live_state: Option<String>,
    trigger: String,
    evaluated: u8,
    compared_with: Option<String>,
    alerts: String,
    #[serde(default)]
    counts: Option<String>,
}

impl From<RunRow> for WatchRun {
    fn from(r: RunRow) -> Self {
        // While a run goes on, the job list has its state; once evaluated,
        // the watch's own row has the last word.
        let state = if r.evaluated != 0 { r.state } else { r.live_state.unwrap_or(r.state) };
        WatchRun {
            job_id: r.job_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            state: JobState::from_wire(&state).unwrap_or_default(),
            compared_with: r.compared_with,
            evaluated: r.evaluated != 0,
            alerts: serde_json::from_str::<Vec<Alert>>(&r.alerts).unwrap_or_default(),
            trigger: r.trigger,
            counts: r.counts.as_deref().and_then(|c| serde_json::from_str::<RunCounts>(c).ok()),
        }
    }
}

/// What a finished watch run found.
pub struct Found<'a> {
    /// The run it was compared with.
    pub compared_with: Option<&'a str>,
    /// What its rules matched.
    pub alerts: &'a [Alert],
    /// Its URLs against that run.
    pub counts: Option<RunCounts>,
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

fn opt(v: Option<u64>) -> JsValue {
    v.map_or(JsValue::NULL, |v| num(v as f64))
}

fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, js)
}

const RUN_SELECT: &str = "SELECT wr.job_id, wr.started_at, wr.finished_at, wr.state, j.state AS live_state, \
     wr.trigger, wr.evaluated, wr.compared_with, wr.alerts, wr.counts \
     FROM watch_runs wr LEFT JOIN jobs j ON j.id = wr.job_id";

type R<T> = std::result::Result<T, String>;

impl Store {
    /// Save `w` (new or changed), its next due time and secret with it.
    pub async fn put_watch(&self, w: &StoredWatch) -> R<()> {
        let spec = serde_json::to_string(&w.spec()).map_err(|e| e.to_string())?;
        let v = &w.watch;
        self.batch(vec![self.stmt(
            "INSERT INTO watches (id, name, spec, own_origin, secret, created_at, updated_at, next_run_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, spec = excluded.spec, secret = excluded.secret, \
             updated_at = excluded.updated_at, next_run_at = excluded.next_run_at",
            &[
                js(&v.watch_id),
                opt_str(v.name.as_deref()),
                js(&spec),
                js(&w.own_origin),
                opt_str(w.secret.as_deref()),
                num(v.created_at as f64),
                num(v.updated_at as f64),
                opt(v.next_run_at),
            ],
        )?])
        .await
    }

    async fn with_last_run(&self, mut w: StoredWatch) -> R<StoredWatch> {
        if let Some(job) = &w.last_job_id {
            w.watch.last_run = self
                .stmt(
                    &format!("{RUN_SELECT} WHERE wr.watch_id = ?1 AND wr.job_id = ?2"),
                    &[js(&w.watch.watch_id), js(job)],
                )?
                .first::<RunRow>(None)
                .await
                .map_err(db_error)?
                .map(WatchRun::from);
        }
        Ok(w)
    }

    /// Watch `id`, with its newest run.
    pub async fn watch(&self, id: &str) -> R<Option<StoredWatch>> {
        let row = self
            .stmt("SELECT * FROM watches WHERE id = ?1", &[js(id)])?
            .first::<WatchRow>(None)
            .await
            .map_err(db_error)?;
        match row.and_then(WatchRow::into_stored) {
            Some(w) => self.with_last_run(w).await.map(Some),
            None => Ok(None),
        }
    }

    /// A page of watches, newest first, and how many there are.
    pub async fn watches(&self, limit: u32, offset: u32) -> R<(Vec<StoredWatch>, u64)> {
        let rows = self
            .stmt(
                "SELECT * FROM watches ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2",
                &[num(limit), num(offset)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<WatchRow>()
            .map_err(db_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for w in rows.into_iter().filter_map(WatchRow::into_stored) {
            out.push(self.with_last_run(w).await?);
        }
        Ok((out, self.count_watches().await?))
    }

    /// How many watches there are.
    pub async fn count_watches(&self) -> R<u64> {
        Ok(self
            .stmt("SELECT count(*) AS n FROM watches", &[])?
            .first::<Count>(None)
            .await
            .map_err(db_error)?
            .map_or(0, |c| c.n))
    }

    /// Watches due at `now`, the most overdue first.
    pub async fn due_watches(&self, now: u64, limit: u32) -> R<Vec<StoredWatch>> {
        Ok(self
            .stmt(
                "SELECT * FROM watches WHERE next_run_at IS NOT NULL AND next_run_at <= ?1 \
                 ORDER BY next_run_at, id LIMIT ?2",
                &[num(now as f64), num(limit)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<WatchRow>()
            .map_err(db_error)?
            .into_iter()
            .filter_map(WatchRow::into_stored)
            .collect())
    }

    /// The earliest due time of all watches (`None`: none is ever due).
    pub async fn earliest_due(&self) -> R<Option<u64>> {
        #[derive(Deserialize)]
        struct Row {
            n: Option<u64>,
        }
        Ok(self
            .stmt("SELECT min(next_run_at) AS n FROM watches", &[])?
            .first::<Row>(None)
            .await
            .map_err(db_error)?
            .and_then(|r| r.n))
    }

    /// Claim watch `id`'s slot due at `seen`: move its due time to `next`,
    /// only if it is still `seen`. `false`: something else handled it first.
    pub async fn claim_slot(&self, id: &str, seen: Option<u64>, next: Option<u64>) -> R<bool> {
        let Some(seen) = seen else { return Ok(false) };
        let result = self
            .stmt(
                "UPDATE watches SET next_run_at = ?3 WHERE id = ?1 AND next_run_at = ?2",
                &[js(id), num(seen as f64), opt(next)],
            )?
            .all()
            .await
            .map_err(db_error)?;
        let changes = result.meta().map_err(db_error)?.and_then(|m| m.changes).unwrap_or(0);
        Ok(changes == 1)
    }

    /// Forget watch `id`: it, its list of runs and its deliveries (the runs
    /// themselves stay in the history).
    pub async fn delete_watch(&self, id: &str) -> R<()> {
        self.batch(vec![
            self.stmt("DELETE FROM watches WHERE id = ?1", &[js(id)])?,
            self.stmt("DELETE FROM watch_runs WHERE watch_id = ?1", &[js(id)])?,
            self.stmt("DELETE FROM deliveries WHERE watch_id = ?1", &[js(id)])?,
        ])
        .await
    }

    /// A run of watch `id` started as job `job` (`trigger`: `schedule` or
    /// `manual`); `next_run_at` is what the schedule says now.
    pub async fn record_start(&self, id: &str, job: &str, now: u64, trigger: &str, next_run_at: Option<u64>) -> R<()> {
        self.batch(vec![
            self.stmt(
                "INSERT OR REPLACE INTO watch_runs (watch_id, job_id, started_at, state, trigger) \
                 VALUES (?1, ?2, ?3, 'queued', ?4)",
                &[js(id), js(job), num(now as f64), js(trigger)],
            )?,
            self.stmt(
                "UPDATE watches SET runs = runs + 1, last_job_id = ?2, next_run_at = ?3 WHERE id = ?1",
                &[js(id), js(job), opt(next_run_at)],
            )?,
        ])
        .await
    }

    /// A due run of watch `id` did not start at `now`, for `reason`.
    pub async fn record_skip(&self, id: &str, now: u64, reason: &str, next_run_at: Option<u64>) -> R<()> {
        self.batch(vec![self.stmt(
            "UPDATE watches SET last_skip_at = ?2, last_skip_reason = ?3, next_run_at = ?4 WHERE id = ?1",
            &[js(id), num(now as f64), js(reason), opt(next_run_at)],
        )?])
        .await
    }

    /// Job `id`'s state in the job list.
    pub async fn job_state(&self, id: &str) -> R<Option<JobState>> {
        #[derive(Deserialize)]
        struct Row {
            state: String,
        }
        Ok(self
            .stmt("SELECT state FROM jobs WHERE id = ?1", &[js(id)])?
            .first::<Row>(None)
            .await
            .map_err(db_error)?
            .and_then(|r| JobState::from_wire(&r.state)))
    }

    /// Watch `id`'s runs, newest first.
    pub async fn watch_runs(&self, id: &str, limit: u32) -> R<Vec<WatchRun>> {
        Ok(self
            .stmt(
                &format!("{RUN_SELECT} WHERE wr.watch_id = ?1 ORDER BY wr.started_at DESC LIMIT ?2"),
                &[js(id), num(limit)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<RunRow>()
            .map_err(db_error)?
            .into_iter()
            .map(WatchRun::from)
            .collect())
    }

    /// The run of watch `id` that `job` is compared with: its newest earlier
    /// run that finished `done` and is still in the history.
    pub async fn previous_watch_run(&self, id: &str, job: &str) -> R<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            job_id: String,
        }
        Ok(self
            .stmt(
                "SELECT wr.job_id FROM watch_runs wr JOIN runs r ON r.id = wr.job_id \
                 WHERE wr.watch_id = ?1 AND wr.job_id != ?2 AND wr.state = 'done' AND wr.evaluated = 1 \
                 AND wr.started_at <= (SELECT started_at FROM watch_runs WHERE watch_id = ?1 AND job_id = ?2) \
                 ORDER BY wr.started_at DESC LIMIT 1",
                &[js(id), js(job)],
            )?
            .first::<Row>(None)
            .await
            .map_err(db_error)?
            .map(|r| r.job_id))
    }

    /// Run `job` of watch `id` finished in `state` at `at`: what it was
    /// compared with, what its rules matched, and its URLs' counts.
    pub async fn finish_watch_run(&self, id: &str, job: &str, at: u64, state: JobState, found: &Found<'_>) -> R<()> {
        let alerts = serde_json::to_string(found.alerts).map_err(|e| e.to_string())?;
        let counts = found.counts.map(|c| serde_json::to_string(&c)).transpose().map_err(|e| e.to_string())?;
        self.batch(vec![self.stmt(
            "UPDATE watch_runs SET finished_at = ?3, state = ?4, evaluated = 1, compared_with = ?5, alerts = ?6, \
             counts = ?7 WHERE watch_id = ?1 AND job_id = ?2",
            &[
                js(id),
                js(job),
                num(at as f64),
                js(state.as_str()),
                opt_str(found.compared_with),
                js(&alerts),
                opt_str(counts.as_deref()),
            ],
        )?])
        .await
    }

    /// Log one delivery attempt to watch `id`'s webhook.
    pub async fn log_attempt(&self, id: &str, a: &DeliveryAttempt) -> R<()> {
        self.batch(vec![self.stmt(
            "INSERT OR REPLACE INTO deliveries \
             (watch_id, delivery_id, run_id, attempt, at, status, error, ms, outcome, next_at, channel) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &[
                js(id),
                js(&a.delivery_id),
                js(&a.run_id),
                num(a.attempt),
                num(a.at as f64),
                a.status.map_or(JsValue::NULL, num),
                opt_str(a.error.as_deref()),
                num(a.ms as f64),
                js(&a.outcome),
                opt(a.next_at),
                js(&a.channel),
            ],
        )?])
        .await
    }

    /// Watch `id`'s delivery attempts, newest first (a test send's too).
    pub async fn deliveries(&self, id: &str, limit: u32) -> R<Vec<DeliveryAttempt>> {
        self.stmt(
            "SELECT delivery_id, channel, run_id, attempt, at, status, error, ms, outcome, next_at FROM deliveries \
             WHERE watch_id = ?1 ORDER BY at DESC, attempt DESC LIMIT ?2",
            &[js(id), num(limit)],
        )?
        .all()
        .await
        .map_err(db_error)?
        .results::<DeliveryAttempt>()
        .map_err(db_error)
    }

    /// Each product URL's price over watch `id`'s runs (oldest first), at
    /// most `max_series` URLs.
    pub async fn watch_prices(&self, id: &str, max_series: usize) -> R<Vec<PriceSeries>> {
        #[derive(Deserialize)]
        struct Row {
            run_id: String,
            at: u64,
            url: String,
            name: Option<String>,
            price: Option<String>,
            currency: Option<String>,
            availability: Option<String>,
        }
        let rows = self
            .stmt(
                "SELECT wr.job_id AS run_id, wr.started_at AS at, r.url, p.name, p.price, p.currency, p.availability \
                 FROM watch_runs wr JOIN results r ON r.run_id = wr.job_id \
                 JOIN products p ON p.run_id = r.run_id AND p.url = r.url \
                 WHERE wr.watch_id = ?1 AND r.outcome = 'done' ORDER BY r.url, wr.started_at LIMIT 50000",
                &[js(id)],
            )?
            .all()
            .await
            .map_err(db_error)?
            .results::<Row>()
            .map_err(db_error)?;
        let mut series: BTreeMap<String, PriceSeries> = BTreeMap::new();
        for r in rows {
            if series.len() >= max_series && !series.contains_key(&r.url) {
                continue;
            }
            let s = series
                .entry(r.url.clone())
                .or_insert_with(|| PriceSeries { url: r.url.clone(), ..PriceSeries::default() });
            if r.name.is_some() {
                s.name = r.name;
            }
            s.points.push(SeriesPoint {
                run_id: r.run_id,
                at: r.at,
                price: r.price,
                currency: r.currency,
                availability: r.availability,
            });
        }
        Ok(series.into_values().collect())
    }
}
