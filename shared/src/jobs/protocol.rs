//! What the parts of a background job say to each other: the message that
//! hands a batch of URLs to a shard (a Durable Object invocation of its own,
//! on the batch's lane), the shard's claim on it, and its report back to the
//! job. All of it goes between Durable Objects as JSON over HTTP; it holds
//! structs and vectors only.

use serde::{Deserialize, Serialize};

use crate::wire::protocol::{Event, RunOptions};

/// One batch of a job's work, handed to the shard of its lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMessage {
    /// The job.
    pub job_id: String,
    /// The batch's id within the job (a new one for every hand-out).
    pub batch: u64,
    /// The URLs to fetch.
    pub urls: Vec<BatchUrl>,
    /// Origins whose robots.txt to fetch (as text) before anything else.
    pub robots: Vec<String>,
    /// The job's options (timeouts, retries, extraction).
    pub options: RunOptions,
    /// The edge's own origin when the job was made: its demo pages are
    /// served in-process.
    pub own_origin: Option<String>,
    /// Its lane, concurrency and per-host caps: its share of the job's caps.
    #[serde(default)]
    pub grant: Grant,
    /// Connections the invocation running it keeps waiting for headers.
    #[serde(default)]
    pub connections: u32,
}

/// One URL of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchUrl {
    /// Its id in the job.
    pub id: u32,
    /// The URL.
    pub url: String,
    /// Read its links (a crawl that goes deeper from it).
    pub links: bool,
}

/// The job wakes a lane's shard: from then on it asks the job for the
/// lane's batches (`/next`, and the answer to each `/report`) until there
/// are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneWake {
    /// The job.
    pub job_id: String,
    /// The lane.
    pub lane: u32,
}

/// A consumer asks to run a batch: the answer says whether it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAnswer {
    /// Run it (false: another consumer has it, or it was handed out again).
    pub go: bool,
    /// The job was cancelled: stop.
    pub cancelled: bool,
}

/// What a consumer did with a batch, reported once at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// The batch.
    pub batch: u64,
    /// When the consumer's run started (Unix ms): its events' times count
    /// from here.
    pub started_unix_ms: u64,
    /// Each URL it ran.
    pub urls: Vec<UrlReport>,
    /// Each robots.txt it fetched.
    pub robots: Vec<RobotsFetch>,
}

/// One URL's events (attempts, retries, outcome) and, for a crawl, links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlReport {
    /// Its id in the job.
    pub id: u32,
    /// Its events, with the consumer's times.
    pub events: Vec<Event>,
    /// The page's links, absolute (when asked for).
    #[serde(default)]
    pub links: Vec<String>,
}

/// One origin's robots.txt, as fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsFetch {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The status, when there was an answer.
    pub status: Option<u16>,
    /// The body, when there was one.
    pub text: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// An open batch's share of the job's caps, and the lane it runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The lane (one shard invocation at a time per lane).
    pub lane: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Requests in flight at once per host.
    pub hosts: Vec<HostCap>,
}

/// One host's cap within a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCap {
    /// The host (`host[:port]`).
    pub host: String,
    /// Its cap.
    pub cap: u32,
}
