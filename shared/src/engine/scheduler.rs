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
//! [`crate::engine::runner`] is the async loop that does this against real traits; tests
//! do it by hand with virtual time.
//!
//! Guarantees, each covered by tests:
//! - at most `concurrency` attempts in flight, and at most `per_host` per host;
//! - hosts take turns (round robin over hosts that have work and a free slot),
//!   so a saturated host never holds back another host's jobs;
//! - no idle gaps: a slot freed at `t` is refilled at `t`;
//! - every job ends with exactly one terminal event, then one summary follows;
//! - no attempt starts after the run deadline or after cancel;
//! - with pacing on, request starts on one host are spaced by its interval
//!   (randomised 0.5–1.5×), a host that answers 429 or 503 backs off alone,
//!   and a host waiting for its turn never holds back another host;
//! - with a connection limit ([`Scheduler::limit_connections`], the
//!   platform's six per invocation), at most that many attempts wait for
//!   their response headers at once: an attempt holds a connection from its
//!   start until the shell reports its headers ([`Note::Headers`]), and
//!   reading a body holds none. An attempt's timeout runs from when its
//!   request really went out ([`Note::Sent`]), not from when it was asked
//!   for.
//!
//! A crawl (`crate::crawl`) drives the same scheduler: it [adds](Scheduler::add)
//! jobs while the run goes, keeps the run [open](Scheduler::set_open) until it
//! has nothing more to add, and fetches each site's robots.txt as an
//! [internal](Scheduler::add_internal) request, which counts against the caps
//! like any other but sends no events.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::retry::{Backoff, Decision, Rng, is_retryable_status, is_success};
use crate::input::Job;
use crate::input::target::check_url;
use crate::view::stats::{Stats, host_key};
use crate::wire::error::{ErrorKind, FetchError};
use crate::wire::protocol::{Event, EventError, Millis, Product, RunOptions, Summary, Validators};

/// What a finished attempt produced: a response whose body has been read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes read.
    pub bytes: u64,
    /// A parsed `Retry-After`, in milliseconds from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Product data, when extraction ran and found some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// The page's links, absolute, when [`AttemptRequest::links`] asked for
    /// them and the answer was HTML (at most
    /// [`crate::wire::config::MAX_LINKS_PER_PAGE`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// The body as text, when [`AttemptRequest::text`] asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The answer's `ETag` / `Last-Modified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validators: Option<Validators>,
    /// A 304 to the validators the shell sent (a revalidation, see
    /// [`crate::engine::revalidate`]): the page is unchanged, `product` is
    /// the one carried forward. A 304 nobody asked for is an ordinary
    /// answer (3xx counts as success), not this.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_modified: bool,
    /// With `not_modified`: the body size not downloaded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_saved: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The outcome of one attempt, as reported by the shell.
pub type AttemptResult = Result<Response, FetchError>;

/// An attempt the shell should start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptRequest {
    /// The job.
    pub id: u32,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The URL.
    pub url: String,
    /// Read the page's links too (a crawl that goes deeper from this page).
    pub links: bool,
    /// Return the body as text (capped), not products (robots.txt).
    pub text: bool,
    /// The URL's last saved answer, to revalidate against (set by
    /// [`crate::engine::revalidate::WithPriors`], never by the scheduler).
    pub prior: Option<Box<crate::wire::protocol::Prior>>,
}

/// Ids of internal requests start here, above any URL id, so the two never
/// meet (a run has far fewer than 2^31 URLs).
pub const INTERNAL_ID_BASE: u32 = 1 << 31;

/// A request's pacing backs off from at least this after a 429 or 503.
pub const PACE_BACKOFF_MIN_MS: u64 = 250;

/// What the shell reports about an attempt before its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// The request really went out: it had a connection. Its timeout runs
    /// from here (a runtime that queues requests beyond its connection
    /// limit must not eat into it).
    Sent,
    /// Its response headers arrived: it no longer holds a connection,
    /// though its body may still be streaming in.
    Headers,
}

/// What drives a run: the [`Scheduler`] itself, or something built around it
/// (a crawl). The [`crate::engine::runner::Runner`] drives any of them.
pub trait Machine {
    /// Time has passed.
    fn handle_timeout(&mut self, now: Millis);
    /// An attempt finished.
    fn on_result(&mut self, now: Millis, id: u32, attempt: u32, result: AttemptResult);
    /// The shell reports an attempt's progress.
    fn on_note(&mut self, now: Millis, id: u32, attempt: u32, note: Note);
    /// Stop the run.
    fn cancel(&mut self, now: Millis);
    /// The next action for the shell.
    fn poll_action(&mut self) -> Option<Action>;
    /// The next event for the client.
    fn poll_event(&mut self) -> Option<Event>;
    /// When to call [`Machine::handle_timeout`] next.
    fn poll_timeout(&self) -> Option<Millis>;
    /// Whether the summary went out.
    fn is_finished(&self) -> bool;
    /// Attempts in flight.
    fn in_flight(&self) -> u32;
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
    InFlight {
        attempt: u32,
        /// When it went out: its timeout and latency count from here.
        started: Millis,
        /// It holds a connection until its headers come.
        awaiting: bool,
    },
    Waiting {
        until: Millis,
    },
    Finished,
}

#[derive(Debug)]
struct Slot {
    id: u32,
    url: String,
    host: usize,
    attempts: u32,
    state: State,
    /// Read the page's links (see [`AttemptRequest::links`]).
    links: bool,
    /// An internal request: no events, one attempt, its result handed to
    /// [`Scheduler::poll_internal`].
    internal: bool,
}

#[derive(Debug, Default)]
struct Host {
    queue: VecDeque<usize>,
    in_flight: u32,
    in_ring: bool,
    /// The run's `per_host_interval_ms`: starts spaced 0.5–1.5× this.
    interval_ms: u64,
    /// A robots.txt `Crawl-delay`: starts never closer than this (and up to
    /// 1.5× it).
    floor_ms: u64,
    /// Extra spacing after 429/503 answers; halves on each success.
    penalty_ms: u64,
    /// No start on this host before this time.
    next_start: Millis,
    /// A wake-up is set for `next_start`.
    timer: Option<Millis>,
    /// Its own in-flight cap, when it has one (a job's batch gets a share of
    /// each host's cap); otherwise the run's `per_host`.
    cap: Option<u32>,
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
    /// (when, host): hosts whose pacing lets them start again.
    host_timers: BTreeSet<(Millis, usize)>,
    host_ids: HashMap<String, usize>,
    /// Pacing on: spacing, and backoff after 429/503, capped here.
    pace_cap_ms: Option<u64>,
    /// More jobs may still be added: no summary yet.
    open: bool,
    /// Results of internal requests, for the owner.
    internal_results: VecDeque<(u32, AttemptResult)>,
    /// Jobs that are not internal (the summary's `total`).
    visible: u32,
    opts: RunOptions,
    backoff: Backoff,
    rng: Box<dyn Rng>,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    stats: Stats,
    in_flight: u32,
    peak_in_flight: u32,
    /// Most attempts waiting for headers at once (`None`: no limit).
    connections: Option<u32>,
    /// Attempts waiting for their headers now.
    awaiting: u32,
    peak_awaiting: u32,
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
            host_timers: BTreeSet::new(),
            host_ids: HashMap::new(),
            pace_cap_ms: None,
            open: false,
            internal_results: VecDeque::new(),
            visible: 0,
            opts,
            backoff,
            rng,
            events: VecDeque::new(),
            actions: VecDeque::new(),
            stats: Stats::new(),
            in_flight: 0,
            peak_in_flight: 0,
            connections: None,
            awaiting: 0,
            peak_awaiting: 0,
            unfinished: 0,
            retries: 0,
            counts: [0; 3],
            cancelled: false,
            summary_sent: false,
            now: 0,
        };
        for job in jobs {
            s.admit(job, false);
        }
        s
    }

    /// Queue `job` (or fail it at once if its URL cannot be fetched).
    fn admit(&mut self, job: Job, links: bool) {
        let idx = self.push_slot(job, links, false);
        match check_url(&self.slots[idx].url) {
            Ok(_) => self.enqueue(idx, false),
            Err(e) => self.fail(idx, &e.to_string(), e.kind(), None),
        }
    }

    /// The index of `url`'s host, made on first sight.
    fn host_of(&mut self, url: &str) -> usize {
        self.host_index(host_key(url))
    }

    /// The index of the host named `name` (a [`host_key`]), made on first sight.
    fn host_index(&mut self, name: String) -> usize {
        if let Some(&h) = self.host_ids.get(&name) {
            return h;
        }
        self.hosts.push(Host { interval_ms: self.opts.per_host_interval_ms, ..Host::default() });
        self.host_ids.insert(name, self.hosts.len() - 1);
        self.hosts.len() - 1
    }

    /// A new slot for `job`, `queued` announced.
    fn push_slot(&mut self, job: Job, links: bool, internal: bool) -> usize {
        let idx = self.slots.len();
        let host = self.host_of(&job.url);
        self.index.insert(job.id, idx);
        self.unfinished += 1;
        if !internal {
            self.visible += 1;
        }
        self.slots.push(Slot { id: job.id, url: job.url, host, attempts: 0, state: State::Idle, links, internal });
        if !internal {
            let ev = Event::Queued { id: job.id, url: self.slots[idx].url.clone(), t: self.now };
            self.emit(ev);
        }
        idx
    }

    /// Add a job to a running run (a crawl's discovered URL): `queued` now,
    /// started when a slot is free. `links` asks the shell for the page's
    /// links. A URL that is not absolute http(s) fails at once with
    /// `invalid_url`. Ignored once the summary is out.
    pub fn add(&mut self, job: Job, links: bool) {
        if self.summary_sent {
            return;
        }
        if self.cancelled {
            let idx = self.push_slot(job, links, false);
            let slot = &self.slots[idx];
            let ev = Event::Cancelled { id: slot.id, url: slot.url.clone(), t: self.now };
            self.finish(idx, CANCELLED, ev);
        } else {
            self.admit(job, links);
        }
        self.step(self.now);
    }

    /// Add a job that ends at once, before any attempt: `queued`, then
    /// `failed` with `kind` (a start page that robots.txt disallows).
    pub fn reject(&mut self, job: Job, kind: ErrorKind, message: &str) {
        if self.summary_sent {
            return;
        }
        let idx = self.push_slot(job, false, false);
        self.fail(idx, message, kind, None);
        self.step(self.now);
    }

    /// Fetch `url` for the owner (robots.txt): one attempt with the run's
    /// timeout, counted against the caps, its body returned as text, and no
    /// events. Its result comes out of [`Scheduler::poll_internal`] under
    /// `id` (at least [`INTERNAL_ID_BASE`]); a timeout, the deadline or a
    /// cancel end it with an error.
    pub fn add_internal(&mut self, id: u32, url: String) {
        if self.summary_sent {
            return;
        }
        debug_assert!(id >= INTERNAL_ID_BASE);
        let idx = self.push_slot(Job { id, url }, false, true);
        if self.cancelled || self.now >= self.opts.deadline_ms {
            self.finish_internal(idx, Err(FetchError::Network("the run is over".into())));
        } else {
            self.enqueue(idx, false);
        }
        self.step(self.now);
    }

    /// The next finished internal request: its id and result.
    pub fn poll_internal(&mut self) -> Option<(u32, AttemptResult)> {
        self.internal_results.pop_front()
    }

    /// While open, the run does not end when its jobs have: the owner may
    /// still add some. Closing lets the summary out once they are done.
    pub fn set_open(&mut self, open: bool) {
        self.open = open;
        self.step(self.now);
    }

    /// Turn pacing on: request starts on each host are spaced by its
    /// interval (randomised 0.5–1.5×), and a host that answers 429 or 503
    /// backs off (doubling, at most `cap_ms`) until its answers succeed again.
    pub fn pace_hosts(&mut self, cap_ms: u64) {
        self.pace_cap_ms = Some(cap_ms);
    }

    /// Give the host named `host` (a [`host_key`]) an in-flight cap of its
    /// own, instead of the run's `per_host` (a job's batch holds a share of
    /// each host's cap).
    pub fn cap_host(&mut self, host: &str, cap: u32) {
        let h = self.host_index(host.to_owned());
        self.hosts[h].cap = Some(cap);
    }

    /// Keep at most `per_invocation` attempts waiting for their response
    /// headers at once (0: no limit), as the Workers runtime does for one
    /// invocation's subrequests. The shell must then report
    /// [`Note::Headers`]; until it does, an attempt holds its connection.
    pub fn limit_connections(&mut self, per_invocation: u32) {
        self.connections = (per_invocation > 0).then_some(per_invocation);
    }

    /// Attempts waiting for their headers now.
    pub fn awaiting_headers(&self) -> u32 {
        self.awaiting
    }

    /// Most attempts that waited for their headers at once.
    pub fn peak_awaiting_headers(&self) -> u32 {
        self.peak_awaiting
    }

    /// The shell reports an attempt's progress (see [`Note`]). Notes about
    /// attempts no longer in flight are ignored.
    pub fn on_note(&mut self, now: Millis, id: u32, attempt: u32, note: Note) {
        self.advance(now);
        let Some(&idx) = self.index.get(&id) else { return };
        let State::InFlight { attempt: current, started, awaiting } = self.slots[idx].state else { return };
        if current != attempt {
            return;
        }
        match note {
            Note::Sent => {
                // The timeout restarts from now: time queued before the
                // request went out is not the upstream's.
                self.timers.remove(&(started + self.opts.timeout_ms, idx));
                self.timers.insert((self.now + self.opts.timeout_ms, idx));
                self.slots[idx].state = State::InFlight { attempt, started: self.now, awaiting };
            }
            Note::Headers if awaiting => {
                self.awaiting -= 1;
                self.slots[idx].state = State::InFlight { attempt, started, awaiting: false };
                self.step(self.now);
            }
            Note::Headers => {}
        }
    }

    /// Never start two requests on `url`'s host closer than `ms` apart (a
    /// robots.txt `Crawl-delay`; randomised up to 1.5× it), within the
    /// pacing cap.
    pub fn set_crawl_delay(&mut self, url: &str, ms: u64) {
        let cap = self.pace_cap_ms.unwrap_or(u64::MAX);
        let host = self.host_of(url);
        let h = &mut self.hosts[host];
        h.floor_ms = h.floor_ms.max(ms).min(cap);
    }

    /// The attempt of job `id` in flight now, if one is.
    pub fn attempt_in_flight(&self, id: u32) -> Option<u32> {
        let &idx = self.index.get(&id)?;
        match self.slots[idx].state {
            State::InFlight { attempt, .. } => Some(attempt),
            _ => None,
        }
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Whether the run deadline has passed.
    pub fn is_past_deadline(&self) -> bool {
        self.now >= self.opts.deadline_ms
    }

    /// Jobs (internal requests included) not yet finished.
    pub fn unfinished(&self) -> usize {
        self.unfinished
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
        if self.unfinished == 0 && !self.open {
            return Some(self.now);
        }
        if self.unfinished == 0 {
            // Open and idle: nothing to wake for until the owner adds work.
            return None;
        }
        let timer = self.timers.first().map(|&(t, _)| t);
        let host = self.host_timers.first().map(|&(t, _)| t);
        let next = match (timer, host) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Some(next.map_or(self.opts.deadline_ms, |t| t.min(self.opts.deadline_ms)))
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
        let Some(&idx) = self.index.get(&id) else {
            return;
        };
        let State::InFlight { attempt: current, started, .. } = self.slots[idx].state else {
            return;
        };
        if current != attempt {
            return;
        }
        self.timers.remove(&(started + self.opts.timeout_ms, idx));
        self.release(idx);
        if self.slots[idx].internal {
            self.finish_internal(idx, result);
            self.step(self.now);
            return;
        }
        let host = self.slots[idx].host;
        match &result {
            Ok(resp) if resp.status == 429 || resp.status == 503 => self.back_off(host),
            Ok(resp) if is_success(resp.status) => self.recover(host),
            _ => {}
        }
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
                    product: resp.product.map(Box::new),
                    validators: resp.validators,
                    not_modified: resp.not_modified,
                    bytes_saved: resp.bytes_saved,
                    t: self.now,
                };
                self.finish(idx, DONE, ev);
            }
            Ok(resp) => {
                let reason = format!("HTTP {}", resp.status);
                if is_retryable_status(resp.status) {
                    self.retry_or_fail(
                        idx,
                        attempt,
                        reason,
                        ErrorKind::HttpStatus,
                        Some(resp.status),
                        resp.retry_after_ms,
                    );
                } else {
                    self.fail(
                        idx,
                        &format!("{reason}, which is not retried"),
                        ErrorKind::HttpStatus,
                        Some(resp.status),
                    );
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
            if self.slots[idx].internal {
                self.finish_internal(idx, Err(FetchError::Network("the run was cancelled".into())));
                continue;
            }
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
                    if self.slots[idx].internal {
                        self.finish_internal(idx, Err(e));
                        continue;
                    }
                    self.retry_or_fail(idx, attempt, e.to_string(), e.kind(), None, None);
                }
                State::Waiting { .. } => self.enqueue(idx, true),
                State::Queued | State::Idle | State::Finished => {}
            }
        }
        while let Some(&(t, host)) = self.host_timers.first() {
            if t > self.now {
                break;
            }
            self.host_timers.remove(&(t, host));
            self.hosts[host].timer = None;
            self.offer(host);
        }
        self.fill();
        if self.unfinished == 0 && !self.open && !self.summary_sent {
            self.summary_sent = true;
            let summary = Summary {
                total: self.visible,
                done: self.counts[DONE],
                failed: self.counts[FAILED],
                cancelled: self.counts[CANCELLED],
                retries: self.retries,
                was_cancelled: self.cancelled,
                elapsed_ms: self.now,
                peak_in_flight: self.peak_in_flight,
                stats: self.stats.report(self.now),
                saved: None,
                crawl: None,
                invocations: None,
            };
            self.events.push_back(Event::Summary(Box::new(summary)));
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
                State::Waiting { .. } => {
                    format!("run deadline of {deadline} ms passed while waiting to retry")
                }
                State::Queued | State::Idle => {
                    format!("run deadline of {deadline} ms passed before a slot was free")
                }
            };
            self.abort_if_in_flight(idx);
            if self.slots[idx].internal {
                self.finish_internal(idx, Err(FetchError::Network(message)));
                continue;
            }
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
        if let State::InFlight { attempt, started, .. } = self.slots[idx].state {
            self.timers.remove(&(started + self.opts.timeout_ms, idx));
            self.actions.push_back(Action::Abort { id: self.slots[idx].id, attempt });
            self.release(idx);
        }
    }

    /// Free the slot held by an in-flight attempt.
    fn release(&mut self, idx: usize) {
        let host = self.slots[idx].host;
        if let State::InFlight { awaiting: true, .. } = self.slots[idx].state {
            self.awaiting -= 1;
        }
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
                    let message = format!("{reason}; the retry in {wait} ms would start after the run deadline");
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

    /// End an internal request and hand its result to the owner.
    fn finish_internal(&mut self, idx: usize, result: AttemptResult) {
        let slot = &mut self.slots[idx];
        if slot.state == State::Queued {
            let host = &mut self.hosts[slot.host];
            if let Some(pos) = host.queue.iter().position(|&j| j == idx) {
                host.queue.remove(pos);
            }
        }
        slot.state = State::Finished;
        self.unfinished -= 1;
        self.internal_results.push_back((slot.id, result));
    }

    /// The spacing of starts on `host` now: its interval, its crawl delay
    /// or its penalty.
    fn interval(&self, host: usize) -> u64 {
        let h = &self.hosts[host];
        h.interval_ms.max(h.penalty_ms).max(h.floor_ms)
    }

    /// A 429 or 503 from `host`: space its starts out further (doubling,
    /// capped), from now on.
    fn back_off(&mut self, host: usize) {
        let Some(cap) = self.pace_cap_ms else { return };
        let next = self.interval(host).saturating_mul(2).max(PACE_BACKOFF_MIN_MS).min(cap);
        let h = &mut self.hosts[host];
        h.penalty_ms = next;
        h.next_start = h.next_start.max(self.now + next);
    }

    /// A success from `host`: its penalty halves, and goes once below the
    /// smallest backoff.
    fn recover(&mut self, host: usize) {
        let h = &mut self.hosts[host];
        h.penalty_ms /= 2;
        if h.penalty_ms < PACE_BACKOFF_MIN_MS {
            h.penalty_ms = 0;
        }
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

    /// Whether `host` has work and a free slot (paced or not).
    fn has_room(&self, host: usize) -> bool {
        let h = &self.hosts[host];
        !h.queue.is_empty() && h.in_flight < h.cap.unwrap_or(self.opts.per_host).max(1)
    }

    fn startable(&self, host: usize) -> bool {
        self.has_room(host) && self.now >= self.hosts[host].next_start
    }

    /// Give a host a place in the turn order if it can start something, or
    /// a wake-up for when its pacing lets it.
    fn offer(&mut self, host: usize) {
        if !self.hosts[host].in_ring && self.startable(host) {
            self.hosts[host].in_ring = true;
            self.ring.push_back(host);
        } else if self.has_room(host) && self.now < self.hosts[host].next_start {
            let at = self.hosts[host].next_start;
            if self.hosts[host].timer != Some(at) {
                if let Some(old) = self.hosts[host].timer.take() {
                    self.host_timers.remove(&(old, host));
                }
                self.hosts[host].timer = Some(at);
                self.host_timers.insert((at, host));
            }
        }
    }

    fn fill(&mut self) {
        if self.cancelled || self.now >= self.opts.deadline_ms {
            return;
        }
        while self.in_flight < self.opts.concurrency.max(1) && self.connections.is_none_or(|c| self.awaiting < c) {
            let Some(host) = self.ring.pop_front() else {
                break;
            };
            self.hosts[host].in_ring = false;
            if !self.startable(host) {
                // Its pacing may have moved on (a backoff): wake it then.
                self.offer(host);
                continue;
            }
            let Some(idx) = self.hosts[host].queue.pop_front() else {
                continue;
            };
            self.start(idx);
            self.offer(host);
        }
    }

    fn start(&mut self, idx: usize) {
        let host = self.slots[idx].host;
        let interval = self.interval(host);
        if interval > 0 {
            // Randomised 0.5–1.5× like Scrapy's RANDOMIZE_DOWNLOAD_DELAY, so
            // that paced hosts do not fall into lockstep; never below a
            // Crawl-delay, which the site asked for.
            let lower = (interval / 2).max(self.hosts[host].floor_ms);
            let upper = interval + interval / 2;
            let spaced = lower + self.rng.up_to(upper.saturating_sub(lower));
            self.hosts[host].next_start = self.now + spaced;
        }
        let slot = &mut self.slots[idx];
        slot.attempts += 1;
        let attempt = slot.attempts;
        slot.state = State::InFlight { attempt, started: self.now, awaiting: true };
        self.hosts[slot.host].in_flight += 1;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        self.awaiting += 1;
        self.peak_awaiting = self.peak_awaiting.max(self.awaiting);
        let req = AttemptRequest {
            id: slot.id,
            attempt,
            url: slot.url.clone(),
            links: slot.links,
            text: slot.internal,
            prior: None,
        };
        let internal = slot.internal;
        let ev = Event::Started { id: slot.id, url: slot.url.clone(), attempt, t: self.now };
        self.timers.insert((self.now + self.opts.timeout_ms, idx));
        self.actions.push_back(Action::Start(req));
        if !internal {
            self.emit(ev);
        }
    }
}

impl Machine for Scheduler {
    fn handle_timeout(&mut self, now: Millis) {
        Scheduler::handle_timeout(self, now);
    }
    fn on_result(&mut self, now: Millis, id: u32, attempt: u32, result: AttemptResult) {
        Scheduler::on_result(self, now, id, attempt, result);
    }
    fn on_note(&mut self, now: Millis, id: u32, attempt: u32, note: Note) {
        Scheduler::on_note(self, now, id, attempt, note);
    }
    fn cancel(&mut self, now: Millis) {
        Scheduler::cancel(self, now);
    }
    fn poll_action(&mut self) -> Option<Action> {
        Scheduler::poll_action(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Scheduler::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Millis> {
        Scheduler::poll_timeout(self)
    }
    fn is_finished(&self) -> bool {
        Scheduler::is_finished(self)
    }
    fn in_flight(&self) -> u32 {
        Scheduler::in_flight(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::retry::tests::{MaxRng, ZeroRng};
    use crate::engine::retry::{Rng as _, SplitMix64};
    use std::rc::Rc;

    use crate::engine::sim::{
        Outcome, Platform, RequestScript, Script, jobs, simulate, simulate_machine, simulate_on, simulate_with,
    };

    fn opts(concurrency: u32, per_host: u32) -> RunOptions {
        RunOptions {
            concurrency,
            per_host,
            timeout_ms: 10_000,
            max_attempts: 3,
            base_ms: 1000,
            max_ms: 10_000,
            extract: false,
            deadline_ms: 1_000_000,
            per_host_interval_ms: 0,
            revalidate: false,
        }
    }

    fn starts_of(out: &Outcome, id: u32) -> Vec<(u32, Millis)> {
        out.log.starts.iter().filter(|s| s.0 == id).map(|s| (s.1, s.2)).collect()
    }

    #[test]
    fn third_attempt_starts_exactly_after_the_jittered_wait() {
        let o = RunOptions { base_ms: 2000, ..opts(1, 1) };
        let out = simulate(
            jobs(1, 1),
            o,
            Box::new(MaxRng),
            |_, attempt| match attempt {
                1 | 2 => Script::status(100, 503),
                _ => Script::ok(100),
            },
            None,
        );
        // Attempt 1 fails at 100 and waits base·2^0 = 2000; attempt 2 fails
        // at 2200 and waits base·2^1 = 4000; attempt 3 starts at 6200.
        assert_eq!(starts_of(&out, 0), vec![(1, 0), (2, 2100), (3, 6200)]);
        let waits: Vec<(u32, u64, Millis)> = out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Retrying { attempt, wait_ms, t, .. } => Some((*attempt, *wait_ms, *t)),
                _ => None,
            })
            .collect();
        assert_eq!(waits, vec![(1, 2000, 100), (2, 4000, 2200)]);
        match out.terminal(0) {
            Event::Done { attempts, ms, t, status, .. } => {
                assert_eq!((*attempts, *ms, *t, *status), (3, 100, 6300, 200));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.summary().retries, 2);
        assert_eq!(out.summary().elapsed_ms, 6300);
    }

    #[test]
    fn zero_jitter_retries_at_once() {
        let out = simulate(
            jobs(1, 1),
            opts(1, 1),
            Box::new(ZeroRng),
            |_, a| {
                if a == 1 {
                    Script::Error { after: 50, error: FetchError::Network("reset".into()) }
                } else {
                    Script::ok(10)
                }
            },
            None,
        );
        assert_eq!(starts_of(&out, 0), vec![(1, 0), (2, 50)]);
        assert!(matches!(out.terminal(0), Event::Done { attempts: 2, .. }));
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_fails_clearly() {
        let o = RunOptions { base_ms: 500, ..opts(2, 2) };
        let out = simulate(
            jobs(2, 1),
            o,
            Box::new(MaxRng),
            |id, a| match (id, a) {
                (0, 1) => Script::Respond { after: 10, status: 429, retry_after_ms: Some(3000) },
                (1, 1) => Script::Respond { after: 10, status: 503, retry_after_ms: Some(120_000) },
                _ => Script::ok(10),
            },
            None,
        );
        // max(3000, backoff 500) = 3000.
        assert_eq!(starts_of(&out, 0), vec![(1, 0), (2, 3010)]);
        match out.terminal(1) {
            Event::Failed { error, status, attempts, .. } => {
                assert_eq!(error.kind, ErrorKind::RetryAfterTooLong);
                assert_eq!((*status, *attempts), (Some(503), 1));
                assert!(error.message.contains("120000 ms"), "{}", error.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_retryable_status_fails_after_one_attempt() {
        let out = simulate(jobs(1, 1), opts(1, 1), Box::new(MaxRng), |_, _| Script::status(20, 404), None);
        assert_eq!(out.log.starts.len(), 1);
        match out.terminal(0) {
            Event::Failed { error, status, attempts, t, .. } => {
                assert_eq!((error.kind, *status, *attempts, *t), (ErrorKind::HttpStatus, Some(404), 1, 20));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exhausted_retries_report_the_last_cause() {
        let o = RunOptions { max_attempts: 2, ..opts(1, 1) };
        let out = simulate(jobs(1, 1), o, Box::new(ZeroRng), |_, _| Script::status(5, 502), None);
        match out.terminal(0) {
            Event::Failed { error, status, attempts, .. } => {
                assert_eq!((error.kind, *status, *attempts), (ErrorKind::HttpStatus, Some(502), 2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hung_attempt_is_aborted_at_its_timeout() {
        let o = RunOptions { timeout_ms: 1000, max_attempts: 2, ..opts(1, 1) };
        let out = simulate(jobs(1, 1), o, Box::new(ZeroRng), |_, _| Script::Hang, None);
        assert_eq!(out.log.aborts, vec![(0, 1, 1000), (0, 2, 2000)]);
        assert_eq!(starts_of(&out, 0), vec![(1, 0), (2, 1000)]);
        match out.terminal(0) {
            Event::Failed { error, attempts, t, .. } => {
                assert_eq!((error.kind, *attempts, *t), (ErrorKind::Timeout, 2, 2000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.log.live, 0);
    }

    #[test]
    fn the_run_deadline_aborts_everything_and_starts_nothing_after_it() {
        let o = RunOptions { deadline_ms: 1500, ..opts(2, 2) };
        let out = simulate(
            jobs(5, 1),
            o,
            Box::new(ZeroRng),
            |id, _| {
                if id == 0 { Script::ok(100) } else { Script::Hang }
            },
            None,
        );
        // Job 0 is done at 100 and job 2 takes its slot; jobs 1 and 2 hang.
        assert!(matches!(out.terminal(0), Event::Done { t: 100, .. }));
        for id in 1..5 {
            match out.terminal(id) {
                Event::Failed { error, t, .. } => {
                    assert_eq!((error.kind, *t), (ErrorKind::DeadlineExceeded, 1500))
                }
                other => panic!("{other:?}"),
            }
        }
        let mut aborted: Vec<u32> = out.log.aborts.iter().map(|a| a.0).collect();
        aborted.sort_unstable();
        assert_eq!(aborted, vec![1, 2]);
        assert!(out.log.starts.iter().all(|s| s.2 < 1500));
        assert_eq!(out.summary().elapsed_ms, 1500);
        assert_eq!(out.log.live, 0);
    }

    #[test]
    fn a_retry_that_would_start_after_the_deadline_fails_now() {
        let o = RunOptions { deadline_ms: 1000, base_ms: 5000, ..opts(1, 1) };
        let out = simulate(jobs(1, 1), o, Box::new(MaxRng), |_, _| Script::status(100, 503), None);
        match out.terminal(0) {
            Event::Failed { error, t, .. } => {
                assert_eq!((error.kind, *t), (ErrorKind::DeadlineExceeded, 100))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.end, 100);
    }

    #[test]
    fn cancel_mid_run_aborts_in_flight_and_cancels_the_rest() {
        let out = simulate(jobs(10, 1), opts(2, 2), Box::new(ZeroRng), |_, _| Script::ok(1000), Some(2500));
        let s = out.summary();
        assert_eq!((s.done, s.failed, s.cancelled, s.was_cancelled), (4, 0, 6, true));
        assert_eq!(s.elapsed_ms, 2500);
        assert_eq!(out.log.aborts.len(), 2, "the two attempts in flight at 2500");
        assert!(out.log.aborts.iter().all(|a| a.2 == 2500));
        assert!(out.log.starts.iter().all(|st| st.2 <= 2000));
        assert_eq!(out.log.live, 0);
        for id in 4..10 {
            assert!(matches!(out.terminal(id), Event::Cancelled { t: 2500, .. }));
        }
    }

    #[test]
    fn dropping_the_run_aborts_what_is_in_flight() {
        let script = std::rc::Rc::new(|_, _| Script::ok(1000));
        let out = simulate_with(jobs(6, 1), opts(3, 3), Box::new(ZeroRng), script, None, Some(1500));
        assert_eq!(out.log.aborts.len(), 3);
        assert_eq!(out.log.live, 0);
        assert_eq!(out.log.starts.len(), 6);
        assert!(!out.events.iter().any(|e| matches!(e, Event::Summary(_))), "nobody is listening");
    }

    #[test]
    fn a_saturated_host_does_not_hold_back_other_hosts() {
        // Host "slow" has 10 slow jobs and a per-host cap of 2; host "fast"'s
        // jobs come after them in input order, yet start at once.
        let mut js: Vec<Job> = (0..10).map(|id| Job { id, url: format!("http://slow.test/{id}") }).collect();
        js.extend((10..13).map(|id| Job { id, url: format!("http://fast.test/{id}") }));
        let out = simulate(
            js,
            opts(4, 2),
            Box::new(ZeroRng),
            |id, _| {
                if id < 10 { Script::ok(1000) } else { Script::ok(10) }
            },
            None,
        );
        assert_eq!(starts_of(&out, 10), vec![(1, 0)]);
        assert_eq!(starts_of(&out, 11), vec![(1, 0)]);
        assert_eq!(starts_of(&out, 12), vec![(1, 10)]);
        assert_eq!(out.log.max_live_per_host, 2);
    }

    #[test]
    fn hosts_take_turns() {
        // Three hosts, 4 jobs each, one slot: starts alternate between hosts.
        let out = simulate(jobs(12, 3), opts(1, 1), Box::new(ZeroRng), |_, _| Script::ok(10), None);
        let hosts: Vec<u32> = out.log.starts.iter().map(|s| s.0 % 3).collect();
        assert_eq!(hosts, vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn invalid_urls_fail_without_an_attempt() {
        let js = vec![Job { id: 0, url: "ftp://x/".into() }, Job { id: 1, url: "http://ok.test/".into() }];
        let out = simulate(js, opts(1, 1), Box::new(ZeroRng), |_, _| Script::ok(5), None);
        match out.terminal(0) {
            Event::Failed { error, attempts, .. } => assert_eq!((error.kind, *attempts), (ErrorKind::InvalidUrl, 0)),
            other => panic!("{other:?}"),
        }
        assert_eq!(out.log.starts.len(), 1);
        assert_eq!(out.of(1).len(), 3, "queued, started, done");
    }

    #[test]
    fn an_empty_run_still_ends_with_a_summary() {
        let out = simulate(Vec::new(), opts(1, 1), Box::new(ZeroRng), |_, _| Script::ok(5), None);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.summary().total, 0);
    }

    #[test]
    fn the_scheduler_adds_no_idle_gaps() {
        for (n, c, l) in [(200u32, 50u32, 100u64), (7, 3, 40), (1, 8, 5), (100, 1, 3), (201, 50, 100)] {
            let out = simulate(jobs(n, 1), opts(c, c), Box::new(ZeroRng), move |_, _| Script::ok(l), None);
            assert_eq!(out.summary().elapsed_ms, u64::from(n.div_ceil(c)) * l, "N={n} C={c} L={l}");
            assert_eq!(out.summary().peak_in_flight, c.min(n));
        }
    }

    /// A deterministic per-attempt fault script drawn from `seed`.
    fn scripted(seed: u64, id: u32, attempt: u32) -> Script {
        let mut r = SplitMix64::new(seed ^ (u64::from(id) << 20) ^ u64::from(attempt));
        let after = r.up_to(400);
        match r.up_to(9) {
            0 => Script::Hang,
            1 => Script::status(after, 503),
            2 => Script::Respond { after, status: 429, retry_after_ms: Some(r.up_to(1500)) },
            3 => Script::Error { after, error: FetchError::Network("reset".into()) },
            4 => Script::status(after, 404),
            _ => Script::ok(after),
        }
    }

    fn time_of(e: &Event) -> Millis {
        match e {
            Event::Discovered { t, .. }
            | Event::Queued { t, .. }
            | Event::Started { t, .. }
            | Event::Retrying { t, .. }
            | Event::Done { t, .. }
            | Event::Failed { t, .. }
            | Event::Cancelled { t, .. }
            | Event::SaveError { t, .. }
            | Event::Heartbeat { t } => *t,
            Event::Summary(s) => s.elapsed_ms,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn invariants_hold_under_random_faults(
            n in 0u32..40, hosts in 1u32..5, concurrency in 1u32..8, per_host in 1u32..8,
            max_attempts in 1u32..5, timeout_ms in 50u64..600, base_ms in 0u64..300, max_ms in 0u64..1200,
            deadline_ms in 200u64..20_000, seed in any::<u64>(), cancel in proptest::option::of(0u64..3000),
        ) {
            let o = RunOptions {
                concurrency, per_host, timeout_ms, max_attempts, base_ms: base_ms.min(max_ms), max_ms,
                extract: false, deadline_ms, per_host_interval_ms: 0,
                revalidate: false,
            };
            let out = simulate(jobs(n, hosts), o, Box::new(SplitMix64::new(seed)), move |id, a| scripted(seed, id, a), cancel);
            prop_assert!(out.log.max_live <= concurrency);
            prop_assert!(out.log.max_live_per_host <= per_host);
            prop_assert_eq!(out.log.live, 0, "nothing in flight at the end");
            prop_assert_eq!(out.events.iter().filter(|e| matches!(e, Event::Summary(_))).count(), 1);
            let s = out.summary();
            prop_assert_eq!(s.done + s.failed + s.cancelled, n);
            prop_assert!(out.log.starts.iter().all(|st| st.2 < deadline_ms), "no start after the deadline");
            if let Some(c) = cancel {
                prop_assert!(out.log.starts.iter().all(|st| st.2 <= c), "no start after cancel");
            }
            let mut last_t = 0;
            let mut per_job: HashMap<u32, Vec<&Event>> = HashMap::new();
            for e in &out.events {
                let t = time_of(e);
                prop_assert!(t >= last_t, "time never runs backwards");
                last_t = t;
                if let Some(id) = e.id() {
                    per_job.entry(id).or_default().push(e);
                }
            }
            for id in 0..n {
                let evs = &per_job[&id];
                prop_assert!(matches!(evs[0], Event::Queued { .. }), "queued comes first");
                prop_assert_eq!(evs.iter().filter(|e| e.is_terminal()).count(), 1);
                prop_assert!(evs.last().is_some_and(|e| e.is_terminal()), "the terminal event is the last");
                let mut expect_attempt = 1;
                for e in evs {
                    match e {
                        Event::Started { attempt, .. } => {
                            prop_assert_eq!(*attempt, expect_attempt);
                            expect_attempt += 1;
                        }
                        Event::Retrying { attempt, wait_ms, .. } => {
                            prop_assert_eq!(*attempt, expect_attempt - 1);
                            prop_assert!(*wait_ms <= max_ms, "wait {} over cap {}", wait_ms, max_ms);
                        }
                        Event::Done { attempts, .. } | Event::Failed { attempts, .. } => {
                            prop_assert!(*attempts <= max_attempts);
                            prop_assert_eq!(*attempts, expect_attempt - 1);
                        }
                        _ => {}
                    }
                }
            }
        }

        #[test]
        fn the_connection_model_holds_under_random_faults(
            n in 0u32..40, hosts in 1u32..4, concurrency in 1u32..20, connections in 1u32..7,
            seed in any::<u64>(), cancel in proptest::option::of(0u64..3000),
        ) {
            // The runtime has the same limit as the model: if the scheduler
            // ever let a 7th wait for headers, the runtime would queue it and
            // its request would go out later than it started.
            let o = RunOptions { timeout_ms: 400, max_attempts: 3, base_ms: 50, max_ms: 500, ..opts(concurrency, concurrency) };
            let mut s = Scheduler::new(jobs(n, hosts), o, Box::new(SplitMix64::new(seed)));
            s.limit_connections(connections);
            let script: RequestScript = Rc::new(move |r: &AttemptRequest| match SplitMix64::new(seed ^ u64::from(r.id) << 8 ^ u64::from(r.attempt)).up_to(5) {
                0 => Script::Slow { headers: 30, body: 300, status: 200 },
                _ => scripted(seed, r.id, r.attempt),
            });
            let out = simulate_on(s, script, Platform { connections, notes: true }, cancel, None);
            prop_assert!(out.log.max_awaiting <= connections);
            prop_assert_eq!(out.log.awaiting, 0);
            let starts: HashMap<(u32, u32), Millis> = out.log.starts.iter().map(|&(i, a, t)| ((i, a), t)).collect();
            prop_assert!(out.log.sent.iter().all(|&(i, a, t)| starts[&(i, a)] == t), "nothing waited in the runtime");
            let sum = out.summary();
            prop_assert_eq!(sum.done + sum.failed + sum.cancelled, n);
        }

        #[test]
        fn makespan_is_ideal_without_faults(n in 1u32..300, c in 1u32..64, l in 1u64..500) {
            let out = simulate(jobs(n, 1), opts(c, c), Box::new(ZeroRng), move |_, _| Script::ok(l), None);
            prop_assert_eq!(out.summary().elapsed_ms, u64::from(n.div_ceil(c)) * l);
        }
    }

    /// What the edge writes, a Rust client reads back unchanged: every event
    /// of a run with retries and failures, its summary (status histogram
    /// included), a heartbeat and a save error.
    #[test]
    fn every_event_line_decodes_back_to_itself() {
        let opts = RunOptions { max_attempts: 2, base_ms: 10, ..RunOptions::default() };
        let mut events = simulate(
            jobs(6, 2),
            opts,
            Box::new(MaxRng),
            |id, attempt| match (id % 3, attempt) {
                (0, _) => Script::ok(5),
                (1, 1) => Script::status(5, 503),
                (1, _) => Script::ok(5),
                _ => Script::status(5, 404),
            },
            None,
        )
        .events;
        events.push(Event::Heartbeat { t: 9 });
        events.push(Event::SaveError { message: "D1: no such table".into(), t: 9 });
        let Some(Event::Summary(s)) = events.iter().find(|e| matches!(e, Event::Summary(_))) else {
            panic!("no summary")
        };
        assert_eq!(s.stats.status.len(), 2, "200s and 404s: {:?}", s.stats.status);
        for ev in &events {
            let back: Event = serde_json::from_str(ev.to_ndjson().trim_end()).unwrap_or_else(|e| panic!("{ev:?}: {e}"));
            assert_eq!(&back, ev);
        }
    }

    fn paced(n: u32, interval: u64, rng: Box<dyn crate::engine::retry::Rng>) -> Outcome {
        let o = RunOptions { per_host_interval_ms: interval, ..opts(10, 10) };
        let mut s = Scheduler::new(jobs(n, 1), o, rng);
        s.pace_hosts(10_000);
        simulate_machine(s, Rc::new(|_: &AttemptRequest| Script::ok(10)), None, None)
    }

    #[test]
    fn paced_starts_on_a_host_are_spaced_half_to_one_and_a_half_intervals() {
        let starts = |out: &Outcome| out.log.starts.iter().map(|s| s.2).collect::<Vec<_>>();
        assert_eq!(starts(&paced(4, 1000, Box::new(ZeroRng))), vec![0, 500, 1000, 1500]);
        assert_eq!(starts(&paced(4, 1000, Box::new(MaxRng))), vec![0, 1500, 3000, 4500]);
        for seed in 0..20 {
            let out = paced(12, 1000, Box::new(SplitMix64::new(seed)));
            let t = starts(&out);
            assert_eq!(t.len(), 12);
            for gap in t.windows(2).map(|w| w[1] - w[0]) {
                assert!((500..=1500).contains(&gap), "seed {seed}: gap {gap} in {t:?}");
            }
            assert_eq!(out.summary().done, 12);
        }
        // Without pacing, all start at once (a list run as before).
        assert_eq!(starts(&paced(4, 0, Box::new(MaxRng))), vec![0, 0, 0, 0]);
    }

    #[test]
    fn a_paced_host_never_holds_back_another_host() {
        let mut s = Scheduler::new(jobs(6, 2), opts(10, 10), Box::new(MaxRng));
        s.pace_hosts(10_000);
        // Host h0 (even ids) asks for 2 s between starts (a Crawl-delay).
        s.set_crawl_delay("http://h0.test/", 2000);
        let out = simulate_machine(s, Rc::new(|_: &AttemptRequest| Script::ok(10)), None, None);
        let h1: Vec<Millis> = [1, 3, 5].iter().map(|&id| starts_of(&out, id)[0].1).collect();
        assert_eq!(h1, vec![0, 0, 0], "h1 starts everything at once");
        let h0: Vec<Millis> = [0, 2, 4].iter().map(|&id| starts_of(&out, id)[0].1).collect();
        assert_eq!(h0, vec![0, 3000, 6000], "h0 is spaced by 1.5 × 2 s (MaxRng)");
        assert_eq!(out.summary().done, 6);
        // A crawl delay is a floor: the smallest jitter still waits all of it.
        let mut s = Scheduler::new(jobs(3, 1), opts(10, 10), Box::new(ZeroRng));
        s.pace_hosts(10_000);
        s.set_crawl_delay("http://h0.test/", 2000);
        let out = simulate_machine(s, Rc::new(|_: &AttemptRequest| Script::ok(10)), None, None);
        assert_eq!(out.log.starts.iter().map(|s| s.2).collect::<Vec<_>>(), vec![0, 2000, 4000]);
    }

    #[test]
    fn a_host_answering_429_backs_off_alone_then_recovers() {
        let mut s = Scheduler::new(jobs(6, 2), opts(10, 1), Box::new(ZeroRng));
        s.pace_hosts(8000);
        let script = |r: &AttemptRequest| match (r.id, r.attempt) {
            (0, 1) => Script::status(10, 429),
            _ => Script::ok(10),
        };
        let out = simulate_machine(s, Rc::new(script), None, None);
        // h0: job 0 is told 429 at 10; h0 waits the smallest backoff (250 ms)
        // before anything starts there again; its retry starts at 260 and
        // spaces the next start by half the penalty (ZeroRng); the success
        // halves the penalty below the minimum, so pacing stops.
        assert_eq!(starts_of(&out, 0), vec![(1, 0), (2, 260)]);
        assert_eq!(starts_of(&out, 2), vec![(1, 385)]);
        assert_eq!(starts_of(&out, 4), vec![(1, 395)]);
        // h1 (odd ids, one at a time) never waits.
        let h1: Vec<Millis> = [1, 3, 5].iter().map(|&id| starts_of(&out, id)[0].1).collect();
        assert_eq!(h1, vec![0, 10, 20]);
        // Without pacing turned on, a 429 changes nothing for the host.
        let plain = simulate(
            jobs(6, 2),
            opts(10, 1),
            Box::new(ZeroRng),
            move |id, a| script(&AttemptRequest { id, attempt: a, ..AttemptRequest::default() }),
            None,
        );
        assert_eq!(starts_of(&plain, 0), vec![(1, 0), (2, 10)]);
        assert_eq!(starts_of(&plain, 2)[0].1, 20);
    }

    #[test]
    fn repeated_429s_double_the_backoff_up_to_the_cap() {
        let mut s =
            Scheduler::new(jobs(1, 1), RunOptions { max_attempts: 6, base_ms: 0, ..opts(1, 1) }, Box::new(MaxRng));
        s.pace_hosts(1000);
        let out = simulate_machine(
            s,
            Rc::new(|r: &AttemptRequest| if r.attempt < 6 { Script::status(0, 429) } else { Script::ok(0) }),
            None,
            None,
        );
        // Each 429 doubles the host's penalty (250, 500, 1000, then capped at
        // 1000) and nothing starts there before it has passed; once capped,
        // starts are 1.5 × 1000 ms apart (the jitter's top, MaxRng).
        let t: Vec<Millis> = starts_of(&out, 0).iter().map(|s| s.1).collect();
        assert_eq!(t, vec![0, 250, 750, 1750, 3250, 4750]);
        assert!(matches!(out.terminal(0), Event::Done { attempts: 6, .. }));
    }

    #[test]
    fn a_304_to_a_revalidation_is_done_and_unchanged_and_carries_the_product() {
        let mut s = Scheduler::new(Vec::new(), opts(2, 2), Box::new(ZeroRng));
        s.set_open(true);
        s.add(Job { id: 0, url: "http://h0.test/a".into() }, false);
        s.add(Job { id: 1, url: "http://h0.test/b".into() }, false);
        s.handle_timeout(0);
        while s.poll_action().is_some() {}
        while s.poll_event().is_some() {}
        let name =
            crate::wire::protocol::Field { value: "Kettle".to_owned(), source: crate::wire::protocol::Source::JsonLd };
        let carried = Product { name: Some(name), ..Product::default() };
        let unchanged =
            Response { status: 304, not_modified: true, product: Some(carried.clone()), ..Response::default() };
        s.on_result(7, 0, 1, Ok(unchanged));
        match s.poll_event() {
            Some(Event::Done { id: 0, status: 304, not_modified: true, bytes: 0, product: Some(p), .. }) => {
                assert_eq!(*p, carried, "the saved product, carried forward");
            }
            other => panic!("{other:?}"),
        }
        // A 304 nobody asked for (no validators were sent) ends the URL as any
        // final 3xx does, but is not "unchanged": nothing is carried.
        s.on_result(8, 1, 1, Ok(Response { status: 304, ..Response::default() }));
        let ev = s.poll_event();
        assert!(
            matches!(ev, Some(Event::Done { id: 1, status: 304, not_modified: false, product: None, .. })),
            "{ev:?}"
        );
    }

    #[test]
    fn internal_requests_hold_a_slot_send_no_events_and_hand_back_their_result() {
        let mut s = Scheduler::new(Vec::new(), opts(1, 1), Box::new(ZeroRng));
        s.set_open(true);
        s.add_internal(INTERNAL_ID_BASE, "http://h0.test/robots.txt".into());
        s.add(Job { id: 0, url: "http://h0.test/p".into() }, true);
        s.handle_timeout(0);
        let robots = AttemptRequest {
            id: INTERNAL_ID_BASE,
            attempt: 1,
            url: "http://h0.test/robots.txt".into(),
            links: false,
            text: true,
            prior: None,
        };
        assert_eq!(s.poll_action(), Some(Action::Start(robots)));
        assert_eq!(s.poll_action(), None, "concurrency 1: the page waits for the robots.txt fetch");
        assert!(matches!(s.poll_event(), Some(Event::Queued { id: 0, .. })));
        assert_eq!(s.poll_event(), None, "no events for the internal request");
        let text = Response { status: 200, text: Some("User-agent: *".into()), ..Response::default() };
        s.on_result(5, INTERNAL_ID_BASE, 1, Ok(text.clone()));
        assert_eq!(s.poll_internal(), Some((INTERNAL_ID_BASE, Ok(text))));
        match s.poll_action() {
            Some(Action::Start(req)) => assert_eq!((req.id, req.links, req.text), (0, true, false)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.poll_event(), Some(Event::Started { id: 0, t: 5, .. })));
        s.on_result(9, 0, 1, Ok(Response { status: 200, ..Response::default() }));
        assert!(matches!(s.poll_event(), Some(Event::Done { id: 0, .. })));
        assert_eq!(s.poll_event(), None, "open: no summary yet");
        assert!(!s.is_finished());
        s.set_open(false);
        match s.poll_event() {
            Some(Event::Summary(sum)) => assert_eq!((sum.total, sum.done), (1, 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_internal_request_that_hangs_ends_at_the_timeout_with_an_error() {
        let mut s = Scheduler::new(Vec::new(), RunOptions { timeout_ms: 300, ..opts(1, 1) }, Box::new(ZeroRng));
        s.add_internal(INTERNAL_ID_BASE + 1, "http://h0.test/robots.txt".into());
        s.handle_timeout(0);
        assert!(matches!(s.poll_action(), Some(Action::Start(_))));
        assert_eq!(s.poll_timeout(), Some(300));
        s.handle_timeout(300);
        assert_eq!(s.poll_action(), Some(Action::Abort { id: INTERNAL_ID_BASE + 1, attempt: 1 }));
        assert!(matches!(s.poll_internal(), Some((_, Err(FetchError::Timeout { after_ms: 300 })))));
        match s.poll_event() {
            Some(Event::Summary(sum)) => assert_eq!(sum.total, 0, "internal requests are not URLs of the run"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejected_jobs_fail_at_once_and_jobs_added_after_cancel_are_cancelled() {
        let mut s = Scheduler::new(Vec::new(), opts(2, 2), Box::new(ZeroRng));
        s.set_open(true);
        s.reject(Job { id: 0, url: "http://h0.test/private".into() }, ErrorKind::RobotsDisallowed, "disallowed");
        assert!(matches!(s.poll_event(), Some(Event::Queued { id: 0, .. })));
        match s.poll_event() {
            Some(Event::Failed { id: 0, error, attempts: 0, .. }) => {
                assert_eq!(error.kind, ErrorKind::RobotsDisallowed)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.poll_action(), None);
        s.cancel(10);
        s.add(Job { id: 1, url: "http://h0.test/late".into() }, false);
        assert!(matches!(s.poll_event(), Some(Event::Queued { id: 1, .. })));
        assert!(matches!(s.poll_event(), Some(Event::Cancelled { id: 1, .. })));
        assert_eq!(s.poll_action(), None, "nothing starts after cancel");
        s.set_open(false);
        match s.poll_event() {
            Some(Event::Summary(sum)) => assert_eq!((sum.total, sum.failed, sum.cancelled), (2, 1, 1)),
            other => panic!("{other:?}"),
        }
    }

    /// A run at concurrency `c` on one host through a platform that lets
    /// `platform.connections` requests wait for headers at once.
    fn limited(n: u32, c: u32, model: u32, platform: Platform, script: Script, timeout_ms: Millis) -> Outcome {
        let o = RunOptions { timeout_ms, max_attempts: 1, ..opts(c, c) };
        let mut s = Scheduler::new(jobs(n, 1), o, Box::new(ZeroRng));
        s.limit_connections(model);
        simulate_on(s, Rc::new(move |_: &AttemptRequest| script.clone()), platform, None, None)
    }

    fn failed_by_timeout(out: &Outcome) -> usize {
        out.events
            .iter()
            .filter(|e| matches!(e, Event::Failed { error, .. } if error.kind == ErrorKind::Timeout))
            .count()
    }

    #[test]
    fn a_runtime_queue_eats_the_timeout_of_attempts_timed_from_their_start() {
        // The flaw the connection limit exposes: 50 fetches started at once,
        // a runtime that sends 6 at a time, an upstream that answers in
        // 1.9 s and a 10 s budget timed from the start. Five waves (30 URLs)
        // end by 9.5 s; the other 20 time out while queued in the runtime
        // (or just after going out), though the upstream would have
        // answered every one of them in 1.9 s.
        let runtime = Platform { connections: 6, notes: false };
        let out = limited(50, 50, 0, runtime, Script::ok(1900), 10_000);
        assert_eq!(failed_by_timeout(&out), 20);
        assert_eq!(out.log.max_awaiting, 6);
    }

    #[test]
    fn an_attempt_queued_in_the_runtime_keeps_its_whole_timeout_once_it_goes_out() {
        // Two URLs, a runtime with one connection, 600 ms answers and a
        // 1,000 ms timeout: the second goes out at 600 ms. Timed from its
        // start it would time out at 1,000; timed from when it went out, it
        // is done at 1,200 with a latency of 600.
        let queued = |notes| limited(2, 2, 0, Platform { connections: 1, notes }, Script::ok(600), 1000);
        assert_eq!(failed_by_timeout(&queued(false)), 1);
        let out = queued(true);
        assert_eq!(failed_by_timeout(&out), 0);
        assert_eq!(out.log.sent, vec![(0, 1, 0), (1, 1, 600)]);
        match out.terminal(1) {
            Event::Done { ms, t, .. } => assert_eq!((*ms, *t), (600, 1200)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_scheduler_keeps_six_waiting_for_headers_and_starts_the_rest_when_headers_come() {
        // The model in the scheduler itself: it starts no 7th attempt while
        // six wait for their headers, so nothing waits in the runtime's
        // queue (the runtime's own limit is never reached), and an attempt
        // starts the moment a connection frees.
        let platform = Platform { connections: 0, notes: true };
        let out = limited(50, 50, 6, platform, Script::ok(2000), 10_000);
        assert_eq!(failed_by_timeout(&out), 0);
        assert_eq!(out.log.max_awaiting, 6);
        assert_eq!(out.summary().peak_in_flight, 6);
        let waves: Vec<Millis> = (0..50).map(|id| starts_of(&out, id)[0].1).collect();
        assert_eq!(waves, (0..50).map(|i| (i / 6) * 2000).collect::<Vec<_>>());
        assert_eq!(out.end, 18_000);
    }

    #[test]
    fn reading_a_body_holds_no_connection() {
        // Headers after 100 ms, then 900 ms of body: six go out every
        // 100 ms while the earlier ones still read, so 30 are in flight at
        // once with never more than 6 waiting for headers.
        let platform = Platform { connections: 6, notes: true };
        let out = limited(30, 30, 6, platform, Script::Slow { headers: 100, body: 900, status: 200 }, 10_000);
        assert_eq!(out.summary().done, 30);
        assert_eq!(out.log.max_awaiting, 6);
        assert_eq!(out.summary().peak_in_flight, 30);
        assert_eq!(out.end, 400 + 1000);
    }

    #[test]
    fn an_attempt_that_times_out_or_is_aborted_gives_its_connection_back() {
        let o = RunOptions { timeout_ms: 1000, max_attempts: 1, ..opts(4, 4) };
        let mut s = Scheduler::new(jobs(4, 1), o, Box::new(ZeroRng));
        s.limit_connections(2);
        let platform = Platform { connections: 0, notes: true };
        let script: RequestScript = Rc::new(|r: &AttemptRequest| if r.id < 2 { Script::Hang } else { Script::ok(100) });
        let out = simulate_on(s, script, platform, None, None);
        assert_eq!(failed_by_timeout(&out), 2);
        assert_eq!(starts_of(&out, 2), vec![(1, 1000)]);
        assert_eq!(starts_of(&out, 3), vec![(1, 1000)]);
        assert_eq!(out.end, 1100);
        // Cancelled while waiting for headers: the count goes back to zero.
        let mut s = Scheduler::new(jobs(3, 1), opts(3, 3), Box::new(ZeroRng));
        s.limit_connections(1);
        s.handle_timeout(0);
        assert_eq!(s.awaiting_headers(), 1);
        s.cancel(10);
        assert_eq!(s.awaiting_headers(), 0);
    }

    #[test]
    fn notes_about_attempts_no_longer_in_flight_change_nothing() {
        let mut s = Scheduler::new(jobs(2, 1), opts(2, 2), Box::new(ZeroRng));
        s.limit_connections(1);
        s.handle_timeout(0);
        s.on_note(5, 0, 1, Note::Headers);
        s.on_note(6, 0, 1, Note::Headers);
        assert_eq!(s.awaiting_headers(), 1, "the second attempt started, the repeat note ignored");
        s.on_note(7, 0, 2, Note::Sent);
        s.on_note(8, 9, 1, Note::Sent);
        assert_eq!(s.peak_awaiting_headers(), 1);
    }
}
