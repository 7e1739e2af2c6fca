//! The load test's engine: the HDR latency histogram, the sans-IO state
//! machine and the async loop around it.
//!
//! - [`LoadEngine`] says when a request may start, takes results and the
//!   time, enforces the per-request timeout and the duration, and emits
//!   [`LoadEvent`]s. Time (microseconds) is an input.
//! - [`LoadRunner`] drives it through a [`Probe`] and a [`Clock`] supplied by a
//!   shell, like [`crate::engine::runner::Runner`] does for runs.
//! - [`Latency`] wraps an HDR histogram (the `hdrhistogram` crate, without its
//!   default features so it builds for wasm32). Its wire form is a list of
//!   `[value_us, count]` buckets, which clients merge exactly: a browser that
//!   splits a big test over several edge requests adds their histograms up.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::{AbortHandle, Abortable, Aborted, LocalBoxFuture};
use futures::stream::{FuturesUnordered, Stream};
use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;

use crate::engine::runner::{AbortAttempt, Clock};
use crate::load::plan::LoadPlan;
use crate::load::protocol::{
    LoadCounts, LoadEvent, LoadSnapshot, LoadSummary, Micros, Percentiles, SNAPSHOT_EVERY_MS, StopReason,
};
use crate::wire::error::{ErrorKind, FetchError};

/// Largest latency the histogram tells apart: one hour. Longer ones are
/// recorded as one hour (no request lives that long: timeouts are capped).
const HIST_MAX_US: u64 = 3_600_000_000;
/// Significant figures the histogram keeps: values are exact to 0.1%.
const HIST_SIGFIG: u8 = 3;

/// Request latencies in an HDR histogram (microseconds, 3 significant figures).
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        // Constant, valid bounds: 1 ≤ 1 h, 3 significant figures.
        Self(Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).unwrap_or_else(|_| unreachable!()))
    }

    /// Record one latency.
    pub fn record(&mut self, us: Micros) {
        self.0.saturating_record(us);
    }

    /// Add a wire histogram (`[value_us, count]` buckets) into this one.
    pub fn add_buckets(&mut self, buckets: &[[u64; 2]]) {
        for &[v, n] in buckets {
            self.0.saturating_record_n(v, n);
        }
    }

    /// Add another histogram into this one.
    pub fn add(&mut self, other: &Self) {
        for v in other.0.iter_recorded() {
            self.0.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }

    /// Recorded values.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The wire form: one `[value_us, count]` per non-empty bucket, in value order.
    pub fn buckets(&self) -> Vec<[u64; 2]> {
        self.0.iter_recorded().map(|v| [v.value_iterated_to(), v.count_at_value()]).collect()
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn quantile(&self, q: f64) -> Micros {
        self.0.value_at_quantile(q)
    }

    /// Percentiles p50 to p99.9, min, max and mean.
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let q = |q: f64| self.0.value_at_quantile(q);
        Percentiles {
            count: self.0.len(),
            min_us: self.0.min(),
            mean_us: self.0.mean().round() as u64,
            p50_us: q(0.5),
            p75_us: q(0.75),
            p90_us: q(0.9),
            p95_us: q(0.95),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: self.0.max(),
        }
    }
}

/// How a request ended, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// An HTTP answer, body read.
    Answered {
        /// Status code.
        status: u16,
        /// Body bytes read.
        bytes: u64,
        /// The latency as the probe timed it itself, from its request going
        /// out to the end of its body, when the engine's own clock would
        /// add time that is not the target's (the hop from a shard, or a
        /// wait for one of the invocation's connections).
        latency_us: Option<Micros>,
    },
    /// No answer.
    Failed(ErrorKind),
}

/// The load test's state machine. See the module docs.
#[derive(Debug)]
pub struct LoadEngine {
    plan: LoadPlan,
    /// Request id → start time.
    in_flight: HashMap<u64, Micros>,
    issued: u64,
    counts: LoadCounts,
    all: Latency,
    delta: Latency,
    last_snapshot: Micros,
    last_completed: u64,
    stopped: Option<StopReason>,
    finished: bool,
    aborts: Vec<u64>,
    events: VecDeque<LoadEvent>,
}

impl LoadEngine {
    /// A test of `plan` starting at time 0.
    pub fn new(plan: LoadPlan) -> Self {
        let started = LoadEvent::LoadStarted {
            url: plan.url.to_string(),
            method: plan.method,
            max_requests: plan.max_requests,
            duration_ms: plan.duration_ms,
            concurrency: plan.concurrency,
            timeout_ms: plan.timeout_ms,
        };
        Self {
            plan,
            in_flight: HashMap::new(),
            issued: 0,
            counts: LoadCounts::default(),
            all: Latency::new(),
            delta: Latency::new(),
            last_snapshot: 0,
            last_completed: 0,
            stopped: None,
            finished: false,
            aborts: Vec::new(),
            events: VecDeque::from([started]),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &LoadPlan {
        &self.plan
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the summary has been emitted.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn duration_over(&self, now: Micros) -> bool {
        self.plan.duration_ms.is_some_and(|d| now >= d * 1000)
    }

    /// The id of a request to start now, if one may start. Call until `None`.
    pub fn poll_start(&mut self, now: Micros) -> Option<u64> {
        if self.stopped.is_some()
            || self.in_flight.len() >= self.plan.concurrency as usize
            || self.issued >= self.plan.max_requests
            || self.duration_over(now)
        {
            return None;
        }
        let id = self.issued;
        self.issued += 1;
        self.in_flight.insert(id, now);
        Some(id)
    }

    /// Request `id` ended at `now`. Results of requests already timed out or
    /// aborted are ignored.
    pub fn on_result(&mut self, now: Micros, id: u64, outcome: ProbeOutcome) {
        let Some(started) = self.in_flight.remove(&id) else { return };
        self.counts.completed += 1;
        match outcome {
            ProbeOutcome::Answered { status, bytes, latency_us } => {
                let latency = latency_us.unwrap_or_else(|| now.saturating_sub(started));
                self.all.record(latency);
                self.delta.record(latency);
                self.counts.bytes += bytes;
                if (200..400).contains(&status) {
                    self.counts.ok += 1;
                }
                *self.counts.statuses.entry(status.to_string()).or_default() += 1;
            }
            ProbeOutcome::Failed(kind) => self.fail(kind),
        }
        self.check_finished(now);
    }

    fn fail(&mut self, kind: ErrorKind) {
        self.counts.errors += 1;
        *self.counts.error_kinds.entry(kind).or_default() += 1;
    }

    /// Stop now: abort what is in flight (see [`Self::poll_abort`]).
    pub fn cancel(&mut self, now: Micros) {
        if self.stopped.is_none() && !self.finished {
            self.stop(StopReason::Cancelled);
            self.check_finished(now);
        }
    }

    fn stop(&mut self, reason: StopReason) {
        self.stopped = Some(reason);
        let mut ids: Vec<u64> = self.in_flight.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        self.counts.aborted += ids.len() as u64;
        self.aborts.extend(ids);
    }

    /// A request to abort, if any. Call until `None`.
    pub fn poll_abort(&mut self) -> Option<u64> {
        self.aborts.pop()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Micros> {
        if self.finished {
            return None;
        }
        let snapshot = self.last_snapshot + SNAPSHOT_EVERY_MS * 1000;
        let timeout = self.in_flight.values().min().map(|s| s + self.plan.timeout_ms * 1000);
        let end = self.plan.duration_ms.filter(|_| self.stopped.is_none()).map(|d| d * 1000);
        [Some(snapshot), timeout, end].into_iter().flatten().min()
    }

    /// Time passed: time out requests, end the duration, take snapshots.
    pub fn handle_timeout(&mut self, now: Micros) {
        if self.finished {
            return;
        }
        let limit = self.plan.timeout_ms * 1000;
        let mut late: Vec<u64> = self.in_flight.iter().filter(|&(_, &s)| now >= s + limit).map(|(&id, _)| id).collect();
        late.sort_unstable();
        for id in late {
            self.in_flight.remove(&id);
            self.counts.completed += 1;
            self.fail(ErrorKind::Timeout);
            self.aborts.push(id);
        }
        if self.stopped.is_none() && self.duration_over(now) {
            self.stop(StopReason::Duration);
        }
        if now >= self.last_snapshot + SNAPSHOT_EVERY_MS * 1000 {
            self.snapshot(now);
        }
        self.check_finished(now);
    }

    fn snapshot(&mut self, now: Micros) {
        let interval_us = now.saturating_sub(self.last_snapshot);
        let interval_completed = self.counts.completed - self.last_completed;
        let rps = if interval_us == 0 { 0.0 } else { interval_completed as f64 * 1e6 / interval_us as f64 };
        let snap = LoadSnapshot {
            t_ms: now / 1000,
            counts: self.counts.clone(),
            in_flight: u32::try_from(self.in_flight.len()).unwrap_or(u32::MAX),
            interval_ms: interval_us / 1000,
            interval_completed,
            rps,
            latency: self.all.percentiles(),
            delta: self.delta.buckets(),
        };
        self.delta.clear();
        self.last_snapshot = now;
        self.last_completed = self.counts.completed;
        self.events.push_back(LoadEvent::Snapshot(snap));
    }

    fn check_finished(&mut self, now: Micros) {
        if self.finished || !self.in_flight.is_empty() {
            return;
        }
        if self.stopped.is_none() && self.issued >= self.plan.max_requests {
            let reason = if self.plan.duration_ms.is_some() { StopReason::RequestCap } else { StopReason::Count };
            self.stopped = Some(reason);
        }
        if self.stopped.is_none() {
            return;
        }
        // A last snapshot carries the latencies since the previous one, so
        // the deltas of all snapshots add up to the summary's histogram.
        self.snapshot(now);
        let elapsed_us = now.max(1);
        self.events.push_back(LoadEvent::LoadSummary(LoadSummary {
            counts: self.counts.clone(),
            stopped: self.stopped,
            elapsed_ms: now / 1000,
            rps: self.counts.completed as f64 * 1e6 / elapsed_us as f64,
            latency: self.all.percentiles(),
            histogram: self.all.buckets(),
        }));
        self.finished = true;
    }

    /// The next event to send, if any.
    pub fn poll_event(&mut self) -> Option<LoadEvent> {
        self.events.pop_front()
    }
}

/// "Request the target once": the shell's half of a load test.
pub trait Probe {
    /// Resolves when the answer's body has been read (or the request failed).
    type Fut: Future<Output = Result<ProbeOutcome, FetchError>> + 'static;
    /// Aborts the request.
    type Abort: AbortAttempt;
    /// Start request `id` now.
    fn start(&self, id: u64) -> (Self::Fut, Self::Abort);
}

type Tagged = Abortable<LocalBoxFuture<'static, (u64, ProbeOutcome, Micros)>>;

/// A load test in progress, as a stream of [`LoadEvent`]s. Dropping it aborts
/// every request in flight.
pub struct LoadRunner<P: Probe, C: Clock + Clone + 'static> {
    engine: LoadEngine,
    probe: P,
    clock: C,
    in_flight: FuturesUnordered<Tagged>,
    aborts: HashMap<u64, (P::Abort, AbortHandle)>,
    sleep: Option<(Micros, Pin<Box<C::Sleep>>)>,
    cancel: Option<futures::channel::oneshot::Receiver<()>>,
}

impl<P: Probe, C: Clock + Clone + 'static> LoadRunner<P, C> {
    /// A test of `engine`'s plan through `probe`, timed by `clock`.
    pub fn new(engine: LoadEngine, probe: P, clock: C) -> Self {
        Self {
            engine,
            probe,
            clock,
            in_flight: FuturesUnordered::new(),
            aborts: HashMap::new(),
            sleep: None,
            cancel: None,
        }
    }

    /// A handle that stops the test; what was measured is still reported.
    pub fn cancel_handle(&mut self) -> crate::engine::runner::CancelHandle {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.cancel = Some(rx);
        crate::engine::runner::CancelHandle::new(tx)
    }

    fn apply(&mut self) {
        while let Some(id) = self.engine.poll_abort() {
            if let Some((abort, handle)) = self.aborts.remove(&id) {
                abort.abort();
                handle.abort();
            }
        }
        let now = self.clock.now_us();
        while let Some(id) = self.engine.poll_start(now) {
            let (fut, abort) = self.probe.start(id);
            let clock = self.clock.clone();
            let tagged = fut
                .map(move |r| {
                    // The end time is taken as the answer completes, not when
                    // the runner next gets round to it.
                    let end = clock.now_us();
                    let outcome = r.unwrap_or_else(|e| ProbeOutcome::Failed(e.kind()));
                    (id, outcome, end)
                })
                .boxed_local();
            let (handle, reg) = AbortHandle::new_pair();
            self.in_flight.push(Abortable::new(tagged, reg));
            self.aborts.insert(id, (abort, handle));
        }
    }
}

impl<P: Probe, C: Clock + Clone + 'static> Unpin for LoadRunner<P, C> {}

impl<P: Probe, C: Clock + Clone + 'static> Stream for LoadRunner<P, C> {
    type Item = LoadEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LoadEvent>> {
        let this = &mut *self;
        loop {
            if let Some(ev) = this.engine.poll_event() {
                return Poll::Ready(Some(ev));
            }
            if this.engine.is_finished() {
                return Poll::Ready(None);
            }
            this.apply();
            if let Some(rx) = this.cancel.as_mut() {
                match rx.poll_unpin(cx) {
                    Poll::Ready(Ok(())) => {
                        this.cancel = None;
                        this.engine.cancel(this.clock.now_us());
                        this.apply();
                        continue;
                    }
                    Poll::Ready(Err(_)) => this.cancel = None,
                    Poll::Pending => {}
                }
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok((id, outcome, end)))) => {
                    this.aborts.remove(&id);
                    this.engine.on_result(end, id, outcome);
                    continue;
                }
                Poll::Ready(Some(Err(Aborted))) => continue,
                Poll::Ready(None) | Poll::Pending => {}
            }
            let Some(at) = this.engine.poll_timeout() else { return Poll::Pending };
            let now = this.clock.now_us();
            if at <= now {
                this.engine.handle_timeout(now);
                continue;
            }
            let fresh = this.sleep.as_ref().is_none_or(|(t, _)| *t != at);
            if fresh {
                // Timers tick in milliseconds; round up so they never fire early.
                this.sleep = Some((at, Box::pin(this.clock.sleep_until(at.div_ceil(1000)))));
            }
            if let Some((_, sleep)) = this.sleep.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                this.sleep = None;
                if fresh {
                    // Done before it was waited on (the runtime would not
                    // set it): act as if its time had come, rather than
                    // set it again and again without yielding.
                    this.engine.handle_timeout(at);
                }
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl<P: Probe, C: Clock + Clone + 'static> Drop for LoadRunner<P, C> {
    fn drop(&mut self) {
        for (_, (abort, handle)) in self.aborts.drain() {
            abort.abort();
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    use super::*;
    use crate::engine::sim::VClock;
    use crate::load::protocol::LoadMethod;

    fn plan(n: u64, c: u32) -> LoadPlan {
        LoadPlan {
            url: url::Url::parse("http://t.test/").unwrap(),
            method: LoadMethod::Get,
            max_requests: n,
            duration_ms: None,
            concurrency: c,
            timeout_ms: 1_000,
            fan_out: false,
        }
    }

    /// A fake target: request `id` answers after `latency(id)` ms with
    /// `status(id)`, or hangs when the latency is `None`.
    struct FakeProbe {
        clock: VClock,
        latency: Rc<dyn Fn(u64) -> Option<u64>>,
        live: Rc<Cell<u32>>,
        max_live: Rc<Cell<u32>>,
        aborted: Rc<RefCell<Vec<u64>>>,
    }

    struct FakeAbort(u64, Rc<RefCell<Vec<u64>>>);

    impl AbortAttempt for FakeAbort {
        fn abort(self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    struct LiveGuard(Rc<Cell<u32>>);
    impl Drop for LiveGuard {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }

    impl Probe for FakeProbe {
        type Fut = LocalBoxFuture<'static, Result<ProbeOutcome, FetchError>>;
        type Abort = FakeAbort;
        fn start(&self, id: u64) -> (Self::Fut, FakeAbort) {
            self.live.set(self.live.get() + 1);
            self.max_live.set(self.max_live.get().max(self.live.get()));
            let guard = LiveGuard(self.live.clone());
            let (clock, after) = (self.clock.clone(), (self.latency)(id));
            let fut = async move {
                let _guard = guard;
                match after {
                    Some(ms) => {
                        clock.sleep_until(clock.now() + ms).await;
                        Ok(ProbeOutcome::Answered {
                            status: if id % 10 == 9 { 503 } else { 200 },
                            bytes: 100,
                            latency_us: None,
                        })
                    }
                    None => futures::future::pending().await,
                }
            };
            (Box::pin(fut), FakeAbort(id, self.aborted.clone()))
        }
    }

    struct Outcome {
        events: Vec<LoadEvent>,
        max_live: u32,
        aborted: Vec<u64>,
        end_ms: u64,
    }

    impl Outcome {
        fn summary(&self) -> &LoadSummary {
            match self.events.last() {
                Some(LoadEvent::LoadSummary(s)) => s,
                other => panic!("last event is not a summary: {other:?}"),
            }
        }
        fn snapshots(&self) -> Vec<&LoadSnapshot> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    LoadEvent::Snapshot(s) => Some(s),
                    _ => None,
                })
                .collect()
        }
    }

    fn simulate(plan: LoadPlan, latency: impl Fn(u64) -> Option<u64> + 'static, cancel_at: Option<u64>) -> Outcome {
        let clock = VClock::default();
        let (live, max_live, aborted) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)), Rc::new(RefCell::new(vec![])));
        let probe = FakeProbe {
            clock: clock.clone(),
            latency: Rc::new(latency),
            live: live.clone(),
            max_live: max_live.clone(),
            aborted: aborted.clone(),
        };
        let mut runner = LoadRunner::new(LoadEngine::new(plan), probe, clock.clone());
        let mut handle = runner.cancel_handle();
        let events = Rc::new(RefCell::new(Vec::new()));
        let finished = Rc::new(Cell::new(false));
        let mut pool = LocalPool::new();
        let (ev, fin) = (events.clone(), finished.clone());
        pool.spawner()
            .spawn_local(async move {
                while let Some(e) = runner.next().await {
                    ev.borrow_mut().push(e);
                }
                fin.set(true);
            })
            .unwrap();
        if let Some(at) = cancel_at {
            let c = clock.clone();
            pool.spawner()
                .spawn_local(async move {
                    c.sleep_until(at).await;
                    handle.cancel();
                })
                .unwrap();
        }
        for _ in 0..1_000_000 {
            pool.run_until_stalled();
            if finished.get() {
                break;
            }
            assert!(clock.advance(), "the test stalled at t={}", clock.now());
        }
        assert!(finished.get());
        assert_eq!(live.get(), 0, "every request ended or was dropped");
        let aborted = aborted.borrow().clone();
        Outcome { events: events.take(), max_live: max_live.get(), aborted, end_ms: clock.now() }
    }

    #[test]
    fn count_mode_sends_exactly_n_at_concurrency_c() {
        let out = simulate(plan(500, 20), |_| Some(20), None);
        let s = out.summary();
        assert_eq!(s.counts.completed, 500);
        assert_eq!(s.stopped, Some(StopReason::Count));
        assert_eq!(s.counts.statuses.get("200"), Some(&450));
        assert_eq!(s.counts.statuses.get("503"), Some(&50));
        assert_eq!(s.counts.ok, 450);
        assert_eq!(out.max_live, 20);
        // 500 / 20 = 25 waves of 20 ms.
        assert_eq!(out.end_ms, 500);
        // HDR buckets report their highest equivalent value: within 0.1%.
        assert_eq!(s.latency.min_us, 20_000);
        assert!((20_000..=20_020).contains(&s.latency.p50_us), "{}", s.latency.p50_us);
        assert_eq!(s.latency.max_us, s.latency.p50_us);
        assert!((s.rps - 1000.0).abs() < 1e-6, "{}", s.rps);
        assert!(matches!(out.events[0], LoadEvent::LoadStarted { max_requests: 500, .. }));
    }

    #[test]
    fn snapshot_deltas_add_up_to_the_histogram() {
        let out = simulate(plan(300, 7), |id| Some(5 + id % 37), None);
        let snaps = out.snapshots();
        assert!(snaps.len() >= 3, "{} snapshots", snaps.len());
        let mut merged = Latency::new();
        for s in &snaps {
            merged.add_buckets(&s.delta);
        }
        let summary = out.summary();
        assert_eq!(merged.buckets(), summary.histogram);
        assert_eq!(merged.count(), 300);
        // Snapshots are periodic, and their counts only grow.
        for w in snaps.windows(2) {
            assert!(w[1].counts.completed >= w[0].counts.completed);
            assert!(w[1].t_ms > w[0].t_ms);
        }
        assert_eq!(snaps[0].t_ms, SNAPSHOT_EVERY_MS);
        let interval_sum: u64 = snaps.iter().map(|s| s.interval_completed).sum();
        assert_eq!(interval_sum, 300);
        assert_eq!(snaps.last().unwrap().counts, summary.counts);
    }

    #[test]
    fn duration_mode_stops_on_time_and_aborts_what_is_in_flight() {
        let mut p = plan(1_000_000, 4);
        p.duration_ms = Some(1_000);
        // 30 ms each: 4 in flight, new ones every 30 ms.
        let out = simulate(p, |_| Some(30), None);
        let s = out.summary();
        assert_eq!(s.stopped, Some(StopReason::Duration));
        assert_eq!(out.end_ms, 1_000);
        // Waves end at 30, 60, …, 990: 33 waves of 4.
        assert_eq!(s.counts.completed, 132);
        assert_eq!(s.counts.aborted, 4);
        assert_eq!(out.aborted.len(), 4);
    }

    #[test]
    fn duration_mode_respects_the_request_cap() {
        let mut p = plan(50, 5);
        p.duration_ms = Some(10_000);
        let out = simulate(p, |_| Some(10), None);
        assert_eq!(out.summary().stopped, Some(StopReason::RequestCap));
        assert_eq!(out.summary().counts.completed, 50);
        assert_eq!(out.end_ms, 100);
    }

    #[test]
    fn hung_requests_time_out_and_are_aborted() {
        // Every 4th request hangs; the timeout is 1 s.
        let out = simulate(plan(8, 8), |id| (id % 4 != 0).then_some(10), None);
        let s = out.summary();
        assert_eq!(s.counts.completed, 8);
        assert_eq!(s.counts.errors, 2);
        assert_eq!(s.counts.error_kinds.get(&ErrorKind::Timeout), Some(&2));
        assert_eq!(s.latency.count, 6);
        let mut aborted = out.aborted.clone();
        aborted.sort_unstable();
        assert_eq!(aborted, vec![0, 4]);
        assert_eq!(out.end_ms, 1_000);
    }

    #[test]
    fn cancel_stops_at_once_and_still_reports() {
        let out = simulate(plan(1_000, 10), |_| Some(100), Some(350));
        let s = out.summary();
        assert_eq!(s.stopped, Some(StopReason::Cancelled));
        assert_eq!(out.end_ms, 350);
        assert_eq!(s.counts.completed, 30);
        assert_eq!(s.counts.aborted, 10);
        assert_eq!(s.latency.count, 30);
        assert!((100_000..=100_100).contains(&s.latency.p50_us), "{}", s.latency.p50_us);
    }

    #[test]
    fn histograms_merge_like_one() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        let mut whole = Latency::new();
        for v in 0..5_000u64 {
            let us = 1 + v * v % 900_001;
            if v % 3 == 0 {
                a.record(us)
            } else {
                b.record(us)
            }
            whole.record(us);
        }
        let mut merged = Latency::new();
        merged.add_buckets(&a.buckets());
        merged.add(&b);
        assert_eq!(merged.percentiles(), whole.percentiles());
        assert_eq!(merged.count(), 5_000);
        let p = whole.percentiles();
        assert!(p.p50_us <= p.p90_us && p.p90_us <= p.p99_us && p.p99_us <= p.p999_us && p.p999_us <= p.max_us);
        // Three significant figures: within 0.1% of the true value.
        let mut sorted: Vec<u64> = (0..5_000u64).map(|v| 1 + v * v % 900_001).collect();
        sorted.sort_unstable();
        let exact = sorted[2_499] as f64;
        assert!((p.p50_us as f64 - exact).abs() / exact < 0.001, "{} vs {exact}", p.p50_us);
    }
    #[test]
    fn events_serialise_with_stable_names() {
        let out = simulate(plan(3, 1), |_| Some(1), None);
        let lines: Vec<serde_json::Value> =
            out.events.iter().map(|e| serde_json::from_str(&e.to_ndjson()).unwrap()).collect();
        assert_eq!(lines[0]["type"], "load_started");
        assert_eq!(lines[0]["method"], "GET");
        let last = lines.last().unwrap();
        assert_eq!(last["type"], "load_summary");
        assert_eq!(last["completed"], 3);
        assert_eq!(last["statuses"]["200"], 3);
        assert_eq!(last["stopped"], "count");
        assert_eq!(last["histogram"][0][1], 3);
        // And back.
        for e in &out.events {
            let back: LoadEvent = serde_json::from_str(&e.to_ndjson()).unwrap();
            assert_eq!(&back, e);
        }
    }
}
