//! A shard: a Durable Object whose request is an invocation of its own, with
//! its own six connections, CPU and subrequests, that fetches on behalf of
//! the invocation serving a run (`fanout_shared::engine::lanes`).
//!
//! The entry opens a WebSocket to a fresh shard for each lane it needs and
//! sends it attempts ([`ToShard`]); the shard fetches each with the same
//! fetcher a one-invocation run uses (redirects checked hop by hop, the body
//! cap, extraction, links), under its own connection gate, and answers with
//! when the request went out and what came back ([`FromShard`]). It decides
//! nothing: the entry's scheduler holds the caps, retries and timeouts.
//! When the socket closes (the run ended, was cancelled, or its client went
//! away), everything still in flight is aborted.
//!
//! `GET /lane?own=ORIGIN&extract=0|1[&probe=URL&method=GET|HEAD]`, upgraded
//! to a WebSocket; with `probe`, the shard sends a load test's requests to
//! that one URL instead.
//!
//! For a background job, one shard per lane of the job (named after the job
//! and the lane) takes its batches: `POST /batch` keeps the batch in the
//! object's storage and sets its alarm, and the alarm (an invocation of its
//! own) claims each batch from the job, runs it within its grant on the
//! shared runner, asks every second whether to go on (which keeps its
//! lease), and reports every outcome in one request. The job's lease hands
//! out again whatever a shard never reported.
//!
//! Fault injection for the tests: with `[vars] TEST_FAULTS = "true"`, the
//! first attempt at a URL whose query holds `fanout_fault=shard_dies` makes
//! the shard drop its socket and everything in flight, as an invocation
//! that died would.

// The `durable_object` macro adds the JS glue's methods, undocumented.
#![allow(missing_docs, reason = "the durable_object macro's generated methods carry no docs")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use fanout_shared::engine::lanes::{FromShard, ToShard};
use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::runner::{AbortAttempt, Fetcher, Progress, Runner};
use fanout_shared::engine::scheduler::{AttemptRequest, Note};
use fanout_shared::input::target::{TargetPolicy, check_url};
use fanout_shared::jobs::consumer::BatchRun;
use fanout_shared::jobs::protocol::{BatchMessage, ClaimAnswer};
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

/// One lane's shard. See the module docs.
#[durable_object]
pub struct ShardObject {
    state: State,
    env: Env,
}

/// Batches waiting for the alarm: (batch id, message as JSON).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, msg TEXT NOT NULL)";

impl DurableObject for ShardObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        if url.path() == "/batch" {
            let msg: BatchMessage = req.json().await?;
            let sql = self.state.storage().sql();
            sql.exec(SCHEMA, None)?;
            let json = serde_json::to_string(&msg).map_err(|e| worker::Error::RustError(e.to_string()))?;
            sql.exec(
                "INSERT OR REPLACE INTO batches (id, msg) VALUES (?, ?)",
                Some(vec![
                    SqlStorageValue::Integer(i64::try_from(msg.batch).unwrap_or(0)),
                    SqlStorageValue::String(json),
                ]),
            )?;
            // Now: the batch runs in the alarm's invocation, with its own
            // connections, not in this request's (the job's hand-out).
            let storage = self.state.storage();
            if storage.get_alarm().await?.is_none() {
                storage.set_alarm(1).await?;
            }
            return Response::ok("queued");
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
        // The lane's batches one after another (they share the lane's
        // grant), each report sent while the next batch already runs; past
        // the invocation's budget, the rest wait for a fresh invocation.
        let mut used = 0usize;
        let mut reports: Vec<LocalBoxFuture<'_, ()>> = Vec::new();
        while let Some(msg) = next_batch(&sql)? {
            used += msg.urls.len() + msg.robots.len();
            let earlier = futures::future::join_all(std::mem::take(&mut reports));
            let (report, _) = futures::join!(run_batch(msg, &self.env, &settings), earlier);
            if let Some((msg, body)) = report {
                reports.push(send_report(msg, body, &self.env, &settings).boxed_local());
            }
            if used >= budget {
                self.state.storage().set_alarm(1).await?;
                break;
            }
        }
        futures::future::join_all(reports).await;
        Response::ok("ran")
    }
}

/// The lane's oldest waiting batch, taken out of storage.
fn next_batch(sql: &SqlStorage) -> Result<Option<BatchMessage>> {
    #[derive(serde::Deserialize)]
    struct Row {
        id: i64,
        msg: String,
    }
    let rows: Vec<Row> = sql.exec("SELECT id, msg FROM batches ORDER BY id LIMIT 1", None)?.to_array()?;
    let Some(row) = rows.into_iter().next() else { return Ok(None) };
    sql.exec("DELETE FROM batches WHERE id = ?", Some(vec![SqlStorageValue::Integer(row.id)]))?;
    Ok(serde_json::from_str(&row.msg).ok())
}

/// How often a running batch asks whether to go on.
const ALIVE_EVERY_MS: u64 = 1000;

async fn claim(env: &Env, settings: &Settings, msg: &BatchMessage, path: &str, method: Method) -> Option<ClaimAnswer> {
    let mut resp =
        ask(env, &settings.gate, &msg.job_id, method, &format!("{path}?batch={}", msg.batch), None).await.ok()?;
    resp.json::<ClaimAnswer>().await.ok()
}

/// Claim `msg` from its job and run it within its grant: its report, to send.
async fn run_batch(msg: BatchMessage, env: &Env, settings: &Settings) -> Option<(BatchMessage, String)> {
    let Some(answer) = claim(env, settings, &msg, "/claim", Method::Post).await else {
        console_error!("job {}: batch {} could not be claimed", msg.job_id, msg.batch);
        return None;
    };
    if !answer.go {
        return None;
    }
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
    let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
    let started = unix_ms();
    let mut runner = Runner::new(BatchRun::new(&msg, Box::new(SplitMix64::new(seed))), fetcher, EdgeClock::start());
    let mut cancel = runner.cancel_handle();
    {
        let drive = async { while runner.next().await.is_some() {} };
        let watch = async {
            loop {
                Sleep::new(ALIVE_EVERY_MS).await;
                match claim(env, settings, &msg, "/alive", Method::Get).await {
                    Some(a) if !a.go => {
                        cancel.cancel();
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
/// batch's lease, not its URLs).
async fn send_report(msg: BatchMessage, body: String, env: &Env, settings: &Settings) {
    if let Err(e) = ask(env, &settings.gate, &msg.job_id, Method::Post, "/report", Some(body)).await {
        console_error!("job {}: batch {} report failed: {}", msg.job_id, msg.batch, e.message);
    }
}

/// What a lane fetches: a run's pages, or a load test's one URL.
enum Work {
    Pages(EdgeFetcher),
    Probe(EdgeProbe),
}

/// An attempt or probe in flight, by its key, with what aborts it.
type Running = RefCell<HashMap<(u64, u32), EdgeAbort>>;

/// One lane's socket and its work in flight.
struct Lane {
    ws: WebSocket,
    work: Work,
    running: Running,
    in_flight: Rc<InFlight>,
    faults: bool,
    dead: std::cell::Cell<bool>,
}

impl Lane {
    /// Answer the socket's messages until it closes.
    fn serve(ws: WebSocket, work: Work, in_flight: Rc<InFlight>, faults: bool) -> Result<()> {
        let lane = Rc::new(Lane { ws, work, running: RefCell::default(), in_flight, faults, dead: Default::default() });
        let socket: &web_sys::WebSocket = lane.ws.as_ref();
        let on_message = {
            let lane = Rc::downgrade(&lane);
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let (Some(lane), Some(text)) = (lane.upgrade(), e.data().as_string()) else { return };
                if let Ok(msg) = serde_json::from_str::<ToShard>(&text) {
                    lane.on(msg);
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

    fn send(&self, msg: &FromShard) {
        if self.dead.get() {
            return;
        }
        if let Ok(text) = serde_json::to_string(msg) {
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
            (ToShard::Start { id, attempt, url, links, text }, Work::Pages(fetcher)) => {
                if self.faults && attempt == 1 && url.contains("fanout_fault=shard_dies") {
                    // An invocation that died: everything in flight is gone,
                    // and the entry hears only that the socket closed.
                    self.stop();
                    let _ = self.ws.close(Some(1011), Some("shard died (test fault)"));
                    return;
                }
                let req = AttemptRequest { id, attempt, url, links, text };
                let weak = Rc::downgrade(&self);
                let progress = Progress::new(move |note| {
                    if let (Note::Sent, Some(lane)) = (note, weak.upgrade()) {
                        lane.send(&FromShard::Sent { id, attempt });
                    }
                });
                let (fut, abort) = fetcher.start(&req, progress);
                self.running.borrow_mut().insert((u64::from(id), attempt), abort);
                let lane = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let result = fut.await;
                    if lane.running.borrow_mut().remove(&(u64::from(id), attempt)).is_some() {
                        lane.send(&FromShard::Result { id, attempt, result: Box::new(result) });
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
                    lane.send(&msg);
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
