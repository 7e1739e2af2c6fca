//! The async loop around the [`Scheduler`]: a `Stream` of events that drives
//! real fetches and timers through two small traits.
//!
//! The shells implement [`Fetcher`] ("fetch this, and here is how to abort it")
//! and [`Clock`] ("what time is it, wake me at"). The edge uses `worker::Fetch`
//! with an `AbortController` and `worker::Delay`; tests use a virtual clock.
//! Nothing here needs `Send` or a particular executor: Workers and browsers run
//! one event loop, and `futures` is all it takes.
//!
//! The stream is the run. Polling it makes progress; dropping it (the client
//! went away) aborts every attempt still in flight, so nothing keeps running
//! for nobody.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable, Aborted, LocalBoxFuture};
use futures::stream::{FuturesUnordered, Stream};
use futures::{FutureExt, StreamExt};

use crate::engine::scheduler::{Action, AttemptRequest, AttemptResult, Machine, Note, Scheduler};
use crate::wire::protocol::{Event, Millis};

/// Aborts one attempt's underlying request (for example an
/// `AbortController`). Dropping a fetch future is not enough in browsers and
/// Workers: the request goes on unless it is aborted.
pub trait AbortAttempt {
    /// Abort the request. Called at most once.
    fn abort(self);
}

/// Nothing to abort (fetchers whose futures stop when dropped).
impl AbortAttempt for () {
    fn abort(self) {}
}

/// How a fetcher tells the run about an attempt before its result: when
/// the request really went out ([`Note::Sent`]: it had a connection, its
/// timeout starts) and when its response headers came ([`Note::Headers`]:
/// its connection is free while the body is read). A fetcher that says
/// nothing is timed from its start and holds its connection to the end.
#[derive(Clone, Default)]
pub struct Progress(Option<Rc<dyn Fn(Note)>>);

impl Progress {
    /// Notes go to `f`.
    pub fn new(f: impl Fn(Note) + 'static) -> Self {
        Self(Some(Rc::new(f)))
    }

    /// Report `note`.
    pub fn note(&self, note: Note) {
        if let Some(f) = &self.0 {
            f(note);
        }
    }
}

impl core::fmt::Debug for Progress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Progress")
    }
}

/// "Fetch this": starts one attempt.
pub trait Fetcher {
    /// The attempt's future: resolves once headers and body are in (or failed).
    type Attempt: Future<Output = AttemptResult> + 'static;
    /// The handle that aborts it.
    type Abort: AbortAttempt;
    /// Start `req` now, reporting its progress through `progress`.
    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, Self::Abort);
}

/// Notes from attempts in flight, waiting for the runner's next turn.
#[derive(Default)]
struct Inbox {
    notes: RefCell<VecDeque<(u32, u32, Note)>>,
    waker: RefCell<Option<Waker>>,
}

impl Inbox {
    fn progress(self: &Rc<Self>, id: u32, attempt: u32) -> Progress {
        let inbox = Rc::downgrade(self);
        Progress::new(move |note| {
            let Some(inbox) = inbox.upgrade() else { return };
            inbox.notes.borrow_mut().push_back((id, attempt, note));
            if let Some(w) = inbox.waker.borrow_mut().take() {
                w.wake();
            }
        })
    }
}

/// "What time is it, and wake me at": the run's clock, in milliseconds since
/// the run started.
pub trait Clock {
    /// A timer future.
    type Sleep: Future<Output = ()>;
    /// Milliseconds since the run started.
    fn now(&self) -> Millis;
    /// Microseconds since the run started, for latency measurements. Clocks
    /// without a finer source count whole milliseconds.
    fn now_us(&self) -> u64 {
        self.now() * 1000
    }
    /// A future that resolves at `at`.
    fn sleep_until(&self, at: Millis) -> Self::Sleep;
}

/// Asks a running [`Runner`] to cancel: every unfinished URL then reports
/// `cancelled` and the summary follows.
#[derive(Debug)]
pub struct CancelHandle(Option<oneshot::Sender<()>>);

impl CancelHandle {
    pub(crate) fn new(tx: oneshot::Sender<()>) -> Self {
        Self(Some(tx))
    }

    /// Cancel the run. Later calls do nothing.
    pub fn cancel(&mut self) {
        if let Some(tx) = self.0.take() {
            // The run may already be over; then there is nothing to cancel.
            let _ = tx.send(());
        }
    }
}

type Tagged = Abortable<LocalBoxFuture<'static, (u32, u32, AttemptResult)>>;

/// A run in progress, as a stream of wire events. See the module docs.
/// `M` is what plans the run: a [`Scheduler`], or a crawl built on one.
pub struct Runner<F: Fetcher, C: Clock, M: Machine = Scheduler> {
    sched: M,
    fetcher: F,
    clock: C,
    in_flight: FuturesUnordered<Tagged>,
    aborts: HashMap<(u32, u32), (F::Abort, AbortHandle)>,
    sleep: Option<(Millis, Pin<Box<C::Sleep>>)>,
    cancel: Option<oneshot::Receiver<()>>,
    inbox: Rc<Inbox>,
    kicked: bool,
}

impl<F: Fetcher, C: Clock, M: Machine> Runner<F, C, M> {
    /// A run of `sched`'s jobs through `fetcher`, timed by `clock`.
    pub fn new(sched: M, fetcher: F, clock: C) -> Self {
        Self {
            sched,
            fetcher,
            clock,
            in_flight: FuturesUnordered::new(),
            aborts: HashMap::new(),
            sleep: None,
            cancel: None,
            inbox: Rc::default(),
            kicked: false,
        }
    }

    /// A handle that cancels this run.
    pub fn cancel_handle(&mut self) -> CancelHandle {
        let (tx, rx) = oneshot::channel();
        self.cancel = Some(rx);
        CancelHandle(Some(tx))
    }

    /// Attempts in flight right now.
    pub fn in_flight(&self) -> u32 {
        self.sched.in_flight()
    }

    /// What plans the run (a consumer takes its report from it at the end).
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.sched
    }

    fn apply_actions(&mut self) {
        while let Some(action) = self.sched.poll_action() {
            match action {
                Action::Start(req) => {
                    let progress = self.inbox.progress(req.id, req.attempt);
                    let (fut, abort) = self.fetcher.start(&req, progress);
                    let (handle, reg) = AbortHandle::new_pair();
                    let (id, attempt) = (req.id, req.attempt);
                    let tagged = fut.map(move |r| (id, attempt, r)).boxed_local();
                    self.in_flight.push(Abortable::new(tagged, reg));
                    self.aborts.insert((id, attempt), (abort, handle));
                }
                Action::Abort { id, attempt } => {
                    if let Some((abort, handle)) = self.aborts.remove(&(id, attempt)) {
                        abort.abort();
                        handle.abort();
                    }
                }
            }
        }
    }
}

impl<F: Fetcher, C: Clock, M: Machine> Unpin for Runner<F, C, M> {}

impl<F: Fetcher, C: Clock, M: Machine> Stream for Runner<F, C, M> {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = &mut *self;
        if !this.kicked {
            this.kicked = true;
            this.sched.handle_timeout(this.clock.now());
            this.apply_actions();
        }
        loop {
            if let Some(ev) = this.sched.poll_event() {
                return Poll::Ready(Some(ev));
            }
            if this.sched.is_finished() {
                return Poll::Ready(None);
            }
            let note = this.inbox.notes.borrow_mut().pop_front();
            if let Some((id, attempt, note)) = note {
                this.sched.on_note(this.clock.now(), id, attempt, note);
                this.apply_actions();
                continue;
            }
            {
                let mut waker = this.inbox.waker.borrow_mut();
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
            }
            if let Some(rx) = this.cancel.as_mut() {
                match rx.poll_unpin(cx) {
                    Poll::Ready(Ok(())) => {
                        this.cancel = None;
                        this.sched.cancel(this.clock.now());
                        this.apply_actions();
                        continue;
                    }
                    // The handle was dropped without cancelling.
                    Poll::Ready(Err(_)) => this.cancel = None,
                    Poll::Pending => {}
                }
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok((id, attempt, result)))) => {
                    this.aborts.remove(&(id, attempt));
                    this.sched.on_result(this.clock.now(), id, attempt, result);
                    this.apply_actions();
                    continue;
                }
                Poll::Ready(Some(Err(Aborted))) => continue,
                Poll::Ready(None) | Poll::Pending => {}
            }
            let Some(at) = this.sched.poll_timeout() else {
                return Poll::Pending;
            };
            let now = this.clock.now();
            if at <= now {
                this.sched.handle_timeout(now);
                this.apply_actions();
                continue;
            }
            // A timer already set for no later than `at` is kept: it wakes
            // the run, which then sets the next one. Replacing the timer
            // whenever the earliest deadline moved (every attempt that ends
            // moves it) cost a setTimeout and a clearTimeout per event.
            let fresh = this.sleep.as_ref().is_none_or(|(t, _)| *t > at);
            if fresh {
                this.sleep = Some((at, Box::pin(this.clock.sleep_until(at))));
            }
            if let Some((_, sleep)) = this.sleep.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                this.sleep = None;
                if fresh {
                    // A timer that is done before it was ever waited on (the
                    // runtime would not set it): act as if its time had come,
                    // rather than set it again and again without yielding.
                    this.sched.handle_timeout(at);
                    this.apply_actions();
                }
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl<F: Fetcher, C: Clock, M: Machine> Drop for Runner<F, C, M> {
    fn drop(&mut self) {
        // The consumer went away (client disconnect): abort every request
        // still in flight rather than let it run for nobody.
        for (_, (abort, handle)) in self.aborts.drain() {
            abort.abort();
            handle.abort();
        }
    }
}

/// A run's events with a [`Event::Heartbeat`] whenever the stream has been
/// quiet for `every` ms. Workers (and `wrangler dev`) only notice that the
/// client closed its connection when they next write to it; the heartbeat
/// makes that happen within `every` ms, so the response is cancelled and the
/// run stopped, instead of running on until the next real event. Ends when
/// `events` ends.
pub struct WithHeartbeat<S, C: Clock> {
    events: S,
    clock: C,
    every: Millis,
    last: Millis,
    sleep: Option<Pin<Box<C::Sleep>>>,
    ended: bool,
}

impl<S: Stream<Item = Event> + Unpin, C: Clock> WithHeartbeat<S, C> {
    /// Wrap `events`; `clock` is the run's clock.
    pub fn new(events: S, clock: C, every: Millis) -> Self {
        let last = clock.now();
        Self { events, clock, every: every.max(1), last, sleep: None, ended: false }
    }
}

impl<S: Stream<Item = Event> + Unpin, C: Clock + Unpin> Stream for WithHeartbeat<S, C> {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.events.poll_next_unpin(cx) {
            Poll::Ready(Some(ev)) => {
                // The timer stays: when it fires, it is set again from the
                // last event (one timer per quiet gap, not one per event).
                this.last = this.clock.now();
                return Poll::Ready(Some(ev));
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.sleep = None;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let due = this.last + this.every;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(this.clock.sleep_until(due)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.sleep = None;
        let now = this.clock.now();
        if now < due {
            // Something was sent since the timer was set: wait out the rest.
            let mut rest = Box::pin(this.clock.sleep_until(due));
            if rest.as_mut().poll(cx).is_pending() {
                this.sleep = Some(rest);
                return Poll::Pending;
            }
            // A timer done before it was waited on (the runtime would not
            // set it): beat now rather than set it again and again.
        }
        this.last = now;
        Poll::Ready(Some(Event::Heartbeat { t: now }))
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    use super::*;
    use crate::engine::sim::VClock;

    /// Events at the given virtual times (ms), through the heartbeat, with
    /// the time each item came out.
    fn run(at: &[Millis], every: Millis) -> Vec<(Millis, &'static str)> {
        let clock = VClock::default();
        let times = at.to_vec();
        let c = clock.clone();
        let events = futures::stream::unfold(0usize, move |i| {
            let c = c.clone();
            let t = times.get(i).copied();
            async move {
                let t = t?;
                c.sleep_until(t).await;
                Some((Event::Cancelled { id: 0, url: String::new(), t }, i + 1))
            }
        });
        let mut beat = WithHeartbeat::new(Box::pin(events), clock.clone(), every);
        let out = Rc::new(RefCell::new(Vec::new()));
        let (o, c) = (out.clone(), clock.clone());
        let mut pool = LocalPool::new();
        pool.spawner()
            .spawn_local(async move {
                while let Some(ev) = beat.next().await {
                    let kind = if matches!(ev, Event::Heartbeat { .. }) { "heartbeat" } else { "event" };
                    o.borrow_mut().push((c.now(), kind));
                }
                o.borrow_mut().push((c.now(), "end"));
            })
            .expect("spawn");
        for _ in 0..10_000 {
            pool.run_until_stalled();
            if out.borrow().last().is_some_and(|l| l.1 == "end") {
                break;
            }
            assert!(clock.advance(), "stalled");
        }
        out.take()
    }

    #[test]
    fn heartbeats_fill_only_the_quiet_gaps() {
        let got = run(&[0, 100, 1000, 1100, 1200], 250);
        assert_eq!(
            got,
            vec![
                (0, "event"),
                (100, "event"),
                (350, "heartbeat"),
                (600, "heartbeat"),
                (850, "heartbeat"),
                (1000, "event"),
                (1100, "event"),
                (1200, "event"),
                (1200, "end"),
            ]
        );
    }

    #[test]
    fn a_busy_stream_has_no_heartbeats_and_a_quiet_one_ends_cleanly() {
        let busy: Vec<Millis> = (0..40).map(|i| i * 100).collect();
        assert!(run(&busy, 250).iter().all(|(_, k)| *k != "heartbeat"));
        assert_eq!(run(&[], 250), vec![(0, "end")]);
    }
}
