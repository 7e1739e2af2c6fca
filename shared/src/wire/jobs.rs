//! The wire contract of background jobs (`/api/v1/jobs`): what creating one
//! takes and answers, a job's status, and a page of the job list.
//!
//! A job's events are the run's own ([`crate::wire::protocol::Event`]), each
//! line with a `seq` (see [`JobLine`]), so the same clients read both.

use serde::{Deserialize, Serialize};

use crate::wire::protocol::{Event, RunRequest};

/// The body of `POST /api/v1/jobs`: a run request (its `urls`, options and
/// `crawl`), or a sitemap whose URLs become the list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobRequest {
    /// The run: URLs (or start pages with `crawl`) and options.
    #[serde(flatten)]
    pub run: RunRequest,
    /// A sitemap (or sitemap index) to take the URLs from, instead of `urls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitemap: Option<String>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created; nothing handed out yet.
    #[default]
    Queued,
    /// Work is out with consumers.
    Running,
    /// Every URL has its outcome.
    Done,
    /// Cancelled: every unfinished URL ended `cancelled`.
    Cancelled,
    /// The job could not go on (its spec could not be read back).
    Failed,
}

impl JobState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// The state with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Cancelled, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled | Self::Failed)
    }
}

/// URLs of a job by where they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobCounts {
    /// URLs in the job (start pages and discovered ones for a crawl).
    pub total: u32,
    /// Waiting to be handed out.
    pub pending: u32,
    /// Handed out to a consumer, not reported yet.
    pub in_flight: u32,
    /// Ended `done`.
    pub done: u32,
    /// Ended `failed`.
    pub failed: u32,
    /// Ended `cancelled`.
    pub cancelled: u32,
}

impl JobCounts {
    /// URLs with their outcome.
    pub fn finished(&self) -> u32 {
        self.done + self.failed + self.cancelled
    }
}

/// `GET /api/v1/jobs/{id}`, and each item of the job list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobStatus {
    /// The job's id (also its run id in the history).
    pub job_id: String,
    /// Where it stands.
    pub state: JobState,
    /// URLs by where they stand.
    pub counts: JobCounts,
    /// When it was created (Unix ms).
    pub created_at: u64,
    /// When the first work went out (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// When its last URL ended (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// URLs finished per second since it started.
    pub throughput: f64,
    /// `list`, `sitemap` or `crawl`.
    pub kind: String,
    /// The last event's `seq`: a client that has it has seen everything.
    pub last_seq: u64,
}

/// The answer of `POST /api/v1/jobs` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobCreated {
    /// The new job's id.
    pub job_id: String,
    /// Its state (`queued`).
    pub state: JobState,
    /// Where to follow it.
    pub links: JobLinks,
}

/// A job's own URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobLinks {
    /// `GET`: its status.
    pub status: String,
    /// `GET`: its events as NDJSON (`?after=SEQ` resumes).
    pub events: String,
    /// `POST`: cancel it.
    pub cancel: String,
    /// The dashboard following it.
    pub dashboard: String,
}

impl JobLinks {
    /// The links of job `id`.
    pub fn of(id: &str) -> Self {
        Self {
            status: format!("/api/v1/jobs/{id}"),
            events: format!("/api/v1/jobs/{id}/events"),
            cancel: format!("/api/v1/jobs/{id}/cancel"),
            dashboard: format!("/?mode=jobs&job={id}"),
        }
    }
}

/// A page of `GET /api/v1/jobs`, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JobList {
    /// The jobs on this page.
    pub jobs: Vec<JobStatus>,
    /// Jobs in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// Where the page starts.
    pub offset: u32,
}

/// One line of a job's event stream: a run event and its place in the
/// job's log. Heartbeats carry no `seq` (they are not in the log).
#[derive(Debug, Clone, PartialEq)]
pub struct JobLine {
    /// Place in the log, from 1; 0 for a heartbeat.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

impl JobLine {
    /// The line, newline included: the event's JSON with `seq` first.
    pub fn to_ndjson(&self) -> String {
        let line = self.event.to_ndjson();
        match (self.seq, line.strip_prefix('{')) {
            (0, _) | (_, None) => line,
            (seq, Some(rest)) => format!("{{\"seq\":{seq},{rest}"),
        }
    }
}
