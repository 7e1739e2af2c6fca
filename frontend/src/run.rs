//! The run store and the browser-side fan-out.
//!
//! All run state is owned by the root component ([`RunStore`] is `Copy`
//! handles to root-owned signals), so tasks never touch signals of an
//! unmounted child. Every request has its own `AbortController`; cancel
//! aborts them all, because dropping a gloo-net future does not.

use std::time::Duration;

use fanout_shared::ErrorKind;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use fanout_shared::input::validation::make_run_id;
use fanout_shared::view::stats::Stats;
use fanout_shared::view::task::{Tally, TaskState, TaskView};
use fanout_shared::wire::config::{DEFAULT_CONCURRENCY, Limits, split_concurrency};
use fanout_shared::wire::protocol::{CrawlReport, Event, Millis, RunRequest};
use fanout_shared::wire::stats::StatsReport;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ChunkError};

/// One row of the task table: its own signal, so an event re-renders only
/// its row.
#[derive(Clone, Copy)]
pub struct Row {
    /// Index in the run.
    pub id: u32,
    /// What is known about this URL.
    pub view: RwSignal<TaskView>,
}

/// Handles to the run's state. Cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct RunStore {
    /// One row per URL.
    pub rows: RwSignal<Vec<Row>>,
    /// URLs per state.
    pub tally: RwSignal<Tally>,
    /// Whether a run is going on.
    pub running: RwSignal<bool>,
    /// Whether the current run was cancelled.
    pub cancelled: RwSignal<bool>,
    /// Milliseconds since the run started (ticks while running).
    pub elapsed: RwSignal<Millis>,
    /// Chunk requests in flight from this page.
    pub requests: RwSignal<u64>,
    /// Most URLs in flight at once, as the rows show it.
    pub peak: RwSignal<u64>,
    /// Statistics, refreshed while running and at the end.
    pub stats: RwSignal<StatsReport>,
    /// A request-level error to show next to the form.
    pub error: RwSignal<Option<String>>,
    /// Whether a finished chunk's summary reported its results saved.
    pub saved: RwSignal<bool>,
    /// The id the run's results are saved under (one for all its chunks).
    pub run_id: RwSignal<Option<String>>,
    /// Why saving to the history failed, if it did.
    pub save_error: RwSignal<Option<String>>,
    /// Bumped every 250 ms while running and once at the end: what the
    /// heavier views (waterfall) redraw on, instead of on every event.
    pub tick: RwSignal<u64>,
    started_at: StoredValue<f64>,
    folded: StoredValue<Stats>,
    controllers: StoredValue<Vec<web_sys::AbortController>, LocalStorage>,
}

/// One request loop of a run (a chunk worker, a load-test lane).
pub(crate) type Worker = Pin<Box<dyn Future<Output = ()>>>;

/// Wait for every worker. `futures::future::join_all` does the same, but it
/// brings a second implementation for long lists (over 30 futures), 2 KB
/// gzip of the dashboard's wasm for the few workers here. Polls the
/// unfinished ones whenever any of them is woken.
pub(crate) async fn all_done(mut workers: Vec<Worker>) {
    futures::future::poll_fn(move |cx| {
        workers.retain_mut(|w| w.as_mut().poll(cx).is_pending());
        if workers.is_empty() { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
}

/// A timer future on the browser's `setTimeout`.
pub(crate) async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ =
                w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, i32::try_from(ms).unwrap_or(1000));
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Wall-clock milliseconds (`Date.now()`).
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl RunStore {
    /// Empty state, owned by the calling (root) component.
    pub fn new() -> Self {
        Self {
            rows: RwSignal::new(Vec::new()),
            run_id: RwSignal::new(None),
            save_error: RwSignal::new(None),
            tally: RwSignal::new(Tally::default()),
            running: RwSignal::new(false),
            cancelled: RwSignal::new(false),
            elapsed: RwSignal::new(0),
            requests: RwSignal::new(0),
            peak: RwSignal::new(0),
            stats: RwSignal::new(StatsReport::default()),
            error: RwSignal::new(None),
            saved: RwSignal::new(false),
            tick: RwSignal::new(0),
            started_at: StoredValue::new(0.0),
            folded: StoredValue::new(Stats::new()),
            controllers: StoredValue::new_local(Vec::new()),
        }
    }

    fn since_start(&self) -> Millis {
        (now_ms() - self.started_at.get_value()).max(0.0) as Millis
    }

    /// Start a run of `urls` with `options` (its `urls` field is ignored),
    /// split into chunks for the edge's `limits`, `parallel` requests at once.
    /// The run begins in a task of its own, after the click's: the click,
    /// the first page of rows and the first fetches in one task took 50–65 ms
    /// in a third of the runs on the 2-core test machine (BENCHMARKS.md).
    pub fn start(self, urls: Vec<String>, options: RunRequest, limits: &Limits, parallel: u32) {
        let limits = limits.clone();
        spawn_local(async move {
            sleep_ms(0).await;
            self.run(urls, options, &limits, parallel).await;
        });
    }

    /// Like [`RunStore::start`], but finishes when the run does.
    pub async fn run(self, urls: Vec<String>, mut options: RunRequest, limits: &Limits, parallel: u32) {
        if self.running.get_untracked() {
            return;
        }
        self.begin(&urls, &mut options);

        // One request when the list fits the edge's limit (the edge spreads
        // it over as many invocations as the concurrency needs); a longer
        // list in chunks of that limit, `parallel` at once.
        let size = limits.max_urls_per_request.max(1) as usize;
        let chunks: Vec<(u32, Vec<String>)> = urls
            .chunks(size)
            .enumerate()
            .map(|(i, c)| (u32::try_from(i * size).unwrap_or(u32::MAX), c.to_vec()))
            .collect();
        let ticker = self.ticker();
        // `parallel` chunk requests at once, each with its share of the
        // concurrency the user asked for, so together they never exceed it.
        let total = options.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1);
        let per_host = options.per_host.unwrap_or(total).max(1);
        let n_chunks = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        let workers = parallel.max(1).min(total).min(per_host).min(n_chunks.max(1));
        let shares = split_concurrency(total, workers);
        let host_shares = split_concurrency(per_host, workers);
        let queue = Rc::new(RefCell::new(VecDeque::from(chunks)));
        let loops: Vec<Worker> = (0..workers as usize)
            .map(|k| {
                let queue = queue.clone();
                let options =
                    RunRequest { concurrency: Some(shares[k]), per_host: Some(host_shares[k]), ..options.clone() };
                Box::pin(async move {
                    loop {
                        let next = queue.borrow_mut().pop_front();
                        let Some((offset, urls)) = next else { break };
                        self.run_chunk::<false>(offset, urls, options.clone(), None).await;
                    }
                }) as Worker
            })
            .collect();
        all_done(loops).await;
        if let Some(t) = ticker {
            t.clear();
        }
        self.finish();
    }

    /// Reset the state for a run of `urls` (ids from 0), under a new run id.
    fn begin(&self, urls: &[String], options: &mut RunRequest) {
        // Every chunk request saves under the same id: one logical run.
        let id = make_run_id(now_ms() as u64, (js_sys::Math::random() * f64::from(u32::MAX)) as u32);
        options.run_id = Some(id.clone());
        self.run_id.set(Some(id));
        self.save_error.set(None);
        self.set_rows(
            urls.iter()
                .enumerate()
                .map(|(i, u)| TaskView::new(u32::try_from(i).unwrap_or(u32::MAX), u.clone()))
                .collect(),
        );
        self.running.set(true);
        self.cancelled.set(false);
        self.elapsed.set(0);
        self.peak.set(0);
        self.error.set(None);
        self.saved.set(false);
        self.stats.set(StatsReport::default());
        self.folded.set_value(Stats::new());
        self.started_at.set_value(now_ms());
    }

    /// The 250 ms tick of a running run: elapsed time, statistics, redraws.
    fn ticker(self) -> Option<IntervalHandle> {
        set_interval_with_handle(
            move || {
                self.elapsed.set(self.since_start());
                self.refresh_stats();
                self.tick.update(|t| *t += 1);
            },
            Duration::from_millis(250),
        )
        .ok()
    }

    /// Crawl from `starts` (the crawl's options in `options.crawl`): one
    /// request, whose discovered URLs join the rows as they are announced;
    /// its summary's crawl report goes to `report`.
    pub fn crawl(self, starts: Vec<String>, mut options: RunRequest, report: RwSignal<Option<CrawlReport>>) {
        if self.running.get_untracked() {
            return;
        }
        spawn_local(async move {
            self.begin(&starts, &mut options);
            report.set(None);
            let ticker = self.ticker();
            // The summary's crawl report is read (DETAIL), for the refusals.
            self.run_chunk::<true>(0, starts, options, Some(report)).await;
            if let Some(t) = ticker {
                t.clear();
            }
            self.finish();
        });
    }

    /// Follow background job `id` (made at Unix ms `created_at`) from the
    /// start of its log: a page that reattaches rebuilds the whole view. A
    /// broken stream is picked up again from the last `seq` seen.
    pub fn follow_job(self, id: String, created_at: u64, report: RwSignal<Option<CrawlReport>>) {
        if self.running.get_untracked() {
            return;
        }
        spawn_local(async move {
            self.begin(&[], &mut RunRequest::default());
            self.run_id.set(Some(id.clone()));
            self.started_at.set_value(created_at as f64);
            let ticker = self.ticker();
            let Ok(controller) = web_sys::AbortController::new() else { return };
            let signal = controller.signal();
            self.controllers.update_value(|c| c.push(controller));
            let seen = Rc::new(std::cell::Cell::new(0u64));
            // The summary's elapsed time, once it came.
            let ended = Rc::new(std::cell::Cell::new(None::<Millis>));
            for _ in 0..60 {
                self.requests.update(|r| *r += 1);
                let (seen2, ended2) = (seen.clone(), ended.clone());
                let result = api::follow_job(&id, seen.get(), &signal, move |(seq, ev)| {
                    seen2.set(seen2.get().max(seq));
                    // A job's URLs arrive as events: a row for each as it is announced.
                    if let Event::Discovered { id, url, .. } | Event::Queued { id, url, .. } = &ev {
                        self.add_row(*id, url);
                    }
                    if let Event::Summary(s) = &ev {
                        ended2.set(Some(s.elapsed_ms));
                        report.set(s.crawl.clone());
                    }
                    self.apply(0, 0, ev);
                })
                .await;
                self.requests.update(|r| *r -= 1);
                if ended.get().is_some() || self.cancelled.get_untracked() {
                    break;
                }
                if let Err(ChunkError::Rejected(msg)) = result {
                    self.error.set(Some(msg));
                    break;
                }
                // The stream broke (the edge restarted, the network hiccuped):
                // the job goes on at the edge; pick it up where it was.
                sleep_ms(1000).await;
            }
            if let Some(t) = ticker {
                t.clear();
            }
            self.finish();
            // A finished job's duration is its own, not the time since it began.
            if let Some(ms) = ended.get() {
                self.elapsed.set(ms);
                self.refresh_stats();
            }
        });
    }

    async fn run_chunk<const DETAIL: bool>(
        self,
        offset: u32,
        urls: Vec<String>,
        mut options: RunRequest,
        report: Option<RwSignal<Option<CrawlReport>>>,
    ) {
        if self.cancelled.get_untracked() {
            return;
        }
        let Ok(controller) = web_sys::AbortController::new() else {
            self.error.set(Some("this browser cannot abort requests".into()));
            return;
        };
        let signal = controller.signal();
        self.controllers.update_value(|c| c.push(controller));
        let chunk_len = u32::try_from(urls.len()).unwrap_or(u32::MAX);
        options.urls = urls;
        options.run_offset = Some(offset);
        // The chunk's events count from its own start; shift them onto the run's axis.
        let zero = self.since_start();
        self.requests.update(|r| *r += 1);
        let result = api::run_chunk::<DETAIL>(&options, &signal, |ev| {
            // A crawl (the only run read in DETAIL) announces its URLs as it
            // finds them: a row for each. The dashboard's instance has none
            // of this code.
            if DETAIL {
                match &ev {
                    Event::Discovered { id, url, .. } => self.add_row(*id, url),
                    Event::Summary(s) if s.crawl.is_some() => {
                        if let Some(r) = report {
                            r.set(s.crawl.clone());
                        }
                    }
                    _ => {}
                }
            }
            self.apply(offset, zero, ev)
        })
        .await;
        self.requests.update(|r| *r -= 1);
        let t = self.since_start();
        // A crawl's rows beyond its start pages came from this request too.
        let end = if options.crawl.is_some() {
            u32::try_from(self.rows.with_untracked(Vec::len)).unwrap_or(u32::MAX)
        } else {
            offset.saturating_add(chunk_len)
        };
        let broken = |message: String| {
            for id in offset..end {
                self.change_row(id, |v| v.fail(t, ErrorKind::Network, message.clone()));
            }
        };
        match result {
            Ok(()) => broken("the edge's stream ended before this URL's outcome".into()),
            Err(_) if self.cancelled.get_untracked() => {}
            Err(ChunkError::Rejected(msg)) => {
                self.error.set(Some(msg.clone()));
                broken(msg);
            }
            Err(ChunkError::Broken(msg)) => broken(format!("connection to the edge broke: {msg}")),
        }
    }

    /// Change one row, keeping the tally and the in-flight peak right. Every
    /// change of a row's state goes through here: events and local ends alike.
    fn change_row(&self, id: u32, f: impl FnOnce(&mut TaskView) -> TaskState) {
        self.rows.with_untracked(|rows| {
            let Some(row) = rows.get(id as usize) else { return };
            let mut moved = None;
            row.view.update(|v| {
                let before = f(v);
                moved = Some((before, v.state));
            });
            if let Some((from, to)) = moved.filter(|(from, to)| from != to) {
                self.tally.update(|t| t.moved(from, to));
                let in_flight = self.tally.with_untracked(|t| t.get(TaskState::InFlight));
                if u64::from(in_flight) > self.peak.get_untracked() {
                    self.peak.set(u64::from(in_flight));
                }
            }
        });
    }

    fn apply(&self, offset: u32, zero: Millis, ev: Event) {
        let ev = ev.with_id_offset(offset);
        if let Event::Summary(s) = ev {
            if s.saved.is_some() {
                self.saved.set(true);
            }
            return;
        }
        if let Event::SaveError { message, .. } = ev {
            self.save_error.set(Some(message));
            return;
        }
        let Some(id) = ev.id() else { return };
        self.change_row(id, |v| v.apply(&ev, zero));
        self.folded.update_value(|s| s.observe(&ev));
    }

    /// A crawl announced a new URL: its row, queued, at the end (ids are
    /// dense, so a new id is the next row).
    fn add_row(&self, id: u32, url: &str) {
        if self.rows.with_untracked(Vec::len) != id as usize {
            return;
        }
        let row = Row { id, view: RwSignal::new(TaskView::new(id, url.to_owned())) };
        self.rows.update(|rows| rows.push(row));
        self.tally.update(|t| t.add(TaskState::Queued));
    }

    fn refresh_stats(&self) {
        let elapsed = self.elapsed.get_untracked();
        self.stats.set(self.folded.with_value(|s| s.report(elapsed)));
    }

    /// Stop everything: abort every request, start no more chunks, and show
    /// every unfinished URL as cancelled.
    pub fn cancel(self) {
        if !self.running.get_untracked() {
            return;
        }
        self.cancelled.set(true);
        self.controllers.update_value(|cs| cs.drain(..).for_each(|c| c.abort()));
        let t = self.since_start();
        let n = self.rows.with_untracked(Vec::len);
        for id in 0..n {
            self.change_row(u32::try_from(id).unwrap_or(u32::MAX), |v| v.cancel(t));
        }
    }

    fn finish(self) {
        self.controllers.update_value(Vec::clear);
        self.elapsed.set(self.since_start());
        self.refresh_stats();
        self.running.set(false);
        self.tick.update(|t| *t += 1);
    }

    /// Replace the rows (freeing the old rows' signals) and the tally, one row
    /// per view, ids from 0.
    fn set_rows(&self, views: Vec<TaskView>) {
        self.rows.with_untracked(|rows| rows.iter().for_each(|r| r.view.dispose()));
        let mut tally = Tally::queued(u32::try_from(views.len()).unwrap_or(u32::MAX));
        for v in &views {
            tally.moved(TaskState::Queued, v.state);
        }
        self.rows.set(
            views
                .into_iter()
                .enumerate()
                .map(|(i, v)| Row { id: u32::try_from(i).unwrap_or(u32::MAX), view: RwSignal::new(v) })
                .collect(),
        );
        self.tally.set(tally);
    }

    /// Show a finished run read-only (a saved run reopened from the
    /// history): its rows, tally and statistics, with nothing running.
    pub fn show(self, run_id: String, views: Vec<TaskView>, stats: StatsReport, elapsed: Millis) {
        self.cancel();
        let peak = fanout_shared::view::report::peak_in_flight(&views);
        self.set_rows(views);
        self.run_id.set(Some(run_id));
        self.save_error.set(None);
        self.error.set(None);
        self.running.set(false);
        self.cancelled.set(false);
        self.elapsed.set(elapsed);
        self.peak.set(u64::from(peak));
        self.stats.set(stats);
        self.tick.update(|t| *t += 1);
    }

    /// Every row's current view, for exports.
    pub fn snapshot(&self) -> Vec<TaskView> {
        self.rows.with_untracked(|rows| rows.iter().map(|r| r.view.get_untracked()).collect())
    }
}
