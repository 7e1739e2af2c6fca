//! The fan-out scheduler: a sans-IO state machine (the quinn-proto model).
//!
//! It never fetches, reads a clock or sleeps. The caller feeds it three inputs,
//! each stamped with the current time:
//! - [`Scheduler::handle_timeout`] when the time from [`Scheduler::poll_timeout`] comes,
//! - [`Scheduler::on_result`] when an attempt it asked for finishes,
//! - [`Scheduler::cancel`] when the run is to stop,
//!
//! and drains two outputs: [`Action`]s (start or abort an attempt) from
//! [`Scheduler::poll_action`] and wire [`Event`]s from [`Scheduler::poll_event`].
//! [`crate::runner`] is the async loop that does this against real traits; tests
//! do it by hand with virtual time.
//!
//! Guarantees, each covered by tests:
//! - at most `concurrency` attempts in flight, and at most `per_host` per host;
//! - hosts take turns (round robin over hosts that have work and a free slot),
//!   so a saturated host never holds back another host's jobs;
//! - no idle gaps: a slot freed at `t` is refilled at `t`;
//! - every job ends with exactly one terminal event, then one summary follows;
//! - no attempt starts after the run deadline or after cancel.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::error::{ErrorKind, FetchError};
use crate::protocol::{Event, EventError, Millis, Product, RunOptions, Summary};
use crate::retry::{Backoff, Decision, Rng, is_retryable_status, is_success};
use crate::stats::{Stats, host_key};

/// One URL to fetch. `id` is echoed in every event about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The caller's identifier (the index in the request).
    pub id: u32,
    /// The URL.
    pub url: String,
}

/// What a finished attempt produced: a response whose body has been read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes read.
    pub bytes: u64,
    /// A parsed `Retry-After`, in milliseconds from now.
    pub retry_after_ms: Option<u64>,
    /// Product data, when extraction ran and found some.
    pub product: Option<Product>,
}

/// The outcome of one attempt, as reported by the shell.
pub type AttemptResult = Result<Response, FetchError>;

/// An attempt the shell should start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRequest {
    /// The job.
    pub id: u32,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The URL.
    pub url: String,
}

/// Work for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start this attempt and report its result with [`Scheduler::on_result`].
    Start(AttemptRequest),
    /// Abort this attempt's request now (timeout, deadline or cancel). Its
    /// result, if it still arrives, is ignored.
    Abort {
        /// The job.
        id: u32,
        /// The attempt.
        attempt: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In its host's queue.
    Queued,
    /// Between attempts and in no queue (being decided, or never queued).
    Idle,
    InFlight { attempt: u32, started: Millis },
    Waiting { until: Millis },
    Finished,
}

#[derive(Debug)]
struct Slot {
    id: u32,
    url: String,
    host: usize,
    attempts: u32,
    state: State,
}

#[derive(Debug, Default)]
struct Host {
    queue: VecDeque<usize>,
    in_flight: u32,
    in_ring: bool,
}

/// The scheduler of one run. See the module docs.
pub struct Scheduler {
    slots: Vec<Slot>,
    index: HashMap<u32, usize>,
    hosts: Vec<Host>,
    /// Hosts that may have a startable job, in turn order.
    ring: VecDeque<usize>,
    /// (when, slot): attempt deadlines and retry wake-ups. The slot's state
    /// says which.
    timers: BTreeSet<(Millis, usize)>,
    opts: RunOptions,
    backoff: Backoff,
    rng: Box<dyn Rng>,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    stats: Stats,
    in_flight: u32,
    peak_in_flight: u32,
    unfinished: usize,
    retries: u32,
    counts: [u32; 3],
    cancelled: bool,
    summary_sent: bool,
    now: Millis,
}

impl core::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scheduler")
            .field("jobs", &self.slots.len())
            .field("in_flight", &self.in_flight)
            .field("unfinished", &self.unfinished)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

const DONE: usize = 0;
const FAILED: usize = 1;
const CANCELLED: usize = 2;

impl Scheduler {
    /// A run over `jobs`, starting at time 0. Emits one `queued` event per job;
    /// a URL that is not absolute http(s) fails at once with `invalid_url`.
    pub fn new(jobs: Vec<Job>, opts: RunOptions, rng: Box<dyn Rng>) -> Self {
        let backoff = Backoff { max_attempts: opts.max_attempts.max(1), base_ms: opts.base_ms, max_ms: opts.max_ms };
        let mut s = Self {
            slots: Vec::with_capacity(jobs.len()),
            index: HashMap::with_capacity(jobs.len()),
            hosts: Vec::new(),
            ring: VecDeque::new(),
            timers: BTreeSet::new(),
            opts,
            backoff,
            rng,
            events: VecDeque::new(),
            actions: VecDeque::new(),
            stats: Stats::new(),
            in_flight: 0,
            peak_in_flight: 0,
            unfinished: jobs.len(),
            retries: 0,
            counts: [0; 3],
            cancelled: false,
            summary_sent: false,
            now: 0,
        };
        let mut host_ids: HashMap<String, usize> = HashMap::new();
        for job in jobs {
            let idx = s.slots.len();
            let host_name = host_key(&job.url);
            let host = *host_ids.entry(host_name).or_insert_with(|| {
                s.hosts.push(Host::default());
                s.hosts.len() - 1
            });
            s.index.insert(job.id, idx);
            s.slots.push(Slot { id: job.id, url: job.url, host, attempts: 0, state: State::Queued });
            s.emit(Event::Queued { id: job.id, url: s.slots[idx].url.clone(), t: 0 });
            match check_url(&s.slots[idx].url) {
                Ok(()) => s.enqueue(idx, false),
                Err(e) => {
                    s.slots[idx].state = State::Idle;
                    s.fail(idx, &e.to_string(), e.kind(), None);
                }
            }
        }
        s
    }

    /// The current time as the scheduler last saw it.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Attempts in flight right now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Most attempts that were in flight at once.
    pub fn peak_in_flight(&self) -> u32 {
        self.peak_in_flight
    }

    /// Whether the summary has been emitted: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        self.summary_sent
    }

    /// When the caller should next call [`Scheduler::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.summary_sent {
            return None;
        }
        if self.unfinished == 0 {
            return Some(self.now);
        }
        let timer = self.timers.first().map(|&(t, _)| t);
        Some(timer.map_or(self.opts.deadline_ms, |t| t.min(self.opts.deadline_ms)))
    }

    /// The next action for the shell.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the client.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Time has passed: fire due timers, start what can start.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.step(now);
    }

    /// An attempt finished. Results of attempts that were aborted or are
    /// otherwise stale are ignored.
    pub fn on_result(&mut self, now: Millis, id: u32, attempt: u32, result: AttemptResult) {
        self.advance(now);
        let Some(&idx) = self.index.get(&id) else { return };
        let State::InFlight { attempt: current, started } = self.slots[idx].state else { return };
        if current != attempt {
            return;
        }
        self.timers.remove(&(started + self.opts.timeout_ms, idx));
        self.release(idx);
        let latency = self.now.saturating_sub(started);
        match result {
            Ok(resp) if is_success(resp.status) => {
                let slot = &self.slots[idx];
                let ev = Event::Done {
                    id: slot.id,
                    url: slot.url.clone(),
                    status: resp.status,
                    bytes: resp.bytes,
                    ms: latency,
                    attempts: attempt,
                    product: resp.product,
                    t: self.now,
                };
                self.finish(idx, DONE, ev);
            }
            Ok(resp) => {
                let reason = format!("HTTP {}", resp.status);
                if is_retryable_status(resp.status) {
                    self.retry_or_fail(idx, attempt, reason, ErrorKind::HttpStatus, Some(resp.status), resp.retry_after_ms);
                } else {
                    self.fail(idx, &format!("{reason}, which is not retried"), ErrorKind::HttpStatus, Some(resp.status));
                }
            }
            Err(e) if e.is_retryable() => self.retry_or_fail(idx, attempt, e.to_string(), e.kind(), None, None),
            Err(e) => self.fail(idx, &e.to_string(), e.kind(), None),
        }
        self.step(self.now);
    }

    /// Stop the run: abort what is in flight, start nothing new, and report
    /// every unfinished job as `cancelled`. The summary still follows.
    pub fn cancel(&mut self, now: Millis) {
        self.advance(now);
        if self.summary_sent {
            return;
        }
        self.cancelled = true;
        self.drain_queues();
        for idx in 0..self.slots.len() {
            if self.slots[idx].state == State::Finished {
                continue;
            }
            self.abort_if_in_flight(idx);
            let slot = &self.slots[idx];
            let ev = Event::Cancelled { id: slot.id, url: slot.url.clone(), t: self.now };
            self.finish(idx, CANCELLED, ev);
        }
        self.step(self.now);
    }

    fn advance(&mut self, now: Millis) {
        // Time never runs backwards, whatever the shell's clock does.
        self.now = self.now.max(now);
    }

    fn step(&mut self, now: Millis) {
        self.advance(now);
        if self.unfinished > 0 && self.now >= self.opts.deadline_ms {
            self.expire();
        }
        while let Some(&(t, idx)) = self.timers.first() {
            if t > self.now {
                break;
            }
            self.timers.remove(&(t, idx));
            match self.slots[idx].state {
                State::InFlight { attempt, .. } => {
                    let slot = &self.slots[idx];
                    self.actions.push_back(Action::Abort { id: slot.id, attempt });
                    self.release(idx);
                    let e = FetchError::Timeout { after_ms: self.opts.timeout_ms };
                    self.retry_or_fail(idx, attempt, e.to_string(), e.kind(), None, None);
                }
                State::Waiting { .. } => self.enqueue(idx, true),
                State::Queued | State::Idle | State::Finished => {}
            }
        }
        self.fill();
        if self.unfinished == 0 && !self.summary_sent {
            self.summary_sent = true;
            let summary = Summary {
                total: u32::try_from(self.slots.len()).unwrap_or(u32::MAX),
                done: self.counts[DONE],
                failed: self.counts[FAILED],
                cancelled: self.counts[CANCELLED],
                retries: self.retries,
                was_cancelled: self.cancelled,
                elapsed_ms: self.now,
                peak_in_flight: self.peak_in_flight,
                stats: self.stats.report(self.now),
            };
            self.events.push_back(Event::Summary(summary));
        }
    }

    /// The run deadline passed: nothing more starts, in-flight work is aborted.
    fn expire(&mut self) {
        let deadline = self.opts.deadline_ms;
        self.drain_queues();
        for idx in 0..self.slots.len() {
            let message = match self.slots[idx].state {
                State::Finished => continue,
                State::InFlight { attempt, .. } => {
                    format!("run deadline of {deadline} ms passed during attempt {attempt}")
                }
                State::Waiting { .. } => format!("run deadline of {deadline} ms passed while waiting to retry"),
                State::Queued | State::Idle => {
                    format!("run deadline of {deadline} ms passed before a slot was free")
                }
            };
            self.abort_if_in_flight(idx);
            self.fail(idx, &message, ErrorKind::DeadlineExceeded, None);
        }
    }

    /// Empty every host queue at once (cancel, deadline), so that finishing
    /// each job does not search a queue.
    fn drain_queues(&mut self) {
        for host in &mut self.hosts {
            for idx in host.queue.drain(..) {
                self.slots[idx].state = State::Idle;
            }
            host.in_ring = false;
        }
        self.ring.clear();
    }

    fn abort_if_in_flight(&mut self, idx: usize) {
        if let State::InFlight { attempt, started } = self.slots[idx].state {
            self.timers.remove(&(started + self.opts.timeout_ms, idx));
            self.actions.push_back(Action::Abort { id: self.slots[idx].id, attempt });
            self.release(idx);
        }
    }

    /// Free the slot held by an in-flight attempt.
    fn release(&mut self, idx: usize) {
        let host = self.slots[idx].host;
        self.in_flight -= 1;
        self.hosts[host].in_flight -= 1;
        self.slots[idx].state = State::Idle;
        self.offer(host);
    }

    fn retry_or_fail(
        &mut self,
        idx: usize,
        attempt: u32,
        reason: String,
        kind: ErrorKind,
        status: Option<u16>,
        retry_after_ms: Option<u64>,
    ) {
        match self.backoff.decide(attempt, retry_after_ms, self.rng.as_mut()) {
            Decision::GiveUp => {
                let message = format!("{reason} (after {attempt} attempts)");
                self.fail(idx, &message, kind, status);
            }
            Decision::WaitTooLong { asked_ms } => {
                let message = format!(
                    "{reason}: Retry-After asks for {asked_ms} ms, more than the {} ms backoff cap",
                    self.backoff.max_ms
                );
                self.fail(idx, &message, ErrorKind::RetryAfterTooLong, status);
            }
            Decision::RetryAfter(wait) => {
                let until = self.now.saturating_add(wait);
                if until >= self.opts.deadline_ms {
                    let message =
                        format!("{reason}; the retry in {wait} ms would start after the run deadline");
                    self.fail(idx, &message, ErrorKind::DeadlineExceeded, status);
                    return;
                }
                self.retries += 1;
                let slot = &mut self.slots[idx];
                slot.state = State::Waiting { until };
                let ev = Event::Retrying {
                    id: slot.id,
                    url: slot.url.clone(),
                    attempt,
                    wait_ms: wait,
                    reason,
                    status,
                    t: self.now,
                };
                self.timers.insert((until, idx));
                self.emit(ev);
            }
        }
    }

    fn fail(&mut self, idx: usize, message: &str, kind: ErrorKind, status: Option<u16>) {
        let slot = &self.slots[idx];
        let ev = Event::Failed {
            id: slot.id,
            url: slot.url.clone(),
            error: EventError { kind, message: message.to_owned() },
            attempts: slot.attempts,
            status,
            t: self.now,
        };
        self.finish(idx, FAILED, ev);
    }

    fn finish(&mut self, idx: usize, outcome: usize, ev: Event) {
        let slot = &mut self.slots[idx];
        if let State::Waiting { until } = slot.state {
            self.timers.remove(&(until, idx));
        }
        if slot.state == State::Queued {
            let host = &mut self.hosts[slot.host];
            if let Some(pos) = host.queue.iter().position(|&j| j == idx) {
                host.queue.remove(pos);
            }
        }
        slot.state = State::Finished;
        self.unfinished -= 1;
        self.counts[outcome] += 1;
        self.emit(ev);
    }

    fn emit(&mut self, ev: Event) {
        self.stats.observe(&ev);
        self.events.push_back(ev);
    }

    /// Put a job in its host's queue; retries go to the front, since they
    /// have already waited their turn once.
    fn enqueue(&mut self, idx: usize, front: bool) {
        self.slots[idx].state = State::Queued;
        let host = self.slots[idx].host;
        if front {
            self.hosts[host].queue.push_front(idx);
        } else {
            self.hosts[host].queue.push_back(idx);
        }
        self.offer(host);
    }

    fn startable(&self, host: usize) -> bool {
        let h = &self.hosts[host];
        !h.queue.is_empty() && h.in_flight < self.opts.per_host.max(1)
    }

    /// Give a host a place in the turn order if it can start something.
    fn offer(&mut self, host: usize) {
        if !self.hosts[host].in_ring && self.startable(host) {
            self.hosts[host].in_ring = true;
            self.ring.push_back(host);
        }
    }

    fn fill(&mut self) {
        if self.cancelled || self.now >= self.opts.deadline_ms {
            return;
        }
        while self.in_flight < self.opts.concurrency.max(1) {
            let Some(host) = self.ring.pop_front() else { break };
            self.hosts[host].in_ring = false;
            if !self.startable(host) {
                continue;
            }
            let Some(idx) = self.hosts[host].queue.pop_front() else { continue };
            self.start(idx);
            self.offer(host);
        }
    }

    fn start(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        slot.attempts += 1;
        let attempt = slot.attempts;
        slot.state = State::InFlight { attempt, started: self.now };
        self.hosts[slot.host].in_flight += 1;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        let req = AttemptRequest { id: slot.id, attempt, url: slot.url.clone() };
        let ev = Event::Started { id: slot.id, url: slot.url.clone(), attempt, t: self.now };
        self.timers.insert((self.now + self.opts.timeout_ms, idx));
        self.actions.push_back(Action::Start(req));
        self.emit(ev);
    }
}

/// Only absolute http(s) URLs with a host can be fetched.
pub fn check_url(url: &str) -> Result<(), FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::InvalidUrl(format!("{e}")))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" | "https" => Err(FetchError::InvalidUrl("no host".into())),
        other => Err(FetchError::InvalidUrl(format!("scheme {other}: is not http or https"))),
    }
}
