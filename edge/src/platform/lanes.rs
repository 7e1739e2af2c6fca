//! The entry's side of a fanned-out run: its attempts (or a load test's
//! requests) go to shards, one Durable Object invocation per lane, over a
//! WebSocket each (`crate::objects::shard`). Which lane takes which request
//! is `fanout_shared::engine::lanes::Lanes`; this file opens the shards,
//! sends and receives the messages, and closes them.
//!
//! - A lane's shard is opened on its first request, through the entry's own
//!   connection gate (a Durable Object request is a subrequest until its
//!   answer's headers, here the WebSocket's acceptance, arrive).
//! - A shard that spent its budget is replaced by a fresh one for the
//!   lane's next requests, and closed once its last request ends.
//! - A shard whose socket closes under it (it died) fails what it had in
//!   flight with a network error, which the scheduler retries like any
//!   other, on whichever lane has room; the lane opens a fresh shard.
//! - Closing the pool (the run ended, was cancelled, or its client went
//!   away) closes every socket, and each shard aborts what it had.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::{Rc, Weak};

use fanout_shared::FetchError;
use fanout_shared::engine::gate::Gate;
use fanout_shared::engine::lanes::{FromShard, Lanes, Pick, ToShard};
use fanout_shared::engine::runner::{AbortAttempt, Fetcher, Progress};
use fanout_shared::engine::scheduler::{AttemptRequest, AttemptResult, Note};
use fanout_shared::load::engine::{Probe, ProbeOutcome};
use fanout_shared::wire::error::ErrorKind;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::{LocalBoxFuture, Shared};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use worker::{Env, Request, RequestInit, WebSocket};

/// What a request waits for: an attempt's result, or a probe's answer.
enum Reply {
    Attempt(Box<AttemptResult>),
    Probe(Box<FromShard>),
}

/// A request's key on its shard: (URL id or probe number, attempt).
type Key = (u64, u32);

/// The key probes use for their attempt half.
const PROBE: u32 = u32::MAX;

/// One shard's open socket and what waits on it.
struct Conn {
    ws: WebSocket,
    waiting: RefCell<HashMap<Key, oneshot::Sender<Reply>>>,
    closed: Cell<bool>,
    /// No new requests go here (its budget is spent, or the run is over):
    /// close once nothing waits.
    retired: Cell<bool>,
    /// Messages for the shard, sent together once the current turn is over:
    /// the attempts a scheduler starts at once go in one frame.
    outbox: RefCell<Vec<ToShard>>,
}

impl Conn {
    /// Queue `msg` for the shard; the frame goes out at the end of this turn.
    fn send(self: &Rc<Self>, msg: ToShard) -> bool {
        if self.closed.get() {
            return false;
        }
        let mut outbox = self.outbox.borrow_mut();
        if outbox.is_empty() {
            let conn = Rc::downgrade(self);
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(conn) = conn.upgrade() {
                    conn.flush();
                }
            });
        }
        outbox.push(msg);
        true
    }

    fn flush(&self) {
        let msgs = std::mem::take(&mut *self.outbox.borrow_mut());
        if msgs.is_empty() || self.closed.get() {
            return;
        }
        if let Ok(text) = serde_json::to_string(&msgs) {
            let _ = self.ws.send_with_str(text);
        }
    }

    fn close(&self) {
        if !self.closed.replace(true) {
            let _ = self.ws.close(Some(1000), Some("run over"));
        }
        self.fail_all("the run's shard closed");
    }

    fn fail_all(&self, why: &str) {
        let waiting: Vec<_> = self.waiting.borrow_mut().drain().collect();
        for (_, tx) in waiting {
            let _ = tx.send(Reply::Attempt(Box::new(Err(FetchError::Network(why.to_owned())))));
        }
    }

    fn close_if_idle(&self) {
        if self.retired.get() && self.waiting.borrow().is_empty() {
            self.close();
        }
    }
}

type Opening = Shared<LocalBoxFuture<'static, Result<Rc<Conn>, String>>>;

/// The shards of one run (or load test). Cloning shares them.
#[derive(Clone)]
pub struct Pool(Rc<PoolInner>);

struct PoolInner {
    env: Env,
    /// `/lane?…` with the run's settings for its shards.
    path: String,
    lanes: RefCell<Lanes>,
    conns: RefCell<HashMap<(usize, u32), Opening>>,
    /// The entry's own connections: opening a shard holds one.
    gate: Gate,
    closed: Cell<bool>,
}

/// A handle on a [`Pool`] that does not keep it alive.
pub struct WeakPool(Weak<PoolInner>);

impl WeakPool {
    /// Close the pool, if the run is still there.
    pub fn close(&self) {
        if let Some(p) = self.0.upgrade() {
            Pool(p).close();
        }
    }
}

impl Pool {
    /// A pool of `lanes`, whose shards are opened at `path` (the shard's
    /// route with its query) through the `SHARD` binding.
    pub fn new(env: Env, lanes: Lanes, path: String, gate: Gate) -> Self {
        Self(Rc::new(PoolInner {
            env,
            path,
            lanes: RefCell::new(lanes),
            conns: RefCell::default(),
            gate,
            closed: Cell::new(false),
        }))
    }

    /// Shards opened so far.
    pub fn invocations(&self) -> u32 {
        self.0.lanes.borrow().invocations()
    }

    /// Close every shard: each aborts what it still has in flight, and
    /// nothing more goes out.
    pub fn close(&self) {
        self.0.closed.set(true);
        let conns: Vec<Opening> = self.0.conns.borrow_mut().drain().map(|(_, c)| c).collect();
        for opening in conns {
            match opening.peek() {
                Some(Ok(conn)) => conn.close(),
                // Still opening: close it as soon as it is open.
                None => wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(conn) = opening.await {
                        conn.close();
                    }
                }),
                Some(Err(_)) => {}
            }
        }
    }

    /// A handle that closes the pool without keeping the run alive (the
    /// disconnect watcher's).
    pub fn weak(&self) -> WeakPool {
        WeakPool(Rc::downgrade(&self.0))
    }

    /// The open (or opening) connection of `pick`'s shard.
    fn conn(&self, pick: Pick) -> Opening {
        if self.0.closed.get() {
            return futures::future::ready(Err("the run is over".to_owned())).boxed_local().shared();
        }
        if let Some(c) = self.0.conns.borrow().get(&(pick.lane, pick.generation)) {
            return c.clone();
        }
        // A new generation of the lane: the old shard takes no more.
        let older: Vec<Opening> = self
            .0
            .conns
            .borrow()
            .iter()
            .filter(|((lane, g), _)| *lane == pick.lane && *g < pick.generation)
            .map(|(_, c)| c.clone())
            .collect();
        for c in older {
            if let Some(Ok(conn)) = c.peek() {
                conn.retired.set(true);
                conn.close_if_idle();
            }
        }
        let opening = open(Rc::downgrade(&self.0), pick).boxed_local().shared();
        self.0.conns.borrow_mut().insert((pick.lane, pick.generation), opening.clone());
        opening
    }

    /// Send `msg` on `pick`'s shard and wait for the reply under `key`.
    fn request(&self, pick: Pick, key: Key, msg: ToShard, progress: Progress) -> impl Future<Output = Reply> + 'static {
        let opening = self.conn(pick);
        let pool = self.clone();
        // Taken now, not at the first poll: an attempt aborted before it was
        // ever polled still gives its place back.
        let slot = LaneSlot { pool: pool.clone(), lane: pick.lane };
        async move {
            let _slot = slot;
            let conn = match opening.await {
                Ok(c) => c,
                Err(e) => {
                    pool.lose(pick);
                    return Reply::Attempt(Box::new(Err(FetchError::Network(format!("no shard: {e}")))));
                }
            };
            let (tx, rx) = oneshot::channel();
            conn.waiting.borrow_mut().insert(key, tx);
            if !conn.send(msg) {
                conn.waiting.borrow_mut().remove(&key);
                return Reply::Attempt(Box::new(Err(FetchError::Network("the shard's socket is closed".into()))));
            }
            // It goes out now (the shard never holds it back: its lane has
            // at most its connections out), so its timeout starts now, not
            // when it waited for the shard to open.
            progress.note(Note::Sent);
            let reply =
                rx.await.unwrap_or_else(|_| Reply::Attempt(Box::new(Err(FetchError::Network("shard gone".into())))));
            conn.close_if_idle();
            reply
        }
    }

    /// Abort the request under `key` on `pick`'s shard.
    fn abort(&self, pick: Pick, key: Key, msg: ToShard) {
        if let Some(Some(Ok(conn))) = self.0.conns.borrow().get(&(pick.lane, pick.generation)).map(Shared::peek) {
            if conn.waiting.borrow_mut().remove(&key).is_some() {
                conn.send(msg);
            }
            conn.close_if_idle();
        }
    }

    fn lose(&self, pick: Pick) {
        self.0.lanes.borrow_mut().lost(pick);
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // The run is over (or dropped with its client): every shard closes.
        for (_, opening) in self.conns.get_mut().drain() {
            if let Some(Ok(conn)) = opening.peek() {
                conn.close();
            }
        }
    }
}

/// A request's place on its lane, given back when it ends however it ends.
struct LaneSlot {
    pool: Pool,
    lane: usize,
}

impl Drop for LaneSlot {
    fn drop(&mut self) {
        self.pool.0.lanes.borrow_mut().done(self.lane);
    }
}

/// Open `pick`'s shard: a fresh Durable Object, its `/lane` route upgraded
/// to a WebSocket, then listen to what it says.
async fn open(pool: Weak<PoolInner>, pick: Pick) -> Result<Rc<Conn>, String> {
    let (env, path, gate) = {
        let p = pool.upgrade().ok_or("the run is over")?;
        (p.env.clone(), p.path.clone(), p.gate.clone())
    };
    let err = |e: worker::Error| e.to_string();
    let ns = env.durable_object("SHARD").map_err(err)?;
    let stub = ns.unique_id().map_err(err)?.get_stub().map_err(err)?;
    let mut init = RequestInit::new();
    let headers = worker::Headers::new();
    headers.set("upgrade", "websocket").map_err(err)?;
    init.headers = headers;
    let req = Request::new_with_init(&format!("https://shard{path}"), &init).map_err(err)?;
    let resp = {
        let _held = gate.acquire().await;
        stub.fetch_with_request(req).await.map_err(err)?
    };
    let ws = resp.websocket().ok_or("the shard did not accept")?;
    ws.accept().map_err(err)?;
    let conn = Rc::new(Conn {
        ws,
        waiting: RefCell::default(),
        closed: Cell::new(false),
        retired: Cell::new(false),
        outbox: RefCell::default(),
    });
    listen(&conn, pool, pick).map_err(err)?;
    Ok(conn)
}

/// Route the shard's messages to the requests waiting for them; when its
/// socket closes under them, fail them and let the lane open a fresh shard.
fn listen(conn: &Rc<Conn>, pool: Weak<PoolInner>, pick: Pick) -> worker::Result<()> {
    let socket: &web_sys::WebSocket = conn.ws.as_ref();
    let on_message = {
        let conn = Rc::downgrade(conn);
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let (Some(conn), Some(text)) = (conn.upgrade(), e.data().as_string()) else { return };
            // A frame holds every answer the shard had ready at once.
            let Ok(msgs) = serde_json::from_str::<Vec<FromShard>>(&text) else { return };
            for msg in msgs {
                match msg {
                    FromShard::Result { id, attempt, result } => {
                        let waiter = conn.waiting.borrow_mut().remove(&(u64::from(id), attempt));
                        if let Some(tx) = waiter {
                            let _ = tx.send(Reply::Attempt(result));
                        }
                    }
                    probed @ FromShard::Probed { .. } => {
                        let FromShard::Probed { n, .. } = probed else { continue };
                        let waiter = conn.waiting.borrow_mut().remove(&(n, PROBE));
                        if let Some(tx) = waiter {
                            let _ = tx.send(Reply::Probe(Box::new(probed)));
                        }
                    }
                }
            }
        })
    };
    let on_close = {
        let conn = Rc::downgrade(conn);
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
            let Some(conn) = conn.upgrade() else { return };
            if conn.closed.replace(true) {
                return; // closed by us
            }
            // Closed under its requests: the shard died.
            if let Some(pool) = pool.upgrade() {
                Pool(pool).lose(pick);
            }
            conn.fail_all("the shard went away mid-request");
        })
    };
    socket.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref())?;
    socket.add_event_listener_with_callback("close", on_close.as_ref().unchecked_ref())?;
    socket.add_event_listener_with_callback("error", on_close.as_ref().unchecked_ref())?;
    // They live as long as the socket, which holds them.
    on_message.forget();
    on_close.forget();
    Ok(())
}

/// A run's attempts, fetched by its shards. The scheduler's caps decide
/// what starts; the lanes decide where.
pub struct ShardFetcher {
    /// The run's shards.
    pub pool: Pool,
}

/// Aborts an attempt on its shard.
pub struct ShardAbort {
    pool: Pool,
    at: Option<(Pick, Key)>,
    msg: ToShard,
}

impl AbortAttempt for ShardAbort {
    fn abort(self) {
        if let Some((pick, key)) = self.at {
            self.pool.abort(pick, key, self.msg);
        }
    }
}

impl Fetcher for ShardFetcher {
    type Attempt = LocalBoxFuture<'static, AttemptResult>;
    type Abort = ShardAbort;

    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, ShardAbort) {
        let abort_msg = ToShard::Abort { id: req.id, attempt: req.attempt };
        let Some(pick) = self.pool.0.lanes.borrow_mut().pick() else {
            let e = FetchError::Network("no shard has a free connection".into());
            return (
                futures::future::ready(Err(e)).boxed_local(),
                ShardAbort { pool: self.pool.clone(), at: None, msg: abort_msg },
            );
        };
        let key = (u64::from(req.id), req.attempt);
        let msg = ToShard::Start {
            id: req.id,
            attempt: req.attempt,
            url: req.url.clone(),
            links: req.links,
            text: req.text,
            prior: req.prior.clone(),
        };
        let fut = self.pool.request(pick, key, msg, progress).map(|reply| match reply {
            Reply::Attempt(r) => *r,
            Reply::Probe(_) => Err(FetchError::Network("unexpected answer from the shard".into())),
        });
        (fut.boxed_local(), ShardAbort { pool: self.pool.clone(), at: Some((pick, key)), msg: abort_msg })
    }
}

/// A load test's requests, sent by its shards.
pub struct ShardProbe {
    /// The test's shards.
    pub pool: Pool,
}

impl Probe for ShardProbe {
    type Fut = LocalBoxFuture<'static, Result<ProbeOutcome, FetchError>>;
    type Abort = ShardAbort;

    fn start(&self, n: u64) -> (Self::Fut, ShardAbort) {
        let abort_msg = ToShard::AbortProbe { n };
        let Some(pick) = self.pool.0.lanes.borrow_mut().pick() else {
            let e = FetchError::Network("no shard has a free connection".into());
            return (
                futures::future::ready(Err(e)).boxed_local(),
                ShardAbort { pool: self.pool.clone(), at: None, msg: abort_msg },
            );
        };
        let key = (n, PROBE);
        let fut = self.pool.request(pick, key, ToShard::Probe { n }, Progress::default()).map(|reply| match reply {
            Reply::Probe(probed) => match *probed {
                FromShard::Probed { status: Some(status), bytes, latency_us, .. } => {
                    Ok(ProbeOutcome::Answered { status, bytes, latency_us: Some(latency_us) })
                }
                FromShard::Probed { error, .. } => Ok(ProbeOutcome::Failed(error.unwrap_or(ErrorKind::Network))),
                _ => Err(FetchError::Network("unexpected answer from the shard".into())),
            },
            Reply::Attempt(r) => match *r {
                Err(e) => Err(e),
                Ok(_) => Err(FetchError::Network("unexpected answer from the shard".into())),
            },
        });
        (fut.boxed_local(), ShardAbort { pool: self.pool.clone(), at: Some((pick, key)), msg: abort_msg })
    }
}

/// A run's fetching: here, in the invocation serving it, or on its shards.
pub enum Either<H, S> {
    /// In this invocation, with its own connections.
    Here(H),
    /// Spread over shards.
    Shards(S),
}

impl<H: AbortAttempt, S: AbortAttempt> AbortAttempt for Either<H, S> {
    fn abort(self) {
        match self {
            Self::Here(a) => a.abort(),
            Self::Shards(a) => a.abort(),
        }
    }
}

impl<H: Fetcher, S: Fetcher> Fetcher for Either<H, S> {
    type Attempt = LocalBoxFuture<'static, AttemptResult>;
    type Abort = Either<H::Abort, S::Abort>;

    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, Self::Abort) {
        match self {
            Self::Here(f) => {
                let (fut, abort) = f.start(req, progress);
                (fut.boxed_local(), Either::Here(abort))
            }
            Self::Shards(f) => {
                let (fut, abort) = f.start(req, progress);
                (fut.boxed_local(), Either::Shards(abort))
            }
        }
    }
}

impl<H: Probe, S: Probe> Probe for Either<H, S> {
    type Fut = LocalBoxFuture<'static, Result<ProbeOutcome, FetchError>>;
    type Abort = Either<H::Abort, S::Abort>;

    fn start(&self, n: u64) -> (Self::Fut, Self::Abort) {
        match self {
            Self::Here(p) => {
                let (fut, abort) = p.start(n);
                (fut.boxed_local(), Either::Here(abort))
            }
            Self::Shards(p) => {
                let (fut, abort) = p.start(n);
                (fut.boxed_local(), Either::Shards(abort))
            }
        }
    }
}
