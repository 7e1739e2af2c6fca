//! The job: the one writer of a job's state, sans-IO.
//!
//! A Durable Object per job holds a [`JobMachine`] over its SQLite storage
//! (any [`JobStore`]); the shell feeds it the time, consumers' claims and
//! reports, alarms and cancels, and sends out the batches it hands out.
//!
//! - **Caps across shards.** Each batch goes to a lane, one shard
//!   invocation with its own connections, with a [`Grant`]: its concurrency
//!   (at most the invocation's connections) and its share of each host's
//!   cap. Over all open batches the grants never add up to more than the
//!   job's `concurrency`, nor more than `per_host` on one host, and a shard
//!   runs its batch within its grant, so what is in flight never exceeds the
//!   job's caps however many shards run at once. A batch holds several
//!   waves of URLs (`batch_size`), so the lanes keep busy between hand-outs.
//! - **Exactly one outcome per URL.** An outcome is recorded the first time
//!   a report carries it and never again (a duplicate delivery, a late
//!   consumer); a batch whose consumer vanished is handed out again when its
//!   lease ends; a URL handed out [`MAX_HANDOUTS`] times without a report
//!   ends `failed` (`lease_expired`), never lost.
//! - **Crawls.** Links in reports are deduplicated, scoped and budgeted as a
//!   streamed crawl does ([`crate::crawl`]); robots.txt is fetched by a
//!   consumer before any page of its origin is handed out, and the job
//!   decides on the URLs that waited for it.
//!
//! Times are Unix milliseconds; event times count from the job's creation.

use std::collections::HashMap;

use url::Url;

use crate::crawl::canonical::canonical_key;
use crate::crawl::robots::RobotsRules;
use crate::crawl::scope::in_scope;
use crate::engine::scheduler::{AttemptResult, Response};
use crate::history::{SavedResult, Timeline};
use crate::input::pattern::UrlPatterns;
use crate::input::target::TargetPolicy;
use crate::input::validation::is_own_demo_url;
use crate::jobs::consumer::worst_case_ms;
use crate::jobs::protocol::{BatchMessage, BatchReport, BatchUrl, ClaimAnswer, Grant, HostCap, RobotsFetch};
use crate::jobs::store::{BatchRow, Candidate, JobMeta, JobSpec, JobStore, RobotsRow, UrlRow, UrlState, full_hosts};
use crate::view::stats::{Stats, host_key};
use crate::wire::config::MAX_LINKS_PER_PAGE;
use crate::wire::error::{ErrorKind, FetchError};
use crate::wire::jobs::{JobCounts, JobState, JobStatus};
use crate::wire::protocol::{CrawlReport, Event, EventError, Millis, RobotsMode, Summary};

/// A URL (or a robots.txt) handed out this often without a report ends.
pub const MAX_HANDOUTS: u32 = 3;

/// Batches open on one lane at once: the one its shard runs, and the next,
/// waiting at the shard so that it starts the moment the first ends (the
/// shard runs a lane's batches one after another, within the lane's one
/// grant).
pub const LANE_DEPTH: u32 = 2;

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A job in progress. See the module docs.
pub struct JobMachine<S: JobStore> {
    store: S,
    meta: JobMeta,
    /// Busy lanes' host caps, added up per host.
    granted: HashMap<String, u32>,
    /// Busy lanes' concurrency, added up.
    granted_total: u32,
    /// Lanes with open batches: the lane's grant, and how many of its
    /// batches are open (at most [`LANE_DEPTH`]).
    busy_lanes: std::collections::BTreeMap<u32, (Grant, u32)>,
    include: UrlPatterns,
    exclude: UrlPatterns,
    rules: HashMap<String, RobotsRules>,
    /// Rows to write to the run history (index, row).
    results: Vec<(u32, SavedResult)>,
}

impl<S: JobStore> core::fmt::Debug for JobMachine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JobMachine").field("id", &self.meta.id).field("state", &self.meta.state).finish_non_exhaustive()
    }
}

impl<S: JobStore> JobMachine<S> {
    /// A new job `id` over `urls` (the list, or a crawl's start pages), made
    /// at `now`: each URL `queued`, robots.txt asked for first when a crawl
    /// obeys it.
    pub fn create(mut store: S, id: &str, spec: JobSpec, urls: Vec<String>, now: u64) -> Self {
        let meta = JobMeta {
            id: id.to_owned(),
            spec,
            state: JobState::Queued,
            counts: JobCounts::default(),
            next_id: 0,
            next_batch: 1,
            created_at: now,
            started_at: None,
            finished_at: None,
            refused: Default::default(),
            robots: Vec::new(),
            taken: 0,
            given: u32::try_from(urls.len()).unwrap_or(u32::MAX),
        };
        store.save_meta(&meta);
        let mut m = Self::with(store, meta);
        let obey = m.crawl_obeys_robots();
        let mut rows = Vec::with_capacity(urls.len());
        let mut events = Vec::with_capacity(urls.len());
        for url in urls {
            let id = m.meta.next_id;
            m.meta.next_id += 1;
            m.meta.counts.total += 1;
            m.meta.taken += 1;
            events.push(Event::Queued { id, url: url.clone(), t: 0 });
            let parsed = Url::parse(&url).ok();
            if let Some(u) = &parsed
                && m.meta.spec.crawl.is_some()
            {
                m.store.seen_insert(&canonical_key(u));
            }
            match parsed.filter(|_| obey) {
                Some(u) => {
                    let origin = origin_of(&u);
                    m.ask_robots(&origin);
                    let c = Candidate { origin, url: url.clone(), depth: 0, parent: id, given: Some(id) };
                    m.store.push_waiting(&c);
                }
                None => {
                    m.meta.counts.pending += 1;
                    rows.push(UrlRow {
                        id,
                        host: host_key(&url),
                        url,
                        depth: 0,
                        state: UrlState::Pending,
                        handouts: 0,
                    });
                }
            }
        }
        m.store.put_urls(&rows);
        m.store.append_events(&events);
        m.finish_if_done(now);
        m.save();
        m
    }

    /// The job in `store`, as saved (a Durable Object woken again).
    pub fn load(store: S) -> Option<Self> {
        let meta = store.load_meta()?;
        let mut m = Self::with(store, meta);
        for b in m.store.open_batches() {
            m.hold(&b.grant);
        }
        for r in &m.meta.robots.clone() {
            if let Some(RobotsRow::Known(f)) = m.store.robots(&r.origin) {
                m.rules.insert(r.origin.clone(), RobotsRules::from_fetch(&r.origin, &result_of(&f)));
            }
        }
        Some(m)
    }

    fn with(store: S, meta: JobMeta) -> Self {
        let (include, exclude) = match &meta.spec.crawl {
            Some(c) => (
                UrlPatterns::new("crawl.include", &c.include).unwrap_or_default(),
                UrlPatterns::new("crawl.exclude", &c.exclude).unwrap_or_default(),
            ),
            None => Default::default(),
        };
        Self {
            store,
            meta,
            granted: HashMap::new(),
            granted_total: 0,
            busy_lanes: Default::default(),
            include,
            exclude,
            rules: HashMap::new(),
            results: Vec::new(),
        }
    }

    fn crawl_obeys_robots(&self) -> bool {
        self.meta.spec.crawl.as_ref().is_some_and(|c| c.robots == RobotsMode::Obey)
    }

    fn save(&mut self) {
        self.store.save_meta(&self.meta);
    }

    /// The store, for the shell's own reads (events).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The job's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Where it stands.
    pub fn state(&self) -> JobState {
        self.meta.state
    }

    /// The spec it was made with.
    pub fn spec(&self) -> &JobSpec {
        &self.meta.spec
    }

    /// When it was made (Unix ms).
    pub fn created_at(&self) -> u64 {
        self.meta.created_at
    }

    /// Concurrency granted to open batches now.
    pub fn granted(&self) -> u32 {
        self.granted_total
    }

    fn t(&self, now: u64) -> Millis {
        now.saturating_sub(self.meta.created_at)
    }

    fn lease_ms(&self) -> u64 {
        worst_case_ms(&self.meta.spec.options) + self.meta.spec.lease_margin_ms
    }

    fn ask_robots(&mut self, origin: &str) {
        if self.store.robots(origin).is_none() {
            self.store.put_robots(origin, &RobotsRow::Needed(0));
        }
    }

    /// A batch opened on its lane: the lane's grant counts against the caps
    /// from its first open batch on (a lane's batches run one after
    /// another, so they share it).
    fn hold(&mut self, g: &Grant) {
        if let Some((_, open)) = self.busy_lanes.get_mut(&g.lane) {
            *open += 1;
            return;
        }
        self.granted_total += g.concurrency;
        for h in &g.hosts {
            *self.granted.entry(h.host.clone()).or_default() += h.cap;
        }
        self.busy_lanes.insert(g.lane, (g.clone(), 1));
    }

    /// A batch closed: with its lane's last open batch, the lane's grant is
    /// free again.
    fn release(&mut self, g: &Grant) {
        let Some((lane, open)) = self.busy_lanes.get_mut(&g.lane) else { return };
        *open -= 1;
        if *open > 0 {
            return;
        }
        let lane = lane.clone();
        self.busy_lanes.remove(&g.lane);
        self.granted_total = self.granted_total.saturating_sub(lane.concurrency);
        for h in &lane.hosts {
            if let Some(n) = self.granted.get_mut(&h.host) {
                *n = n.saturating_sub(h.cap);
            }
        }
    }

    /// Connections one lane's invocation has (no limit: as many as the job's
    /// concurrency).
    fn per_lane(&self) -> u32 {
        match self.meta.spec.connections {
            0 => self.meta.spec.options.concurrency.max(1),
            n => n,
        }
    }

    /// A lane with no open batch, if the job's lanes have one.
    fn free_lane(&self) -> Option<u32> {
        let lanes = crate::engine::lanes::lanes_for(self.meta.spec.options.concurrency, self.per_lane());
        (0..lanes).find(|l| !self.busy_lanes.contains_key(l))
    }

    /// Take up to `size` pending URLs for batch `batch` of hosts in `hosts`
    /// (their shares fixed), adding new hosts while the shares add up to
    /// less than `k` when `grow`.
    fn take_pending(&mut self, batch: u64, size: usize, k: u32, hosts: &mut Vec<HostCap>, grow: bool) -> Vec<UrlRow> {
        let per_host = self.meta.spec.options.per_host.max(1);
        let skip = if grow { full_hosts(&self.granted, per_host) } else { Default::default() };
        let mut shared: u32 = hosts.iter().map(|h| h.cap).sum();
        let mut taken = Vec::new();
        for mut row in self.store.pending(&skip, size * 4) {
            if taken.len() >= size {
                break;
            }
            if !hosts.iter().any(|h| h.host == row.host) {
                let left = per_host.saturating_sub(self.granted.get(&row.host).copied().unwrap_or(0));
                let share = left.min(k.saturating_sub(shared));
                if !grow || share == 0 {
                    continue;
                }
                shared += share;
                hosts.push(HostCap { host: row.host.clone(), cap: share });
            }
            row.state = UrlState::Leased(batch);
            row.handouts += 1;
            taken.push(row);
        }
        taken
    }

    /// Hand out `taken` as batch `batch` under `grant`.
    fn send_batch(&mut self, now: u64, taken: Vec<UrlRow>, grant: Grant, out: &mut Vec<BatchMessage>) {
        let batch = self.new_batch(now, Vec::new(), grant.clone());
        self.meta.counts.pending -= taken.len() as u32;
        self.meta.counts.in_flight += taken.len() as u32;
        self.store.put_urls(&taken);
        let max_depth = self.meta.spec.crawl.as_ref().map_or(0, |c| c.max_depth);
        let urls = taken.into_iter().map(|r| BatchUrl { id: r.id, links: r.depth < max_depth, url: r.url }).collect();
        out.push(self.message(batch, urls, Vec::new(), grant));
    }

    /// Hand out what the caps allow now: robots.txt files first, then
    /// pending URLs in id order, each batch to a free lane with a grant of
    /// at most one invocation's connections, holding about `batch_size`
    /// URLs (whole waves of its concurrency).
    pub fn dispatch(&mut self, now: u64) -> Vec<BatchMessage> {
        if self.meta.state.is_final() {
            return Vec::new();
        }
        let o = self.meta.spec.options.clone();
        let (cap, per_host) = (o.concurrency.max(1), o.per_host.max(1));
        let mut out = Vec::new();
        for origin in self.store.robots_needed() {
            if self.granted_total >= cap {
                break;
            }
            let host = host_key(&origin);
            if self.granted.get(&host).copied().unwrap_or(0) >= per_host {
                continue;
            }
            let Some(lane) = self.free_lane() else { break };
            let Some(RobotsRow::Needed(lost)) = self.store.robots(&origin) else { continue };
            let grant = Grant { lane, concurrency: 1, hosts: vec![HostCap { host, cap: 1 }] };
            let batch = self.new_batch(now, vec![origin.clone()], grant.clone());
            self.store.put_robots(&origin, &RobotsRow::Asked(batch, lost));
            out.push(self.message(batch, Vec::new(), vec![origin], grant));
        }
        let waves = (self.meta.spec.batch_size / self.per_lane()).max(1);
        // Free lanes first, each with a grant of its own.
        loop {
            let room = cap.saturating_sub(self.granted_total);
            let Some(lane) = self.free_lane().filter(|_| room > 0) else { break };
            let k = room.min(self.per_lane());
            let mut hosts = Vec::new();
            let taken = self.take_pending(self.meta.next_batch, (k * waves) as usize, k, &mut hosts, true);
            if taken.is_empty() {
                break;
            }
            let concurrency = hosts.iter().map(|h| h.cap).sum::<u32>().min(k);
            self.send_batch(now, taken, Grant { lane, concurrency, hosts }, &mut out);
        }
        // Then each busy lane's next batch, under the lane's grant, from the
        // hosts it has shares of, so it waits at the shard and starts the
        // moment the one before ends.
        let lanes: Vec<(Grant, u32)> = self.busy_lanes.values().cloned().collect();
        for (grant, open) in lanes {
            if open >= LANE_DEPTH || grant.hosts.is_empty() {
                continue;
            }
            let size = (grant.concurrency * waves) as usize;
            let mut hosts = grant.hosts.clone();
            let taken = self.take_pending(self.meta.next_batch, size, grant.concurrency, &mut hosts, false);
            if taken.is_empty() {
                break;
            }
            self.send_batch(now, taken, grant, &mut out);
        }
        if !out.is_empty() && self.meta.state == JobState::Queued {
            self.meta.state = JobState::Running;
            self.meta.started_at = Some(now);
        }
        self.save();
        out
    }

    fn new_batch(&mut self, now: u64, robots: Vec<String>, grant: Grant) -> u64 {
        let id = self.meta.next_batch;
        self.meta.next_batch += 1;
        self.hold(&grant);
        let lease_until = now + self.lease_ms();
        let row = BatchRow { id, lease_until, robots, claimed: false, closed: false, grant };
        self.store.put_batch(&row);
        id
    }

    fn message(&self, batch: u64, urls: Vec<BatchUrl>, robots: Vec<String>, grant: Grant) -> BatchMessage {
        BatchMessage {
            job_id: self.meta.id.clone(),
            batch,
            urls,
            robots,
            options: self.meta.spec.options.clone(),
            own_origin: self.meta.spec.own_origin.clone(),
            grant,
            connections: self.meta.spec.connections,
        }
    }

    /// Close batch `b` (reported or expired), freeing its grant.
    fn close(&mut self, mut b: BatchRow) {
        if !b.closed {
            b.closed = true;
            self.store.put_batch(&b);
            self.release(&b.grant);
        }
    }

    /// A consumer asks to run `batch` at `now`: only the first claim of an
    /// open batch goes ahead (a message delivered twice is run once), and
    /// its lease restarts, so a consumer that started late still ends before
    /// the lease does (its run is bounded by the batch's worst case).
    pub fn claim(&mut self, batch: u64, now: u64) -> ClaimAnswer {
        let cancelled = self.meta.state == JobState::Cancelled;
        let lease = self.lease_ms();
        match self.store.batch(batch) {
            Some(mut b) if !b.closed && !b.claimed && !cancelled => {
                b.claimed = true;
                b.lease_until = b.lease_until.max(now + lease);
                self.store.put_batch(&b);
                ClaimAnswer { go: true, cancelled }
            }
            _ => ClaimAnswer { go: false, cancelled },
        }
    }

    /// The next batch for `lane`'s shard, claimed (its lease restarts):
    /// the lane's oldest open batch no shard has claimed yet. The shard of a
    /// lane asks for its work, so the job never waits on a shard.
    pub fn next_for_lane(&mut self, lane: u32, now: u64) -> Option<BatchMessage> {
        if self.meta.state.is_final() {
            return None;
        }
        let b = self
            .store
            .open_batches()
            .into_iter()
            .filter(|b| b.grant.lane == lane && !b.claimed)
            .min_by_key(|b| b.id)?;
        if !self.claim(b.id, now).go {
            return None;
        }
        let max_depth = self.meta.spec.crawl.as_ref().map_or(0, |c| c.max_depth);
        let urls = self
            .store
            .leased_by(b.id)
            .into_iter()
            .map(|r| BatchUrl { id: r.id, links: r.depth < max_depth, url: r.url })
            .collect();
        Some(self.message(b.id, urls, b.robots, b.grant))
    }

    /// Lanes with open batches.
    pub fn lanes_busy(&self) -> Vec<u32> {
        self.busy_lanes.keys().copied().collect()
    }

    /// Whether `lane`'s shard holds a batch (one it claimed, still open).
    pub fn lane_holds(&self, lane: u32) -> bool {
        self.store.open_batches().iter().any(|b| b.claimed && b.grant.lane == lane)
    }

    /// Lanes with a batch that no shard has claimed yet.
    pub fn lanes_waiting(&self) -> Vec<u32> {
        let mut lanes: Vec<u32> =
            self.store.open_batches().iter().filter(|b| !b.claimed).map(|b| b.grant.lane).collect();
        lanes.sort_unstable();
        lanes.dedup();
        lanes
    }

    /// Whether a shard running `batch` should go on (it asks every second
    /// while it runs). Its asking keeps the lease: a batch of several waves
    /// may take longer than one URL's worst case, and a shard that stops
    /// asking (it died) loses its batch one worst case after its last word.
    pub fn alive(&mut self, batch: u64, now: u64) -> ClaimAnswer {
        let cancelled = self.meta.state == JobState::Cancelled;
        let lease = self.lease_ms();
        let Some(b) = self.store.batch(batch).filter(|b| !b.closed) else {
            return ClaimAnswer { go: false, cancelled };
        };
        // Every batch the lane's shard holds (the one it runs, and the next
        // it has claimed) keeps its lease while it asks.
        if !cancelled {
            for mut held in self.store.open_batches() {
                if held.claimed && held.grant.lane == b.grant.lane {
                    held.lease_until = held.lease_until.max(now + lease);
                    self.store.put_batch(&held);
                }
            }
        }
        ClaimAnswer { go: !cancelled, cancelled }
    }

    /// A consumer's report: record each URL's outcome once, append its
    /// events, read robots.txt files, follow a crawl's links. URLs of the
    /// batch it did not end go back to pending.
    pub fn report(&mut self, now: u64, report: BatchReport) {
        let shift = report.started_unix_ms.saturating_sub(self.meta.created_at);
        if let Some(b) = self.store.batch(report.batch) {
            self.close(b);
        }
        for f in report.robots {
            self.on_robots(now, f);
        }
        let mut events = Vec::new();
        let mut finished = Vec::new();
        let mut follow = Vec::new();
        for u in report.urls {
            let Some(mut row) = self.store.url(u.id) else { continue };
            if row.state == UrlState::Final {
                continue;
            }
            let Some(last) = u.events.iter().rev().find(|e| e.is_terminal()).cloned() else { continue };
            if let UrlState::Leased(_) = row.state {
                self.meta.counts.in_flight -= 1;
            } else {
                self.meta.counts.pending -= 1;
            }
            let mut kept: Vec<Event> = u
                .events
                .into_iter()
                .filter(|e| matches!(e, Event::Started { .. } | Event::Retrying { .. }))
                .chain([last.clone()])
                .map(|e| shift_event(e.with_id(row.id), shift))
                .collect();
            self.count_outcome(&kept[kept.len() - 1]);
            if let Some(saved) = SavedResult::from_event(&kept[kept.len() - 1]) {
                let timeline = Timeline { t0: self.meta.created_at, events: kept.clone() };
                self.results.push((row.id, SavedResult { timeline: Some(timeline), ..saved }));
            }
            if matches!(last, Event::Done { .. }) && !u.links.is_empty() {
                follow.push((row.clone(), u.links));
            }
            row.state = UrlState::Final;
            finished.push(row);
            events.append(&mut kept);
        }
        self.store.put_urls(&finished);
        self.store.append_events(&events);
        // What the batch held and the report did not end goes back.
        let back: Vec<UrlRow> = self.store.leased_by(report.batch);
        self.requeue(now, back);
        for (row, links) in follow {
            self.follow(now, &row, &links);
        }
        self.finish_if_done(now);
        self.save();
    }

    fn count_outcome(&mut self, ev: &Event) {
        match ev {
            Event::Done { .. } => self.meta.counts.done += 1,
            Event::Failed { .. } => self.meta.counts.failed += 1,
            Event::Cancelled { .. } => self.meta.counts.cancelled += 1,
            _ => {}
        }
    }

    /// Leased URLs back to pending (or, handed out too often, failed).
    fn requeue(&mut self, now: u64, rows: Vec<UrlRow>) {
        let mut put = Vec::new();
        let mut events = Vec::new();
        let t = self.t(now);
        for mut row in rows {
            if let UrlState::Leased(_) = row.state {
                self.meta.counts.in_flight -= 1;
            }
            if row.handouts >= MAX_HANDOUTS {
                let error = EventError {
                    kind: ErrorKind::LeaseExpired,
                    message: format!("handed out {} times and never reported", row.handouts),
                };
                let ev = Event::Failed { id: row.id, url: row.url.clone(), error, attempts: 0, status: None, t };
                events.push(ev);
                row.state = UrlState::Final;
            } else {
                row.state = UrlState::Pending;
                self.meta.counts.pending += 1;
            }
            put.push(row);
        }
        for ev in &events {
            self.count_outcome(ev);
            if let Some(saved) = SavedResult::from_event(ev) {
                self.results.push((ev.id().unwrap_or(0), saved));
            }
        }
        self.store.put_urls(&put);
        self.store.append_events(&events);
    }

    /// An origin's robots.txt came in: remember it and decide on what waited.
    fn on_robots(&mut self, now: u64, f: RobotsFetch) {
        let origin = f.origin.clone();
        match self.store.robots(&origin) {
            Some(RobotsRow::Known(_)) | None => return,
            Some(RobotsRow::Asked(..) | RobotsRow::Needed(_)) => {}
        }
        let rules = RobotsRules::from_fetch(&origin, &result_of(&f));
        self.meta.robots.push(rules.report.clone());
        self.store.put_robots(&origin, &RobotsRow::Known(f));
        self.rules.insert(origin.clone(), rules);
        for c in self.store.take_waiting(&origin) {
            self.decide(now, c);
        }
    }

    /// A candidate whose origin's robots.txt is known: fetch it, or refuse it.
    fn decide(&mut self, now: u64, c: Candidate) {
        let allowed = match (self.rules.get(&c.origin), Url::parse(&c.url)) {
            (Some(r), Ok(u)) => r.allows(&u),
            _ => true,
        };
        match (c.given, allowed) {
            (Some(id), true) => {
                let row =
                    UrlRow { id, host: host_key(&c.url), url: c.url, depth: 0, state: UrlState::Pending, handouts: 0 };
                self.meta.counts.pending += 1;
                self.store.put_urls(&[row]);
            }
            (Some(id), false) => {
                let error = EventError {
                    kind: ErrorKind::RobotsDisallowed,
                    message: format!("{}'s robots.txt disallows it", c.origin),
                };
                let ev = Event::Failed { id, url: c.url.clone(), error, attempts: 0, status: None, t: self.t(now) };
                let row =
                    UrlRow { id, host: host_key(&c.url), url: c.url, depth: 0, state: UrlState::Final, handouts: 0 };
                self.count_outcome(&ev);
                if let Some(saved) = SavedResult::from_event(&ev) {
                    self.results.push((id, saved));
                }
                self.store.put_urls(&[row]);
                self.store.append_events(&[ev]);
            }
            (None, true) => self.announce(now, c),
            (None, false) => {
                self.meta.taken -= 1;
                self.meta.refused.robots_disallowed += 1;
            }
        }
    }

    /// A discovered URL becomes the job's next id: `discovered`, `queued`.
    fn announce(&mut self, now: u64, c: Candidate) {
        let id = self.meta.next_id;
        self.meta.next_id += 1;
        self.meta.counts.total += 1;
        self.meta.counts.pending += 1;
        let t = self.t(now);
        let events = [
            Event::Discovered { id, url: c.url.clone(), parent: c.parent, depth: c.depth, t },
            Event::Queued { id, url: c.url.clone(), t },
        ];
        let row =
            UrlRow { id, host: host_key(&c.url), url: c.url, depth: c.depth, state: UrlState::Pending, handouts: 0 };
        self.store.put_urls(&[row]);
        self.store.append_events(&events);
    }

    /// A crawl's links from page `row`, as a streamed crawl takes them.
    fn follow(&mut self, now: u64, row: &UrlRow, links: &[String]) {
        let Some(crawl) = self.meta.spec.crawl.clone() else { return };
        if row.depth >= crawl.max_depth {
            return;
        }
        let Ok(page) = Url::parse(&row.url) else { return };
        let own = self.meta.spec.own_origin.as_deref().and_then(|o| Url::parse(o).ok());
        let policy = TargetPolicy {
            allow_private: self.meta.spec.allow_private,
            allowed_hosts: self.meta.spec.allowed_hosts.clone(),
        };
        for link in links.iter().take(MAX_LINKS_PER_PAGE) {
            let refused = &mut self.meta.refused;
            let Ok(url) = page.join(link.trim()) else {
                refused.out_of_scope += 1;
                continue;
            };
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                refused.out_of_scope += 1;
                continue;
            }
            if !self.store.seen_insert(&canonical_key(&url)) {
                self.meta.refused.duplicate += 1;
                continue;
            }
            let text = url.as_str();
            if !in_scope(crawl.scope, &page, &url)
                || (!self.include.is_empty() && !self.include.any_match(text))
                || self.exclude.any_match(text)
            {
                self.meta.refused.out_of_scope += 1;
                continue;
            }
            if !is_own_demo_url(&url, own.as_ref()) && policy.check(&url).is_err() {
                self.meta.refused.blocked_target += 1;
                continue;
            }
            if self.meta.taken >= crawl.max_pages {
                self.meta.refused.over_budget += 1;
                continue;
            }
            self.meta.taken += 1;
            let origin = origin_of(&url);
            let c = Candidate {
                origin: origin.clone(),
                url: url.into(),
                depth: row.depth + 1,
                parent: row.id,
                given: None,
            };
            if crawl.robots == RobotsMode::Ignore || self.rules.contains_key(&origin) {
                self.decide(now, c);
            } else {
                self.ask_robots(&origin);
                self.store.push_waiting(&c);
            }
        }
    }

    /// Leases that ended without a report: their work goes out again.
    pub fn expire(&mut self, now: u64) {
        for b in self.store.expired(now) {
            self.close(b.clone());
            for origin in &b.robots {
                if let Some(RobotsRow::Asked(batch, lost)) = self.store.robots(origin)
                    && batch == b.id
                {
                    if lost + 1 >= MAX_HANDOUTS {
                        let f = RobotsFetch {
                            origin: origin.clone(),
                            error: Some("no consumer fetched it".into()),
                            ..RobotsFetch::default()
                        };
                        self.store.put_robots(origin, &RobotsRow::Asked(0, lost + 1));
                        self.on_robots(now, f);
                    } else {
                        self.store.put_robots(origin, &RobotsRow::Needed(lost + 1));
                    }
                }
            }
            let back = self.store.leased_by(b.id);
            self.requeue(now, back);
        }
        self.finish_if_done(now);
        self.save();
    }

    /// When the shell should wake the job: the next lease's end.
    pub fn next_alarm(&self) -> Option<u64> {
        if self.meta.state.is_final() { None } else { self.store.next_lease_end() }
    }

    /// Stop: nothing more goes out, every unfinished URL ends `cancelled`,
    /// consumers asking are told to stop.
    pub fn cancel(&mut self, now: u64) {
        if self.meta.state.is_final() {
            return;
        }
        let t = self.t(now);
        let mut events = Vec::new();
        let mut put = Vec::new();
        for mut row in self.store.unfinished() {
            events.push(Event::Cancelled { id: row.id, url: row.url.clone(), t });
            row.state = UrlState::Final;
            put.push(row);
        }
        // Start pages still waiting for their robots.txt end too.
        for origin in self.store.robots_pending() {
            for c in self.store.take_waiting(&origin) {
                if let Some(id) = c.given {
                    events.push(Event::Cancelled { id, url: c.url.clone(), t });
                    put.push(UrlRow {
                        id,
                        host: host_key(&c.url),
                        url: c.url,
                        depth: 0,
                        state: UrlState::Final,
                        handouts: 0,
                    });
                }
            }
        }
        for ev in &events {
            self.count_outcome(ev);
            if let Some(saved) = SavedResult::from_event(ev) {
                self.results.push((ev.id().unwrap_or(0), saved));
            }
        }
        self.meta.counts.pending = 0;
        self.meta.counts.in_flight = 0;
        for b in self.store.open_batches() {
            self.close(b);
        }
        self.store.put_urls(&put);
        self.store.append_events(&events);
        self.meta.state = JobState::Cancelled;
        self.summarise(now);
        self.save();
    }

    fn finish_if_done(&mut self, now: u64) {
        let c = self.meta.counts;
        let waiting = !self.store.robots_pending().is_empty();
        if self.meta.state.is_final() || c.pending > 0 || c.in_flight > 0 || waiting || c.finished() < c.total {
            return;
        }
        self.meta.state = JobState::Done;
        self.summarise(now);
    }

    /// The summary line: counts and statistics folded from the event log.
    fn summarise(&mut self, now: u64) {
        self.meta.finished_at = Some(now);
        let mut stats = Stats::new();
        let mut retries = 0;
        let mut seq = 0;
        loop {
            let page = self.store.events_after(seq, 1000);
            let Some(&(last, _)) = page.last() else { break };
            for (_, e) in &page {
                retries += u32::from(matches!(e, Event::Retrying { .. }));
                stats.observe(e);
            }
            seq = last;
        }
        let elapsed = self.t(now);
        let c = self.meta.counts;
        let crawl = self.meta.spec.crawl.as_ref().map(|_| CrawlReport {
            discovered: c.total.saturating_sub(self.meta.given),
            refused: self.meta.refused.clone(),
            robots: self.meta.robots.clone(),
        });
        let summary = Summary {
            total: c.total,
            done: c.done,
            failed: c.failed,
            cancelled: c.cancelled,
            retries,
            was_cancelled: self.meta.state == JobState::Cancelled,
            elapsed_ms: elapsed,
            peak_in_flight: 0,
            stats: stats.report(elapsed),
            saved: None,
            crawl,
            invocations: None,
        };
        self.store.append_events(&[Event::Summary(Box::new(summary))]);
    }

    /// Rows for the run history since the last call.
    pub fn take_results(&mut self) -> Vec<(u32, SavedResult)> {
        std::mem::take(&mut self.results)
    }

    /// The job's status at `now`.
    pub fn status(&self, now: u64) -> JobStatus {
        let c = self.meta.counts;
        let since = self.meta.started_at.unwrap_or(now);
        let until = self.meta.finished_at.unwrap_or(now);
        let secs = until.saturating_sub(since) as f64 / 1000.0;
        JobStatus {
            job_id: self.meta.id.clone(),
            state: self.meta.state,
            counts: c,
            created_at: self.meta.created_at,
            started_at: self.meta.started_at,
            finished_at: self.meta.finished_at,
            throughput: if secs > 0.0 { (f64::from(c.finished()) / secs * 100.0).round() / 100.0 } else { 0.0 },
            kind: self.meta.spec.kind.clone(),
            last_seq: self.store.last_seq(),
        }
    }
}

/// A robots.txt fetch as the attempt result [`RobotsRules`] reads.
fn result_of(f: &RobotsFetch) -> AttemptResult {
    match (f.status, &f.error) {
        (Some(status), _) => Ok(Response { status, text: f.text.clone(), ..Response::default() }),
        (None, e) => Err(FetchError::Network(e.clone().unwrap_or_else(|| "no answer".into()))),
    }
}

/// `ev` with its time moved by `by` ms (a consumer's clock onto the job's).
fn shift_event(mut ev: Event, by: Millis) -> Event {
    match &mut ev {
        Event::Discovered { t, .. }
        | Event::Queued { t, .. }
        | Event::Started { t, .. }
        | Event::Retrying { t, .. }
        | Event::Done { t, .. }
        | Event::Failed { t, .. }
        | Event::Cancelled { t, .. }
        | Event::SaveError { t, .. }
        | Event::Heartbeat { t } => *t += by,
        Event::Summary(_) => {}
    }
    ev
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, VecDeque};

    use proptest::prelude::*;

    use super::*;
    use crate::engine::retry::{Rng as _, SplitMix64};
    use crate::jobs::protocol::UrlReport;
    use crate::jobs::store::MemStore;
    use crate::wire::protocol::{CrawlOptions, CrawlScope, RunOptions};

    fn spec(concurrency: u32, per_host: u32, crawl: Option<CrawlOptions>) -> JobSpec {
        JobSpec {
            options: RunOptions {
                concurrency,
                per_host,
                timeout_ms: 1000,
                max_attempts: 1,
                max_ms: 0,
                ..RunOptions::default()
            },
            crawl,
            own_origin: None,
            allow_private: true,
            allowed_hosts: Vec::new(),
            batch_size: 6,
            connections: 3,
            lease_margin_ms: 2000,
            kind: "list".into(),
            watch_id: None,
        }
    }

    /// How a simulated consumer treats a message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fate {
        /// Claims, runs, reports.
        Run,
        /// Claims and dies: never reports.
        Die,
        /// Delivered twice.
        Twice,
        /// Lost before any consumer sees it.
        Lost,
    }

    /// A made-up web for crawl jobs: URL → links; robots.txt per origin.
    #[derive(Default, Clone)]
    struct Web {
        links: HashMap<String, Vec<String>>,
        robots: HashMap<String, (u16, String)>,
    }

    /// Consumers in virtual time around a job: messages go to a queue; each
    /// is claimed, run (every URL takes `latency` ms and ends done) and
    /// reported, unless its fate says otherwise. Checks the caps at every
    /// step: URLs being fetched by live consumers never exceed them.
    struct World {
        job: JobMachine<MemStore>,
        /// Messages and whether each is a redelivery.
        queue: VecDeque<(BatchMessage, bool)>,
        /// (start, end, batch): a lane's shard runs its batches one after another.
        running: Vec<(u64, u64, BatchMessage)>,
        /// When each lane's shard is free again.
        lane_free: HashMap<u32, u64>,
        now: u64,
        web: Web,
        latency: u64,
        fates: Box<dyn FnMut(u64) -> Fate>,
        max_live: u32,
        max_live_host: u32,
        fetched: BTreeMap<String, u32>,
    }

    impl World {
        fn new(job: JobMachine<MemStore>, web: Web, fates: impl FnMut(u64) -> Fate + 'static) -> Self {
            Self {
                job,
                queue: VecDeque::new(),
                running: Vec::new(),
                lane_free: HashMap::new(),
                now: 1_000_000,
                web,
                latency: 100,
                fates: Box::new(fates),
                max_live: 0,
                max_live_host: 0,
                fetched: BTreeMap::new(),
            }
        }

        /// Requests a running batch can have in flight at once: as many as
        /// its grant lets it (its concurrency, each host's cap; a shard's
        /// scheduler keeps to them), and no more than it holds.
        fn live(&self) -> (u32, u32) {
            let mut per: HashMap<String, u32> = HashMap::new();
            let mut all = 0;
            for (_, _, m) in self.running.iter().filter(|(start, end, _)| *start <= self.now && self.now < *end) {
                let mut mine: HashMap<String, u32> = HashMap::new();
                for host in m.urls.iter().map(|u| host_key(&u.url)).chain(m.robots.iter().map(|o| host_key(o))) {
                    *mine.entry(host).or_default() += 1;
                }
                let mut total = 0;
                for (host, count) in mine {
                    let cap = m.grant.hosts.iter().find(|h| h.host == host).map_or(0, |h| h.cap);
                    assert!(cap > 0, "a batch holds URLs of a host it has no share of");
                    let n = count.min(cap);
                    *per.entry(host).or_default() += n;
                    total += n;
                }
                all += total.min(m.grant.concurrency);
            }
            (all, per.values().copied().max().unwrap_or(0))
        }

        fn report_of(&mut self, m: &BatchMessage, started: u64) -> BatchReport {
            let urls = m
                .urls
                .iter()
                .map(|u| {
                    *self.fetched.entry(u.url.clone()).or_default() += 1;
                    let links =
                        if u.links { self.web.links.get(&u.url).cloned().unwrap_or_default() } else { Vec::new() };
                    UrlReport {
                        id: u.id,
                        events: vec![
                            Event::Queued { id: u.id, url: u.url.clone(), t: 0 },
                            Event::Started { id: u.id, url: u.url.clone(), attempt: 1, t: 0 },
                            Event::Done {
                                id: u.id,
                                url: u.url.clone(),
                                status: 200,
                                bytes: 10,
                                ms: self.latency,
                                attempts: 1,
                                product: None,
                                validators: None,
                                not_modified: false,
                                bytes_saved: 0,
                                t: self.latency,
                            },
                        ],
                        links,
                    }
                })
                .collect();
            let robots = m
                .robots
                .iter()
                .map(|o| match self.web.robots.get(o) {
                    Some((status, text)) => {
                        RobotsFetch { origin: o.clone(), status: Some(*status), text: Some(text.clone()), error: None }
                    }
                    None => RobotsFetch { origin: o.clone(), status: Some(404), text: None, error: None },
                })
                .collect();
            BatchReport { batch: m.batch, started_unix_ms: started, urls, robots }
        }

        /// Run until the job ends (bounded).
        fn run(&mut self, cancel_at: Option<u64>) {
            let start = self.now;
            let out = self.job.dispatch(self.now);
            self.queue.extend(out.into_iter().map(|m| (m, false)));
            for _ in 0..100_000 {
                if self.job.state().is_final() && self.running.is_empty() {
                    return;
                }
                if let Some(at) = cancel_at
                    && self.now >= start + at
                    && !self.job.state().is_final()
                {
                    self.job.cancel(self.now);
                }
                // Consumers take what is queued.
                while let Some((m, again)) = self.queue.pop_front() {
                    if again {
                        self.start(m);
                        continue;
                    }
                    match (self.fates)(m.batch) {
                        Fate::Lost => {}
                        Fate::Twice => {
                            self.queue.push_back((m.clone(), true));
                            self.start(m);
                        }
                        Fate::Die => {
                            let _ = self.job.claim(m.batch, self.now);
                        }
                        Fate::Run => self.start(m),
                    }
                }
                let (live, host) = self.live();
                self.max_live = self.max_live.max(live);
                self.max_live_host = self.max_live_host.max(host);
                // Time moves to the next report or lease end.
                let next_report = self.running.iter().map(|(_, t, _)| *t).min();
                let next = match (next_report, self.job.next_alarm()) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b).unwrap_or(self.now + 1),
                };
                self.now = self.now.max(next);
                let due: Vec<BatchMessage> =
                    self.running.iter().filter(|(_, t, _)| *t <= self.now).map(|(_, _, m)| m.clone()).collect();
                self.running.retain(|(_, t, _)| *t > self.now);
                for m in due {
                    let report = self.report_of(&m, self.now - self.latency);
                    self.job.report(self.now, report);
                }
                self.job.expire(self.now);
                let out = self.job.dispatch(self.now);
                self.queue.extend(out.into_iter().map(|m| (m, false)));
            }
            panic!("the job did not end");
        }

        fn start(&mut self, m: BatchMessage) {
            if self.job.claim(m.batch, self.now).go {
                // Its waves, one after another, after the lane's earlier batches.
                let n = (m.urls.len() + m.robots.len()) as u64;
                let waves = n.div_ceil(u64::from(m.grant.concurrency.max(1)));
                let start = self.lane_free.get(&m.grant.lane).copied().unwrap_or(0).max(self.now);
                let end = start + self.latency * waves;
                self.lane_free.insert(m.grant.lane, end);
                self.running.push((start, end, m));
            }
        }

        fn events(&self) -> Vec<Event> {
            self.job.store().events_after(0, usize::MAX).into_iter().map(|(_, e)| e).collect()
        }

        /// Every id ends exactly once, and the summary is last.
        fn check_once(&self) -> Summary {
            let events = self.events();
            let total = self.job.status(self.now).counts.total;
            let mut ends: BTreeMap<u32, u32> = BTreeMap::new();
            for e in &events {
                if e.is_terminal() {
                    *ends.entry(e.id().unwrap()).or_default() += 1;
                }
            }
            assert_eq!(ends.len() as u32, total, "every URL ended");
            assert!(ends.values().all(|&n| n == 1), "exactly once: {ends:?}");
            let Some(Event::Summary(s)) = events.last() else { panic!("the summary comes last") };
            assert_eq!(s.done + s.failed + s.cancelled, total);
            (**s).clone()
        }
    }

    fn urls(n: u32, hosts: u32) -> Vec<String> {
        (0..n).map(|i| format!("http://h{}.test/p/{i}", i % hosts)).collect()
    }

    #[test]
    fn a_list_job_hands_out_within_the_caps_and_ends_every_url_once() {
        let job = JobMachine::create(MemStore::default(), "j1", spec(10, 4, None), urls(100, 3), 1_000_000);
        assert_eq!(job.status(1_000_000).counts.pending, 100);
        let mut w = World::new(job, Web::default(), |_| Fate::Run);
        w.run(None);
        let s = w.check_once();
        assert_eq!(s.done, 100);
        assert!(w.max_live <= 10 && w.max_live > 4, "{}", w.max_live);
        assert!(w.max_live_host <= 4, "{}", w.max_live_host);
        assert_eq!(w.job.state(), JobState::Done);
        assert_eq!(w.fetched.values().copied().max(), Some(1), "each URL fetched once");
        assert_eq!(w.job.take_results().len(), 100, "one history row per URL");
    }

    #[test]
    fn duplicate_deliveries_run_once_and_a_dead_consumer_s_batch_goes_out_again() {
        let job = JobMachine::create(MemStore::default(), "j2", spec(5, 5, None), urls(30, 2), 1_000_000);
        // Batch 1 is delivered twice, batch 2's consumer dies, batch 3 is lost.
        let mut w = World::new(job, Web::default(), |b| match b {
            1 => Fate::Twice,
            2 => Fate::Die,
            3 => Fate::Lost,
            _ => Fate::Run,
        });
        w.run(None);
        let s = w.check_once();
        assert_eq!(s.done, 30, "nothing lost");
        assert!(w.fetched.values().all(|&n| n == 1), "the twice-delivered batch ran once: {:?}", w.fetched);
        // The lost batches were handed out again once their leases ended
        // (worst case 1 s + margin 2 s).
        assert!(w.now >= 1_000_000 + 3000, "waited for the lease: {}", w.now);
    }

    #[test]
    fn a_url_nobody_reports_ends_lease_expired_after_its_handouts() {
        let job = JobMachine::create(MemStore::default(), "j3", spec(2, 2, None), urls(3, 1), 1_000_000);
        let mut w = World::new(job, Web::default(), |_| Fate::Lost);
        w.run(None);
        let s = w.check_once();
        assert_eq!(s.failed, 3);
        let kinds: Vec<ErrorKind> = w
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Failed { error, .. } => Some(error.kind),
                _ => None,
            })
            .collect();
        assert!(kinds.iter().all(|k| *k == ErrorKind::LeaseExpired), "{kinds:?}");
    }

    #[test]
    fn a_late_report_after_a_new_handout_is_recorded_once() {
        let mut job = JobMachine::create(MemStore::default(), "j4", spec(5, 5, None), urls(2, 1), 1_000_000);
        let first = job.dispatch(1_000_000).remove(0);
        assert!(job.claim(first.batch, 1_000_000).go);
        assert!(!job.claim(first.batch, 1_000_001).go, "a second claim of the same batch does not run it");
        // The lease ends before the consumer reports: the URLs go out again.
        job.expire(1_000_000 + 10_000);
        let again = job.dispatch(1_000_000 + 10_000);
        assert_eq!(again.len(), 1);
        assert!(!job.alive(first.batch, 1_000_000 + 10_000).go, "the first consumer is told to stop");
        let mut w = World::new(job, Web::default(), |_| Fate::Run);
        let late = w.report_of(&first, 1_000_000);
        w.job.report(1_000_000 + 10_050, late);
        let mut w2 = w;
        w2.now = 1_000_000 + 10_100;
        let second = w2.report_of(&again[0], 1_000_000 + 10_000);
        w2.job.report(w2.now, second);
        let s = w2.check_once();
        assert_eq!(s.done, 2);
        assert_eq!(
            w2.events().iter().filter(|e| matches!(e, Event::Started { .. })).count(),
            2,
            "the second run's events are dropped"
        );
    }

    #[test]
    fn cancel_ends_every_unfinished_url_and_stops_consumers() {
        let job = JobMachine::create(MemStore::default(), "j5", spec(4, 4, None), urls(40, 2), 1_000_000);
        let mut w = World::new(job, Web::default(), |_| Fate::Run);
        w.run(Some(250));
        let s = w.check_once();
        assert!(s.was_cancelled);
        assert!(s.cancelled > 0 && s.done > 0, "{s:?}");
        assert_eq!(w.job.state(), JobState::Cancelled);
        assert_eq!(w.job.dispatch(w.now), Vec::new(), "nothing goes out after cancel");
        assert!(w.job.claim(999, w.now).cancelled);
    }

    #[test]
    fn a_crawl_job_follows_links_once_within_depth_budget_and_robots() {
        let mut web = Web::default();
        let site = |p: &str| format!("http://a.test{p}");
        web.links.insert(
            site("/"),
            vec!["/1".into(), "/2".into(), "/private".into(), "http://b.test/x".into(), "/1#top".into()],
        );
        web.links.insert(site("/1"), vec!["/3".into(), "/".into()]);
        web.links.insert(site("/2"), vec!["/3".into(), "/4".into()]);
        web.links.insert(site("/3"), vec!["/5".into()]);
        web.robots.insert("http://a.test".into(), (200, "User-agent: *\nDisallow: /private\n".into()));
        let crawl = CrawlOptions {
            max_depth: 2,
            max_pages: 100,
            scope: CrawlScope::SameHostname,
            include: Vec::new(),
            exclude: Vec::new(),
            robots: RobotsMode::Obey,
        };
        let job = JobMachine::create(MemStore::default(), "j6", spec(3, 3, Some(crawl)), vec![site("/")], 1_000_000);
        assert_eq!(job.status(1_000_000).counts.pending, 0, "the start page waits for robots.txt");
        let mut w = World::new(job, web, |_| Fate::Run);
        w.run(None);
        let s = w.check_once();
        let fetched: Vec<&String> = w.fetched.keys().collect();
        assert_eq!(fetched, ["/", "/1", "/2", "/3", "/4"].map(site).iter().collect::<Vec<_>>());
        let c = s.crawl.expect("a crawl report");
        assert_eq!(c.discovered, 4);
        assert_eq!(c.refused.robots_disallowed, 1);
        assert_eq!(c.refused.out_of_scope, 1);
        assert!(c.refused.duplicate >= 3, "{:?}", c.refused);
        assert_eq!(c.robots[0].outcome, "rules");
        // Discovered URLs are announced before they are queued, with depth and parent.
        let disc: Vec<(u32, u32)> = w
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Discovered { parent, depth, .. } => Some((*parent, *depth)),
                _ => None,
            })
            .collect();
        assert_eq!(disc.len(), 4);
        assert!(disc.iter().all(|(_, d)| *d <= 2));
    }

    #[test]
    fn an_unreachable_robots_txt_fails_the_start_page_and_a_saved_job_loads_back() {
        let mut web = Web::default();
        web.robots.insert("http://a.test".into(), (503, String::new()));
        let crawl = CrawlOptions {
            max_depth: 1,
            max_pages: 10,
            scope: CrawlScope::SameHostname,
            include: Vec::new(),
            exclude: Vec::new(),
            robots: RobotsMode::Obey,
        };
        let job = JobMachine::create(
            MemStore::default(),
            "j7",
            spec(2, 2, Some(crawl)),
            vec!["http://a.test/".into()],
            1_000_000,
        );
        let mut w = World::new(job, web, |_| Fate::Run);
        w.run(None);
        let s = w.check_once();
        assert_eq!(s.failed, 1);
        // A job reloaded from its store (a Durable Object woken again) is the same job.
        let mut store = MemStore::default();
        let mut job = JobMachine::create(std::mem::take(&mut store), "j8", spec(2, 1, None), urls(6, 2), 1_000_000);
        let out = job.dispatch(1_000_000);
        assert_eq!(job.granted(), 2);
        let JobMachine { store, .. } = job;
        let mut back = JobMachine::load(store).expect("saved");
        assert_eq!(back.granted(), 2, "grants are counted again from the store");
        assert_eq!(back.dispatch(1_000_000), Vec::new(), "and the caps still hold");
        // Two hosts with a cap of 1 each, in one lane of 3 connections: a
        // batch with both hosts' shares, two waves of its concurrency of 2
        // (batch_size 6 is two waves of a lane's 3), and the lane's next
        // batch, under the same grant, with the last two URLs.
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].grant, out[1].grant);
        assert_eq!(out[0].grant.concurrency, 2);
        assert_eq!((out[0].urls.len(), out[1].urls.len()), (4, 2));
    }

    #[test]
    fn a_lane_s_shard_asks_for_its_batches_in_order_and_its_asking_keeps_both_leases() {
        // Concurrency 3 on one lane of 3: two batches of 6 (two waves each) out.
        let mut job = JobMachine::create(MemStore::default(), "j9", spec(3, 3, None), urls(20, 1), 1_000_000);
        let out = job.dispatch(1_000_000);
        assert_eq!(out.len(), 2);
        assert_eq!(job.lanes_waiting(), vec![0]);
        let first = job.next_for_lane(0, 1_000_000).expect("the lane's first batch");
        assert_eq!(first.batch, out[0].batch);
        assert_eq!(first.urls, out[0].urls);
        let second = job.next_for_lane(0, 1_000_010).expect("and its next");
        assert_eq!(second.batch, out[1].batch);
        assert_eq!(job.next_for_lane(0, 1_000_020), None, "nothing more until a report");
        assert_eq!(job.lanes_waiting(), Vec::<u32>::new());
        assert_eq!(job.next_for_lane(1, 1_000_020), None, "no such lane");
        // The shard asks while it runs the first: both leases move on.
        let lease = 1000 + 2000;
        assert!(job.alive(first.batch, 1_002_500).go);
        job.expire(1_000_010 + lease + 100);
        assert_eq!(job.store().open_batches().len(), 2, "neither lease ended");
        job.cancel(1_003_000);
        assert_eq!(job.next_for_lane(0, 1_003_000), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]
        /// For random fault schedules (duplicates, dead consumers, lost
        /// messages) and a random cancel: every URL ends exactly once, and
        /// what live consumers fetch never exceeds the caps.
        #[test]
        fn every_url_ends_once_and_the_caps_hold(
            n in 0u32..60, hosts in 1u32..4, concurrency in 1u32..8, per_host in 1u32..8, batch in 1u32..12,
            connections in 0u32..4, seed in any::<u64>(), cancel in proptest::option::of(0u64..20_000),
        ) {
            let mut sp = spec(concurrency, per_host, None);
            sp.batch_size = batch;
            sp.connections = connections;
            let job = JobMachine::create(MemStore::default(), "p", sp, urls(n, hosts), 1_000_000);
            let mut rng = SplitMix64::new(seed);
            let mut w = World::new(job, Web::default(), move |_| match rng.up_to(9) {
                0 => Fate::Twice,
                1 => Fate::Die,
                2 => Fate::Lost,
                _ => Fate::Run,
            });
            w.run(cancel);
            let s = w.check_once();
            prop_assert_eq!(s.total, n);
            prop_assert!(w.max_live <= concurrency, "{} > {}", w.max_live, concurrency);
            prop_assert!(w.max_live_host <= per_host, "{} > {}", w.max_live_host, per_host);
            prop_assert!(w.fetched.values().all(|&k| k <= MAX_HANDOUTS));
        }
    }
}
