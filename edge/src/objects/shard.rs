//! A shard: a Durable Object whose request is an invocation of its own, with
//! its own six connections, CPU and subrequests, that fetches on behalf of
//! the invocation serving a run (`fanout_shared::engine::lanes`).
//!
//! The entry opens a WebSocket to a fresh shard for each lane it needs and
//! sends it attempts ([`ToShard`]); the shard fetches each with the same
//! fetcher a one-invocation run uses (redirects checked hop by hop, the body
//! cap, extraction, links), under its own connection gate, and answers with
//! what came back ([`FromShard`]). It decides
//! nothing: the entry's scheduler holds the caps, retries and timeouts.
//! When the socket closes (the run ended, was cancelled, or its client went
//! away), everything still in flight is aborted.
//!
//! `GET /lane?own=ORIGIN&extract=0|1[&probe=URL&method=GET|HEAD]`, upgraded
//! to a WebSocket; with `probe`, the shard sends a load test's requests to
//! that one URL instead.
//!
//! For a background job, one shard per lane of the job (named after the job
//! and the lane) runs its batches: `POST /wake` (from the job, when it has
//! work for a lane whose shard is not working) sets the alarm, and the alarm
//! (an invocation of its own) asks the job for the lane's batches one after
//! another (`/next`, claiming each), runs each within its grant on the
//! shared runner, asks every second whether to go on (which keeps its
//! lease), and reports every outcome in one request, whose answer may carry
//! the lane's next batch. The job's lease hands out again whatever a shard
//! never reported.
//!
//! Fault injection for the tests: with `[vars] TEST_FAULTS = "true"`, the
//! first attempt at a URL whose query holds `fanout_fault=shard_dies` makes
//! the shard drop its socket and everything in flight, as an invocation
//! that died would.

// The `durable_object` macro adds the JS glue's methods, undocumented.
#![allow(missing_docs, reason = "the durable_object macro's generated methods carry no docs")]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use fanout_shared::engine::lanes::{FromShard, ToShard};
use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::revalidate::WithPriors;
use fanout_shared::engine::runner::{AbortAttempt, CancelHandle, Fetcher, Progress, Runner};
use fanout_shared::engine::scheduler::AttemptRequest;
use fanout_shared::input::target::{TargetPolicy, check_url};
use fanout_shared::jobs::consumer::BatchRun;
use fanout_shared::jobs::protocol::{BatchMessage, ClaimAnswer, LaneWake};
use fanout_shared::load::engine::{Probe, ProbeOutcome};
use fanout_shared::load::protocol::LoadMethod;
use futures::future::LocalBoxFuture;
use futures::{FutureExt, StreamExt};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use worker::{
    DurableObject, Env, Method, Request, Response, Result, SqlStorage, SqlStorageValue, State, WebSocket,
    WebSocketPair, console_error, durable_object,
};

use crate::context::Settings;
use crate::platform::clock::{EdgeClock, Sleep, unix_ms};
use crate::platform::fetch::{EdgeAbort, EdgeFetcher, EdgeProbe, InFlight};
use crate::routes::jobs::ask;
use crate::store::history::Store;

/// One lane's shard. See the module docs.
#[durable_object]
pub struct ShardObject {
    state: State,
    env: Env,
    /// The cancel handles of the batches its alarm is running (a job's
    /// lane), for `/stop`.
    running: Running,
    /// The job was cancelled: batches in hand are not started.
    stopped: std::cell::Cell<bool>,
}

/// Cancel handles of running batches, shared with `/stop`.
type Running = Rc<RefCell<Vec<std::rc::Weak<RefCell<CancelHandle>>>>>;

/// What the lane keeps for its alarm: the wake (which job, which lane), and
/// batches it claimed but had no budget left to run.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS held (k TEXT PRIMARY KEY, msg TEXT NOT NULL)";

impl DurableObject for ShardObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, running: Running::default(), stopped: std::cell::Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        if url.path() == "/stop" {
            // The job was cancelled: its running batches stop now (their
            // fetches are aborted and their URLs reported cancelled), not at
            // their next asking.
            self.stopped.set(true);
            for handle in self.running.borrow_mut().drain(..) {
                if let Some(h) = handle.upgrade() {
                    h.borrow_mut().cancel();
                }
            }
            return Response::ok("stopped");
        }
        if url.path() == "/wake" {
            let wake: LaneWake = req.json().await?;
            self.stopped.set(false);
            let sql = self.state.storage().sql();
            sql.exec(SCHEMA, None)?;
            let json = serde_json::to_string(&wake).map_err(|e| worker::Error::RustError(e.to_string()))?;
            sql.exec(
                "INSERT OR REPLACE INTO held (k, msg) VALUES ('wake', ?)",
                Some(vec![SqlStorageValue::String(json)]),
            )?;
            // The lane works in the alarm's invocation, with its own
            // connections, not in this request's (the job's).
            self.state.storage().set_alarm(1).await?;
            return Response::ok("awake");
        }
        if url.path() != "/lane" {
            return Response::error("no such shard route", 404);
        }
        let param = |k: &str| url.query_pairs().find(|(key, _)| key == k).map(|(_, v)| v.into_owned());
        let Some(own) = param("own").and_then(|o| url::Url::parse(&o).ok()) else {
            return Response::error("own origin missing", 400);
        };
        // This request is the shard's invocation: its settings, and so its
        // connection gate, are its own.
        let settings = Settings::from_env(&self.env);
        let in_flight = Rc::new(InFlight::default());
        let work = match param("probe") {
            Some(target) => {
                let Ok(target) = check_url(&target) else { return Response::error("bad probe target", 400) };
                let method =
                    if param("method").as_deref() == Some("HEAD") { LoadMethod::Head } else { LoadMethod::Get };
                Work::Probe(EdgeProbe {
                    url: target,
                    method,
                    own_origin: own,
                    max_body_bytes: settings.limits.max_body_bytes,
                    in_flight: in_flight.clone(),
                    demo_robots_status: settings.demo_robots_status,
                    gate: settings.gate.clone(),
                })
            }
            None => Work::Pages(EdgeFetcher {
                own_origin: own,
                max_body_bytes: settings.limits.max_body_bytes,
                in_flight: in_flight.clone(),
                extract: param("extract").as_deref() != Some("0"),
                policy: TargetPolicy::from_limits(&settings.limits),
                demo_robots_status: settings.demo_robots_status,
                gate: settings.gate.clone(),
            }),
        };
        let faults = self.env.var("TEST_FAULTS").is_ok_and(|v| v.to_string() == "true");
        let pair = WebSocketPair::new()?;
        pair.server.accept()?;
        Lane::serve(pair.server, work, in_flight, faults)?;
        Response::from_websocket(pair.client)
    }

    async fn alarm(&self) -> Result<Response> {
        // This alarm is the invocation: its settings, and its connections.
        let settings = Settings::from_env(&self.env);
        let budget = match settings.limits.subrequests_per_invocation {
            0 => usize::MAX,
            n => n as usize,
        };
        let sql = self.state.storage().sql();
        sql.exec(SCHEMA, None)?;
        let Some(wake) = take::<LaneWake>(&sql, "wake")? else { return Response::ok("idle") };
        // Batches claimed by an earlier invocation that spent its budget.
        let mut queue: VecDeque<BatchMessage> = take::<Vec<BatchMessage>>(&sql, "queue")?.unwrap_or_default().into();
        if queue.is_empty() {
            queue.extend(next(&self.env, &settings, &wake).await);
        }
        // The lane's batches one after another (they share the lane's
        // grant). While one runs, the next is asked for, and the report of
        // the one before goes out (its answer may carry the next too), so a
        // batch starts the moment the one before ends.
        let mut used = 0usize;
        let mut reports: Vec<LocalBoxFuture<'_, Option<BatchMessage>>> = Vec::new();
        while let Some(msg) = queue.pop_front() {
            if self.stopped.get() {
                // Cancelled: what is in hand ends with the job's cancel.
                break;
            }
            // A turn of the event loop between batches (a timer, not a
            // microtask), so requests from outside get their turn too.
            Sleep::new(0).await;
            used += msg.urls.len() + msg.robots.len();
            let ahead = async { if queue.is_empty() { next(&self.env, &settings, &wake).await } else { None } };
            let earlier = futures::future::join_all(std::mem::take(&mut reports));
            let run = run_batch(msg, &self.env, &settings, &self.running);
            let (report, ahead, answers) = futures::join!(run, ahead, earlier);
            queue.extend(ahead);
            queue.extend(answers.into_iter().flatten());
            if let Some((msg, body)) = report {
                reports.push(send_report(msg, body, &self.env, &settings).boxed_local());
            }
            if queue.is_empty() {
                // Nothing in hand: the last report's answer may bring the next.
                queue.extend(futures::future::join_all(std::mem::take(&mut reports)).await.into_iter().flatten());
            }
            if used >= budget && !queue.is_empty() {
                // The rest in a fresh invocation, with a fresh budget: what
                // it holds, and what the reports still out bring.
                queue.extend(futures::future::join_all(std::mem::take(&mut reports)).await.into_iter().flatten());
                let held: Vec<BatchMessage> = queue.drain(..).collect();
                put(&sql, "queue", &held)?;
                put(&sql, "wake", &wake)?;
                self.state.storage().set_alarm(1).await?;
                break;
            }
        }
        // Reports still out: an answer that brings a batch (claimed) is kept
        // for the next alarm rather than lost until its lease ends.
        let late: Vec<BatchMessage> = futures::future::join_all(reports).await.into_iter().flatten().collect();
        if !late.is_empty() {
            let mut held: Vec<BatchMessage> = take::<Vec<BatchMessage>>(&sql, "queue")?.unwrap_or_default();
            held.extend(late);
            put(&sql, "queue", &held)?;
            put(&sql, "wake", &wake)?;
            self.state.storage().set_alarm(1).await?;
        }
        Response::ok("ran")
    }
}

/// Take the value kept under `k` out of storage.
fn take<T: serde::de::DeserializeOwned>(sql: &SqlStorage, k: &str) -> Result<Option<T>> {
    #[derive(serde::Deserialize)]
    struct Row {
        msg: String,
    }
    let key = || vec![SqlStorageValue::String(k.to_owned())];
    let rows: Vec<Row> = sql.exec("SELECT msg FROM held WHERE k = ?", Some(key()))?.to_array()?;
    sql.exec("DELETE FROM held WHERE k = ?", Some(key()))?;
    Ok(rows.into_iter().next().and_then(|r| serde_json::from_str(&r.msg).ok()))
}

/// Keep `value` under `k` in storage.
fn put<T: serde::Serialize>(sql: &SqlStorage, k: &str, value: &T) -> Result<()> {
    let json = serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
    sql.exec(
        "INSERT OR REPLACE INTO held (k, msg) VALUES (?, ?)",
        Some(vec![SqlStorageValue::String(k.to_owned()), SqlStorageValue::String(json)]),
    )?;
    Ok(())
}

/// The lane's next batch from its job, claimed, if it has one.
async fn next(env: &Env, settings: &Settings, wake: &LaneWake) -> Option<BatchMessage> {
    let path = format!("/next?lane={}", wake.lane);
    let mut resp = ask(env, &settings.gate, &wake.job_id, Method::Get, &path, None).await.ok()?;
    resp.json::<Option<BatchMessage>>().await.ok().flatten()
}

/// How often a running batch asks whether to go on.
const ALIVE_EVERY_MS: u64 = 1000;

/// Whether batch `msg` should go on (the asking keeps its lease).
async fn alive(env: &Env, settings: &Settings, msg: &BatchMessage) -> Option<ClaimAnswer> {
    let path = format!("/alive?batch={}", msg.batch);
    let mut resp = ask(env, &settings.gate, &msg.job_id, Method::Get, &path, None).await.ok()?;
    resp.json::<ClaimAnswer>().await.ok()
}

/// Run `msg` (claimed) within its grant: its report, to send.
async fn run_batch(
    msg: BatchMessage,
    env: &Env,
    settings: &Settings,
    running: &Running,
) -> Option<(BatchMessage, String)> {
    let own_origin = msg.own_origin.as_deref().and_then(|o| url::Url::parse(o).ok())?;
    let fetcher = EdgeFetcher {
        own_origin,
        max_body_bytes: settings.limits.max_body_bytes,
        in_flight: Rc::new(InFlight::default()),
        extract: msg.options.extract,
        policy: TargetPolicy::from_limits(&settings.limits),
        demo_robots_status: settings.demo_robots_status,
        gate: settings.gate.clone(),
    };
    // A revalidating job (every watch run) asks its URLs fetched before
    // whether they changed; without a history, or when reading it fails,
    // the batch fetches in full.
    let store = msg.options.revalidate.then(|| Store::open(env, settings)).flatten();
    let priors =
        Store::priors_for(store.as_ref(), msg.options.revalidate, msg.urls.iter().map(|u| u.url.clone())).await;
    let fetcher = WithPriors::new(fetcher, priors);
    let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
    let started = unix_ms();
    let mut runner = Runner::new(BatchRun::new(&msg, Box::new(SplitMix64::new(seed))), fetcher, EdgeClock::start());
    let cancel = Rc::new(RefCell::new(runner.cancel_handle()));
    running.borrow_mut().push(Rc::downgrade(&cancel));
    {
        let drive = async { while runner.next().await.is_some() {} };
        let watch = async {
            loop {
                Sleep::new(ALIVE_EVERY_MS).await;
                match alive(env, settings, &msg).await {
                    Some(a) if !a.go => {
                        cancel.borrow_mut().cancel();
                        break;
                    }
                    _ => {}
                }
            }
        };
        futures::pin_mut!(drive, watch);
        if let futures::future::Either::Right(((), drive)) = futures::future::select(drive, watch).await {
            // Told to stop: the run cancels and ends by itself.
            drive.await;
        }
    }
    let report = runner.machine_mut().take_report(started);
    match serde_json::to_string(&report) {
        Ok(body) => Some((msg, body)),
        Err(e) => {
            console_error!("job {}: encoding a report: {e}", msg.job_id);
            None
        }
    }
}

/// Report batch `msg` to its job (a report that never arrives costs the
/// batch's lease, not its URLs); the answer is the lane's next batch, if
/// the job has one for it.
async fn send_report(msg: BatchMessage, body: String, env: &Env, settings: &Settings) -> Option<BatchMessage> {
    let path = format!("/report?lane={}", msg.grant.lane);
    match ask(env, &settings.gate, &msg.job_id, Method::Post, &path, Some(body)).await {
        Ok(mut resp) => resp.json::<Option<BatchMessage>>().await.ok().flatten(),
        Err(e) => {
            console_error!("job {}: batch {} report failed: {}", msg.job_id, msg.batch, e.message);
            None
        }
    }
}

/// What a lane fetches: a run's pages, or a load test's one URL.
enum Work {
    Pages(EdgeFetcher),
    Probe(EdgeProbe),
}

/// An attempt or probe in flight, by its key, with what aborts it.
type Fetching = RefCell<HashMap<(u64, u32), EdgeAbort>>;

/// One lane's socket and its work in flight.
struct Lane {
    ws: WebSocket,
    work: Work,
    running: Fetching,
    in_flight: Rc<InFlight>,
    faults: bool,
    dead: std::cell::Cell<bool>,
    /// Answers not yet sent: they go out together, a moment after the first
    /// (answers of one wave come close together, and each frame costs both
    /// isolates a message event).
    outbox: RefCell<Vec<FromShard>>,
}

/// How long a shard holds an answer back to send it with others: well
/// under a page's latency, long enough to gather a wave's answers.
const ANSWER_WINDOW_MS: u64 = 2;

impl Lane {
    /// Answer the socket's messages until it closes.
    fn serve(ws: WebSocket, work: Work, in_flight: Rc<InFlight>, faults: bool) -> Result<()> {
        let lane = Rc::new(Lane {
            ws,
            work,
            running: RefCell::default(),
            in_flight,
            faults,
            dead: Default::default(),
            outbox: RefCell::default(),
        });
        let socket: &web_sys::WebSocket = lane.ws.as_ref();
        let on_message = {
            let lane = Rc::downgrade(&lane);
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let (Some(lane), Some(text)) = (lane.upgrade(), e.data().as_string()) else { return };
                // A frame holds every message the entry had for this lane at once.
                if let Ok(msgs) = serde_json::from_str::<Vec<ToShard>>(&text) {
                    for msg in msgs {
                        lane.clone().on(msg);
                    }
                }
            })
        };
        // The socket closed (the run ended or was cancelled, the client went
        // away): abort what is still in flight, and let the lane go.
        let holder: Rc<RefCell<Option<Rc<Lane>>>> = Rc::new(RefCell::new(Some(lane.clone())));
        let on_close = {
            let holder = holder.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
                if let Some(lane) = holder.borrow_mut().take() {
                    lane.stop();
                }
            })
        };
        socket.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref())?;
        socket.add_event_listener_with_callback("close", on_close.as_ref().unchecked_ref())?;
        socket.add_event_listener_with_callback("error", on_close.as_ref().unchecked_ref())?;
        // The listeners live as long as the socket: the lane keeps them.
        on_message.forget();
        on_close.forget();
        Ok(())
    }

    fn send(self: &Rc<Self>, msg: FromShard) {
        if self.dead.get() {
            return;
        }
        let mut outbox = self.outbox.borrow_mut();
        if outbox.is_empty() {
            let lane = Rc::downgrade(self);
            wasm_bindgen_futures::spawn_local(async move {
                Sleep::new(ANSWER_WINDOW_MS).await;
                if let Some(lane) = lane.upgrade() {
                    lane.flush();
                }
            });
        }
        outbox.push(msg);
    }

    fn flush(&self) {
        let msgs = std::mem::take(&mut *self.outbox.borrow_mut());
        if msgs.is_empty() || self.dead.get() {
            return;
        }
        if let Ok(text) = serde_json::to_string(&msgs) {
            let _ = self.ws.send_with_str(text);
        }
    }

    fn stop(&self) {
        self.dead.set(true);
        self.in_flight.abort_all();
        self.running.borrow_mut().clear();
    }

    fn on(self: Rc<Self>, msg: ToShard) {
        if self.dead.get() {
            return;
        }
        match (msg, &self.work) {
            (ToShard::Start { id, attempt, url, links, text, prior }, Work::Pages(fetcher)) => {
                if self.faults && attempt == 1 && url.contains("fanout_fault=shard_dies") {
                    // An invocation that died: everything in flight is gone,
                    // and the entry hears only that the socket closed.
                    self.stop();
                    let _ = self.ws.close(Some(1011), Some("shard died (test fault)"));
                    return;
                }
                let req = AttemptRequest { id, attempt, url, links, text, prior };
                // No notes back: the entry keeps at most six of this lane's
                // attempts out at once, so none waits here for a connection,
                // and the entry times each from when it sent it.
                let progress = Progress::default();
                let (fut, abort) = fetcher.start(&req, progress);
                self.running.borrow_mut().insert((u64::from(id), attempt), abort);
                let lane = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let result = fut.await;
                    if lane.running.borrow_mut().remove(&(u64::from(id), attempt)).is_some() {
                        lane.send(FromShard::Result { id, attempt, result: Box::new(result) });
                    }
                });
            }
            (ToShard::Abort { id, attempt }, _) => {
                if let Some(abort) = self.running.borrow_mut().remove(&(u64::from(id), attempt)) {
                    abort.abort();
                }
            }
            (ToShard::Probe { n }, Work::Probe(probe)) => {
                let (fut, abort) = probe.start(n);
                self.running.borrow_mut().insert((n, u32::MAX), abort);
                let lane = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let outcome = fut.await;
                    if lane.running.borrow_mut().remove(&(n, u32::MAX)).is_none() {
                        return;
                    }
                    let msg = match outcome {
                        Ok(ProbeOutcome::Answered { status, bytes, latency_us }) => FromShard::Probed {
                            n,
                            status: Some(status),
                            bytes,
                            latency_us: latency_us.unwrap_or(0),
                            error: None,
                        },
                        Ok(ProbeOutcome::Failed(kind)) => {
                            FromShard::Probed { n, status: None, bytes: 0, latency_us: 0, error: Some(kind) }
                        }
                        Err(e) => FromShard::Probed { n, status: None, bytes: 0, latency_us: 0, error: Some(e.kind()) },
                    };
                    lane.send(msg);
                });
            }
            (ToShard::AbortProbe { n }, _) => {
                if let Some(abort) = self.running.borrow_mut().remove(&(n, u32::MAX)) {
                    abort.abort();
                }
            }
            // A message for the other kind of lane: nothing to do.
            (ToShard::Start { .. } | ToShard::Probe { .. }, _) => {}
        }
    }
}
