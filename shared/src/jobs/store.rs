//! Where a job keeps its state: a small synchronous interface, so the job
//! logic runs natively over [`MemStore`] in tests and in a Durable Object
//! over its SQLite storage (whose calls are synchronous too).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::jobs::protocol::Grant;
use crate::wire::jobs::{JobCounts, JobState};
use crate::wire::protocol::{CrawlOptions, Event, Refusals, RobotsReport, RunOptions};

/// What a job was asked to do, fixed at its creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Caps, timeouts, retries, extraction.
    pub options: RunOptions,
    /// Crawl from the URLs, when set.
    pub crawl: Option<CrawlOptions>,
    /// The edge's origin: its demo pages pass the target rules.
    pub own_origin: Option<String>,
    /// Whether private targets may be fetched (the deployment's rule).
    pub allow_private: bool,
    /// When not empty, the only hosts that may be fetched.
    pub allowed_hosts: Vec<String>,
    /// About how many URLs one batch holds (a multiple of its concurrency).
    pub batch_size: u32,
    /// Connections one invocation keeps waiting for headers (the platform's
    /// six): a batch runs on one shard, so its concurrency is at most this.
    /// 0: no limit (a batch runs all its URLs at once).
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// Added to a batch's worst case (every attempt timing out, every wait
    /// at its cap) for its lease.
    pub lease_margin_ms: u64,
    /// `list`, `sitemap` or `crawl`.
    pub kind: String,
    /// The watch this job is a run of, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_id: Option<String>,
}

fn default_connections() -> u32 {
    crate::wire::config::DEFAULT_CONNECTIONS_PER_INVOCATION
}

/// Everything about a job but its URLs, batches and events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMeta {
    /// The job's id.
    pub id: String,
    /// Its spec.
    pub spec: JobSpec,
    /// Where it stands.
    pub state: JobState,
    /// URLs by where they stand.
    pub counts: JobCounts,
    /// The next URL id (ids are dense).
    pub next_id: u32,
    /// The next batch id.
    pub next_batch: u64,
    /// Creation (Unix ms); event times count from here.
    pub created_at: u64,
    /// First hand-out (Unix ms).
    pub started_at: Option<u64>,
    /// Last outcome (Unix ms).
    pub finished_at: Option<u64>,
    /// A crawl's refusals.
    pub refused: Refusals,
    /// A crawl's robots.txt files, as read.
    pub robots: Vec<RobotsReport>,
    /// URLs given at creation (a crawl's start pages).
    pub given: u32,
    /// URLs taken against a crawl's budget (ids given out, and candidates
    /// waiting for their robots.txt).
    pub taken: u32,
}

/// Where one URL stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UrlState {
    /// Waiting to be handed out.
    Pending,
    /// Out in batch `0`.
    Leased(u64),
    /// Has its outcome.
    Final,
}

/// One URL of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlRow {
    /// Its id (dense, from 0).
    pub id: u32,
    /// The URL.
    pub url: String,
    /// Its host (`host[:port]`), for the per-host cap.
    pub host: String,
    /// Links from a start page (0 for the start pages and list URLs).
    pub depth: u32,
    /// Where it stands.
    pub state: UrlState,
    /// How often it was handed out.
    pub handouts: u32,
}

/// One hand-out of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRow {
    /// Its id.
    pub id: u64,
    /// When it counts as lost (Unix ms), if no consumer has reported.
    pub lease_until: u64,
    /// Origins whose robots.txt it fetches.
    pub robots: Vec<String>,
    /// Whether a consumer claimed it.
    pub claimed: bool,
    /// Whether it is over (reported or expired).
    pub closed: bool,
    /// What it may use while open: its lane, its concurrency and its share
    /// of each host's cap. The job's caps hold because these shares, over
    /// all open batches, never add up to more than them.
    #[serde(default)]
    pub grant: Grant,
}

/// An origin's robots.txt in a crawl job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RobotsRow {
    /// To be fetched (not handed out yet, or its batch was lost `0` times).
    Needed(u32),
    /// Out in batch `0`.
    Asked(u64, u32),
    /// Fetched.
    Known(crate::jobs::protocol::RobotsFetch),
}

/// A discovered URL (or a start page) waiting for its origin's robots.txt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its origin.
    pub origin: String,
    /// The URL.
    pub url: String,
    /// Its depth.
    pub depth: u32,
    /// The page it was found on.
    pub parent: u32,
    /// A start page's id (it was announced at creation).
    pub given: Option<u32>,
}

/// A job's storage. Every call is synchronous.
pub trait JobStore {
    /// The job's meta, once saved.
    fn load_meta(&self) -> Option<JobMeta>;
    /// Save the meta.
    fn save_meta(&mut self, meta: &JobMeta);
    /// Insert or replace URL rows.
    fn put_urls(&mut self, rows: &[UrlRow]);
    /// One URL.
    fn url(&self, id: u32) -> Option<UrlRow>;
    /// Up to `limit` pending URLs, by id, not on `skip` hosts.
    fn pending(&self, skip: &HashSet<String>, limit: usize) -> Vec<UrlRow>;
    /// The URLs out in `batch`.
    fn leased_by(&self, batch: u64) -> Vec<UrlRow>;
    /// Every URL without its outcome.
    fn unfinished(&self) -> Vec<UrlRow>;
    /// Batches not yet closed.
    fn open_batches(&self) -> Vec<BatchRow>;
    /// Insert or replace a batch.
    fn put_batch(&mut self, batch: &BatchRow);
    /// One batch.
    fn batch(&self, id: u64) -> Option<BatchRow>;
    /// Open batches whose lease ended by `now`.
    fn expired(&self, now: u64) -> Vec<BatchRow>;
    /// The earliest end of an open batch's lease.
    fn next_lease_end(&self) -> Option<u64>;
    /// Remember a canonical key; false when it was already known.
    fn seen_insert(&mut self, key: &str) -> bool;
    /// Set an origin's robots.txt state.
    fn put_robots(&mut self, origin: &str, row: &RobotsRow);
    /// An origin's robots.txt state.
    fn robots(&self, origin: &str) -> Option<RobotsRow>;
    /// Origins whose robots.txt is needed and not out.
    fn robots_needed(&self) -> Vec<String>;
    /// Origins whose robots.txt is not in yet (needed, or out).
    fn robots_pending(&self) -> Vec<String>;
    /// Park a candidate until its origin's robots.txt is in.
    fn push_waiting(&mut self, c: &Candidate);
    /// Take the candidates of `origin`.
    fn take_waiting(&mut self, origin: &str) -> Vec<Candidate>;
    /// Append events to the log; the last one's `seq`.
    fn append_events(&mut self, events: &[Event]) -> u64;
    /// Up to `limit` events after `seq`, with their `seq`s.
    fn events_after(&self, seq: u64, limit: usize) -> Vec<(u64, Event)>;
    /// The last `seq`.
    fn last_seq(&self) -> u64;
}

/// A store in memory: the tests' (and what a Durable Object's SQLite holds,
/// table for table).
#[derive(Debug, Default)]
pub struct MemStore {
    meta: Option<JobMeta>,
    urls: BTreeMap<u32, UrlRow>,
    batches: BTreeMap<u64, BatchRow>,
    seen: HashSet<String>,
    robots: BTreeMap<String, RobotsRow>,
    waiting: BTreeMap<String, Vec<Candidate>>,
    events: Vec<Event>,
}

impl JobStore for MemStore {
    fn load_meta(&self) -> Option<JobMeta> {
        self.meta.clone()
    }
    fn save_meta(&mut self, meta: &JobMeta) {
        self.meta = Some(meta.clone());
    }
    fn put_urls(&mut self, rows: &[UrlRow]) {
        for r in rows {
            self.urls.insert(r.id, r.clone());
        }
    }
    fn url(&self, id: u32) -> Option<UrlRow> {
        self.urls.get(&id).cloned()
    }
    fn pending(&self, skip: &HashSet<String>, limit: usize) -> Vec<UrlRow> {
        self.urls
            .values()
            .filter(|r| r.state == UrlState::Pending && !skip.contains(&r.host))
            .take(limit)
            .cloned()
            .collect()
    }
    fn leased_by(&self, batch: u64) -> Vec<UrlRow> {
        self.urls.values().filter(|r| r.state == UrlState::Leased(batch)).cloned().collect()
    }
    fn unfinished(&self) -> Vec<UrlRow> {
        self.urls.values().filter(|r| r.state != UrlState::Final).cloned().collect()
    }
    fn open_batches(&self) -> Vec<BatchRow> {
        self.batches.values().filter(|b| !b.closed).cloned().collect()
    }
    fn put_batch(&mut self, batch: &BatchRow) {
        self.batches.insert(batch.id, batch.clone());
    }
    fn batch(&self, id: u64) -> Option<BatchRow> {
        self.batches.get(&id).cloned()
    }
    fn expired(&self, now: u64) -> Vec<BatchRow> {
        self.batches.values().filter(|b| !b.closed && b.lease_until <= now).cloned().collect()
    }
    fn next_lease_end(&self) -> Option<u64> {
        self.batches.values().filter(|b| !b.closed).map(|b| b.lease_until).min()
    }
    fn seen_insert(&mut self, key: &str) -> bool {
        self.seen.insert(key.to_owned())
    }
    fn put_robots(&mut self, origin: &str, row: &RobotsRow) {
        self.robots.insert(origin.to_owned(), row.clone());
    }
    fn robots(&self, origin: &str) -> Option<RobotsRow> {
        self.robots.get(origin).cloned()
    }
    fn robots_needed(&self) -> Vec<String> {
        self.robots.iter().filter(|(_, r)| matches!(r, RobotsRow::Needed(_))).map(|(o, _)| o.clone()).collect()
    }
    fn robots_pending(&self) -> Vec<String> {
        self.robots.iter().filter(|(_, r)| !matches!(r, RobotsRow::Known(_))).map(|(o, _)| o.clone()).collect()
    }
    fn push_waiting(&mut self, c: &Candidate) {
        self.waiting.entry(c.origin.clone()).or_default().push(c.clone());
    }
    fn take_waiting(&mut self, origin: &str) -> Vec<Candidate> {
        self.waiting.remove(origin).unwrap_or_default()
    }
    fn append_events(&mut self, events: &[Event]) -> u64 {
        self.events.extend_from_slice(events);
        self.events.len() as u64
    }
    fn events_after(&self, seq: u64, limit: usize) -> Vec<(u64, Event)> {
        let from = usize::try_from(seq).unwrap_or(usize::MAX);
        self.events.iter().enumerate().skip(from).take(limit).map(|(i, e)| (i as u64 + 1, e.clone())).collect()
    }
    fn last_seq(&self) -> u64 {
        self.events.len() as u64
    }
}

/// Hosts at or over their cap, for [`JobStore::pending`].
pub fn full_hosts(granted: &HashMap<String, u32>, per_host: u32) -> HashSet<String> {
    granted.iter().filter(|(_, n)| **n >= per_host.max(1)).map(|(h, _)| h.clone()).collect()
}
