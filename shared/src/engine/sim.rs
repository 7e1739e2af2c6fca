//! A virtual-time harness for the scheduler and runner (tests only).
//!
//! A [`VClock`] whose sleeps resolve only when the test advances time, and a
//! scripted fetcher whose attempts take a scripted virtual latency. The real
//! [`Runner`] drives the real [`Scheduler`] on a single-threaded executor; when
//! every task is stalled, time jumps to the next timer. Nothing sleeps.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use futures::executor::LocalPool;
use futures::future::LocalBoxFuture;
use futures::task::LocalSpawnExt;

use crate::engine::gate::Gate;
use crate::engine::retry::Rng;
use crate::engine::runner::{AbortAttempt, Clock, Fetcher, Progress, Runner};
use crate::engine::scheduler::{AttemptRequest, AttemptResult, Machine, Note, Response, Scheduler};
use crate::input::Job;
use crate::view::stats::host_key;
use crate::wire::error::FetchError;
use crate::wire::protocol::{Event, Millis, RunOptions, Summary};

#[derive(Default)]
struct ClockInner {
    now: Millis,
    timers: Vec<(Millis, Waker)>,
}

/// Virtual time.
#[derive(Clone, Default)]
pub(crate) struct VClock(Rc<RefCell<ClockInner>>);

impl VClock {
    /// Jump to the next pending timer and wake it. False when none is pending.
    pub(crate) fn advance(&self) -> bool {
        let mut inner = self.0.borrow_mut();
        let now = inner.now;
        let Some(next) = inner.timers.iter().map(|(t, _)| *t).filter(|&t| t > now).min() else {
            // Only timers already due (woken, not yet polled) or none at all.
            let due: Vec<Waker> = inner.timers.drain(..).map(|(_, w)| w).collect();
            let any = !due.is_empty();
            drop(inner);
            due.into_iter().for_each(Waker::wake);
            return any;
        };
        inner.now = next;
        let (due, rest): (Vec<_>, Vec<_>) = inner.timers.drain(..).partition(|(t, _)| *t <= next);
        inner.timers = rest;
        drop(inner);
        due.into_iter().for_each(|(_, w)| w.wake());
        true
    }
}

pub(crate) struct VSleep {
    clock: VClock,
    at: Millis,
}

impl Future for VSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.clock.0.borrow_mut();
        if inner.now >= self.at {
            Poll::Ready(())
        } else {
            inner.timers.push((self.at, cx.waker().clone()));
            Poll::Pending
        }
    }
}

impl Clock for VClock {
    type Sleep = VSleep;
    fn now(&self) -> Millis {
        self.0.borrow().now
    }
    fn sleep_until(&self, at: Millis) -> VSleep {
        VSleep { clock: self.clone(), at }
    }
}

/// What one attempt does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Script {
    /// Answer with `status` after `after` ms.
    Respond { after: Millis, status: u16, retry_after_ms: Option<u64> },
    /// Fail with a transport error after `after` ms.
    Error { after: Millis, error: FetchError },
    /// Never answer.
    Hang,
    /// Answer with `status` after `after` ms, with these links (a crawl's
    /// page) or this body text (robots.txt).
    Page { after: Millis, status: u16, links: Vec<String>, text: Option<String> },
    /// Headers (`status`) after `headers` ms, then a body that takes `body`
    /// ms more.
    Slow { headers: Millis, body: Millis, status: u16 },
    /// Answer with this response after 10 ms.
    Answer(Box<Response>),
}

impl Script {
    pub(crate) fn ok(after: Millis) -> Self {
        Self::Respond { after, status: 200, retry_after_ms: None }
    }
    pub(crate) fn status(after: Millis, status: u16) -> Self {
        Self::Respond { after, status, retry_after_ms: None }
    }
}

/// What the fake upstream saw.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// (id, attempt, start time).
    pub starts: Vec<(u32, u32, Millis)>,
    /// (id, attempt, abort time).
    pub aborts: Vec<(u32, u32, Millis)>,
    /// (URL, attempt, start time), in start order.
    pub urls: Vec<(String, u32, Millis)>,
    pub live: u32,
    pub max_live: u32,
    pub live_per_host: HashMap<String, u32>,
    pub max_live_per_host: u32,
    /// (id, attempt, time) each request really went out (through the
    /// simulated runtime's connection limit, when there is one).
    pub sent: Vec<(u32, u32, Millis)>,
    /// Requests out and waiting for their headers, now and at most.
    pub awaiting: u32,
    pub max_awaiting: u32,
}

type ScriptFn = Rc<dyn Fn(u32, u32) -> Script>;
/// A script that sees the whole request (a crawl's URLs are not known ahead).
pub(crate) type RequestScript = Rc<dyn Fn(&AttemptRequest) -> Script>;

pub(crate) struct FakeFetcher {
    clock: VClock,
    log: Rc<RefCell<Log>>,
    script: RequestScript,
    /// The simulated runtime's connection limit: requests beyond it wait
    /// inside the "runtime", as the Workers runtime makes a 7th fetch wait.
    runtime: Option<Gate>,
    /// Whether the fetcher reports [`Note`]s (a shell that does not is
    /// timed from its start).
    notes: bool,
}

/// Counts a request as waiting for its headers until they come, or it ends.
struct Awaiting(Rc<RefCell<Log>>, bool);

impl Awaiting {
    fn new(log: &Rc<RefCell<Log>>) -> Self {
        let mut l = log.borrow_mut();
        l.awaiting += 1;
        l.max_awaiting = l.max_awaiting.max(l.awaiting);
        Self(log.clone(), true)
    }

    fn end(&mut self) {
        if std::mem::replace(&mut self.1, false) {
            self.0.borrow_mut().awaiting -= 1;
        }
    }
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        self.end();
    }
}

/// Counts an attempt as live until it completes, is dropped or is aborted.
struct Live {
    log: Rc<RefCell<Log>>,
    host: String,
    counted: Rc<Cell<bool>>,
}

impl Live {
    fn end(log: &RefCell<Log>, host: &str, counted: &Cell<bool>) {
        if counted.replace(false) {
            let mut l = log.borrow_mut();
            l.live -= 1;
            if let Some(n) = l.live_per_host.get_mut(host) {
                *n -= 1;
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        Self::end(&self.log, &self.host, &self.counted);
    }
}

pub(crate) struct FakeAbort {
    clock: VClock,
    log: Rc<RefCell<Log>>,
    id: u32,
    attempt: u32,
    host: String,
    counted: Rc<Cell<bool>>,
}

impl AbortAttempt for FakeAbort {
    fn abort(self) {
        let now = self.clock.now();
        self.log.borrow_mut().aborts.push((self.id, self.attempt, now));
        Live::end(&self.log, &self.host, &self.counted);
    }
}

impl Fetcher for FakeFetcher {
    type Attempt = LocalBoxFuture<'static, AttemptResult>;
    type Abort = FakeAbort;

    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, FakeAbort) {
        let host = host_key(&req.url);
        let counted = Rc::new(Cell::new(true));
        {
            let mut l = self.log.borrow_mut();
            l.starts.push((req.id, req.attempt, self.clock.now()));
            l.urls.push((req.url.clone(), req.attempt, self.clock.now()));
            l.live += 1;
            l.max_live = l.max_live.max(l.live);
            let n = l.live_per_host.entry(host.clone()).or_default();
            *n += 1;
            let n = *n;
            l.max_live_per_host = l.max_live_per_host.max(n);
        }
        let live = Live { log: self.log.clone(), host: host.clone(), counted: counted.clone() };
        let script = (self.script)(req);
        let clock = self.clock.clone();
        let (runtime, log, notes) = (self.runtime.clone(), self.log.clone(), self.notes);
        let (id, attempt) = (req.id, req.attempt);
        let note = move |n: Note| {
            if notes {
                progress.note(n);
            }
        };
        let fut = async move {
            let _live = live;
            let permit = match &runtime {
                Some(gate) => Some(gate.acquire().await),
                None => None,
            };
            log.borrow_mut().sent.push((id, attempt, clock.now()));
            note(Note::Sent);
            let mut awaiting = Awaiting::new(&log);
            let headers = move || {
                awaiting.end();
                drop(permit);
                note(Note::Headers);
            };
            match script {
                Script::Respond { after, status, retry_after_ms } => {
                    clock.sleep_until(clock.now() + after).await;
                    headers();
                    Ok(Response { status, bytes: 1000, retry_after_ms, ..Response::default() })
                }
                Script::Error { after, error } => {
                    clock.sleep_until(clock.now() + after).await;
                    Err(error)
                }
                Script::Hang => futures::future::pending().await,
                Script::Page { after, status, links, text } => {
                    clock.sleep_until(clock.now() + after).await;
                    headers();
                    Ok(Response { status, bytes: 1000, links, text, ..Response::default() })
                }
                Script::Answer(resp) => {
                    clock.sleep_until(clock.now() + 10).await;
                    headers();
                    Ok(*resp)
                }
                Script::Slow { headers: h, body, status } => {
                    clock.sleep_until(clock.now() + h).await;
                    headers();
                    clock.sleep_until(clock.now() + body).await;
                    Ok(Response { status, bytes: 1000, ..Response::default() })
                }
            }
        };
        let abort = FakeAbort {
            clock: self.clock.clone(),
            log: self.log.clone(),
            id: req.id,
            attempt: req.attempt,
            host,
            counted,
        };
        (Box::pin(fut), abort)
    }
}

/// Everything a simulated run produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub events: Vec<Event>,
    pub log: Log,
    pub end: Millis,
}

impl Outcome {
    pub(crate) fn summary(&self) -> &Summary {
        match self.events.last() {
            Some(Event::Summary(s)) => s,
            other => panic!("last event is not a summary: {other:?}"),
        }
    }

    /// Events about one job.
    pub(crate) fn of(&self, id: u32) -> Vec<&Event> {
        self.events.iter().filter(|e| e.id() == Some(id)).collect()
    }

    pub(crate) fn terminal(&self, id: u32) -> &Event {
        self.events
            .iter()
            .rfind(|e| e.id() == Some(id) && e.is_terminal())
            .unwrap_or_else(|| panic!("job {id} never ended"))
    }
}

/// Jobs `0..n` with URLs spread over `hosts` hosts.
pub(crate) fn jobs(n: u32, hosts: u32) -> Vec<Job> {
    (0..n).map(|id| Job { id, url: format!("http://h{}.test/p/{id}", id % hosts.max(1)) }).collect()
}

/// Run `jobs` to the end in virtual time. `cancel_at` cancels through the
/// handle at that time; `drop_at` drops the whole run (a client disconnect).
pub(crate) fn simulate(
    jobs: Vec<Job>,
    opts: RunOptions,
    rng: Box<dyn Rng>,
    script: impl Fn(u32, u32) -> Script + 'static,
    cancel_at: Option<Millis>,
) -> Outcome {
    simulate_with(jobs, opts, rng, Rc::new(script), cancel_at, None)
}

pub(crate) fn simulate_with(
    jobs: Vec<Job>,
    opts: RunOptions,
    rng: Box<dyn Rng>,
    script: ScriptFn,
    cancel_at: Option<Millis>,
    drop_at: Option<Millis>,
) -> Outcome {
    let by_id: RequestScript = Rc::new(move |r: &AttemptRequest| script(r.id, r.attempt));
    simulate_machine(Scheduler::new(jobs, opts, rng), by_id, cancel_at, drop_at)
}

/// Run any [`Machine`] (a scheduler, a crawl) to the end in virtual time,
/// its attempts answered by `script`.
pub(crate) fn simulate_machine<M: Machine + 'static>(
    machine: M,
    script: RequestScript,
    cancel_at: Option<Millis>,
    drop_at: Option<Millis>,
) -> Outcome {
    simulate_on(machine, script, Platform::default(), cancel_at, drop_at)
}

/// The simulated platform a run's requests go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Platform {
    /// Requests waiting for headers at once; more wait inside the runtime
    /// (0: no limit, as under `wrangler dev`).
    pub connections: u32,
    /// Whether the shell reports when a request went out and when its
    /// headers came (the edge does).
    pub notes: bool,
}

/// [`simulate_machine`] through a simulated runtime.
pub(crate) fn simulate_on<M: Machine + 'static>(
    machine: M,
    script: RequestScript,
    platform: Platform,
    cancel_at: Option<Millis>,
    drop_at: Option<Millis>,
) -> Outcome {
    simulate_wrapped(machine, script, platform, |f| f, cancel_at, drop_at)
}

/// [`simulate_on`] with the fake fetcher wrapped by `wrap` (as a shell wraps
/// its own, e.g. in [`crate::engine::revalidate::WithPriors`]).
pub(crate) fn simulate_wrapped<M: Machine + 'static, F: Fetcher + 'static>(
    machine: M,
    script: RequestScript,
    platform: Platform,
    wrap: impl FnOnce(FakeFetcher) -> F,
    cancel_at: Option<Millis>,
    drop_at: Option<Millis>,
) -> Outcome {
    let clock = VClock::default();
    let log = Rc::new(RefCell::new(Log::default()));
    let runtime = (platform.connections > 0).then(|| Gate::new(platform.connections));
    let fetcher = FakeFetcher { clock: clock.clone(), log: log.clone(), script, runtime, notes: platform.notes };
    let mut runner = Runner::new(machine, wrap(fetcher), clock.clone());
    let mut handle = runner.cancel_handle();
    let events = Rc::new(RefCell::new(Vec::new()));
    let finished = Rc::new(Cell::new(false));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    {
        let events = events.clone();
        let finished = finished.clone();
        let clock = clock.clone();
        spawner
            .spawn_local(async move {
                let mut stop_timer: LocalBoxFuture<'static, ()> = match drop_at {
                    Some(at) => Box::pin(clock.sleep_until(at)),
                    None => Box::pin(futures::future::pending()),
                };
                loop {
                    let next = futures::future::select(runner.next(), &mut stop_timer).await;
                    match next {
                        futures::future::Either::Left((Some(ev), _)) => events.borrow_mut().push(ev),
                        futures::future::Either::Left((None, _)) => break,
                        futures::future::Either::Right(_) => {
                            drop(runner);
                            break;
                        }
                    }
                }
                finished.set(true);
            })
            .expect("spawn");
    }
    if let Some(at) = cancel_at {
        let clock = clock.clone();
        spawner
            .spawn_local(async move {
                clock.sleep_until(at).await;
                handle.cancel();
            })
            .expect("spawn");
    }
    for _ in 0..1_000_000 {
        pool.run_until_stalled();
        if finished.get() {
            break;
        }
        assert!(clock.advance(), "the run stalled with no timer pending at t={}", clock.now());
    }
    assert!(finished.get(), "the run did not finish within the step bound");
    let end = clock.now();
    drop(pool);
    let log = Rc::try_unwrap(log).map(RefCell::into_inner).expect("the run has released the log");
    let events = events.take();
    Outcome { events, log, end }
}
