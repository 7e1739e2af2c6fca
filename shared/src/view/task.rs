//! What a client knows about each URL of a run, folded from events.
//!
//! The dashboard keeps one [`TaskView`] per URL and a [`Tally`] of states; both
//! change only through [`TaskView::apply`], so the browser shell holds no
//! logic of its own and all of it is tested here, natively.

use serde::{Deserialize, Serialize};

use crate::wire::error::ErrorKind;
use crate::wire::protocol::{Event, Millis, Product};

/// The state of one URL, as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a slot.
    Queued,
    /// An attempt is running.
    InFlight,
    /// Waiting to retry.
    Waiting,
    /// Fetched.
    Done,
    /// Failed for good.
    Failed,
    /// Stopped by cancel.
    Cancelled,
}

impl TaskState {
    /// All states, in display order.
    pub const ALL: [TaskState; 6] =
        [Self::Queued, Self::InFlight, Self::Waiting, Self::Done, Self::Failed, Self::Cancelled];

    /// The label people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InFlight => "in flight",
            Self::Waiting => "waiting to retry",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A CSS-friendly name.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InFlight => "in-flight",
            Self::Waiting => "waiting",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the URL has its final outcome.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How an attempt ended, for colouring its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanOutcome {
    /// Still running.
    Running,
    /// Succeeded.
    Ok,
    /// Failed and was retried.
    Retried,
    /// Failed for good.
    Failed,
    /// Cut short by cancel.
    Cancelled,
}

/// One attempt on the run's time axis, and the retry wait after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSpan {
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Start, ms since the run started.
    pub start: Millis,
    /// End, when it has ended.
    pub end: Option<Millis>,
    /// Outcome.
    pub outcome: SpanOutcome,
    /// The retry wait after this attempt, in ms.
    pub wait_ms: Option<u64>,
}

/// Everything known about one URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// Index in the whole run.
    pub id: u32,
    /// The URL.
    pub url: String,
    /// Current state.
    pub state: TaskState,
    /// Latest attempt number (0 before the first).
    pub attempt: u32,
    /// Final (or latest) HTTP status.
    pub status: Option<u16>,
    /// Latency of the final attempt.
    pub ms: Option<u64>,
    /// Body bytes.
    pub bytes: Option<u64>,
    /// Error kind and message of a failure.
    pub error: Option<(ErrorKind, String)>,
    /// Why the last attempt was retried.
    pub retry_reason: Option<String>,
    /// Extracted product.
    pub product: Option<Product>,
    /// Attempts on the time axis.
    pub spans: Vec<AttemptSpan>,
    /// When the URL reached its final state.
    pub finished_at: Option<Millis>,
    /// How many links from a start page a crawl found it (none: given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// The id of the page a crawl found it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u32>,
    /// It answered `304` to a revalidation: unchanged, product carried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_modified: bool,
}

impl TaskView {
    /// A queued URL.
    pub fn new(id: u32, url: String) -> Self {
        Self {
            id,
            url,
            state: TaskState::Queued,
            attempt: 0,
            status: None,
            ms: None,
            bytes: None,
            error: None,
            retry_reason: None,
            product: None,
            spans: Vec::new(),
            finished_at: None,
            depth: None,
            parent: None,
            not_modified: false,
        }
    }

    fn close_span(&mut self, t: Millis, outcome: SpanOutcome, wait_ms: Option<u64>) {
        if let Some(span) = self.spans.last_mut()
            && span.end.is_none()
        {
            span.end = Some(t);
            span.outcome = outcome;
            span.wait_ms = wait_ms;
        }
    }

    /// Apply an event about this URL. `offset` shifts its time onto the
    /// client's axis (a chunk request that started later has a later zero).
    /// Returns the state before, so a [`Tally`] can follow. Events that come
    /// after the final state are ignored: a final outcome never changes.
    pub fn apply(&mut self, ev: &Event, offset: Millis) -> TaskState {
        let before = self.state;
        if before.is_final() {
            return before;
        }
        match ev {
            Event::Discovered { depth, parent, .. } => {
                self.depth = Some(*depth);
                self.parent = Some(*parent);
            }
            Event::Queued { .. } | Event::Summary(_) | Event::SaveError { .. } | Event::Heartbeat { .. } => {}
            Event::Started { attempt, t, .. } => {
                self.state = TaskState::InFlight;
                self.attempt = *attempt;
                self.spans.push(AttemptSpan {
                    attempt: *attempt,
                    start: t + offset,
                    end: None,
                    outcome: SpanOutcome::Running,
                    wait_ms: None,
                });
            }
            Event::Retrying { wait_ms, reason, status, t, .. } => {
                self.state = TaskState::Waiting;
                self.status = *status;
                self.retry_reason = Some(reason.clone());
                self.close_span(t + offset, SpanOutcome::Retried, Some(*wait_ms));
            }
            Event::Done { status, bytes, ms, attempts, product, not_modified, t, .. } => {
                self.state = TaskState::Done;
                self.not_modified = *not_modified;
                self.status = Some(*status);
                self.bytes = Some(*bytes);
                self.ms = Some(*ms);
                self.attempt = *attempts;
                self.product = product.as_deref().cloned();
                self.finished_at = Some(t + offset);
                self.close_span(t + offset, SpanOutcome::Ok, None);
            }
            Event::Failed { error, attempts, status, t, .. } => {
                self.state = TaskState::Failed;
                self.status = status.or(self.status);
                self.attempt = *attempts;
                self.error = Some((error.kind, error.message.clone()));
                self.finished_at = Some(t + offset);
                self.close_span(t + offset, SpanOutcome::Failed, None);
            }
            Event::Cancelled { t, .. } => {
                self.cancel(t + offset);
            }
        }
        before
    }

    /// Mark the URL failed at `t` on the client's side (its stream broke
    /// before the edge said how it ended), unless it is final. Returns the
    /// state before.
    pub fn fail(&mut self, t: Millis, kind: ErrorKind, message: String) -> TaskState {
        let before = self.state;
        if !before.is_final() {
            self.state = TaskState::Failed;
            self.error = Some((kind, message));
            self.finished_at = Some(t);
            self.close_span(t, SpanOutcome::Failed, None);
        }
        before
    }

    /// Mark the URL cancelled at `t` (client-side cancel), unless it is final.
    /// Returns the state before.
    pub fn cancel(&mut self, t: Millis) -> TaskState {
        let before = self.state;
        if !before.is_final() {
            self.state = TaskState::Cancelled;
            self.finished_at = Some(t);
            self.close_span(t, SpanOutcome::Cancelled, None);
        }
        before
    }
}

/// How many URLs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    counts: [u32; 6],
}

impl Tally {
    /// `n` URLs, all queued.
    pub fn queued(n: u32) -> Self {
        let mut t = Self::default();
        t.counts[TaskState::Queued.index()] = n;
        t
    }

    /// One more URL, in `state` (a crawl's discovered URL, queued).
    pub fn add(&mut self, state: TaskState) {
        self.counts[state.index()] += 1;
    }

    /// Follow one URL from `from` to `to`.
    pub fn moved(&mut self, from: TaskState, to: TaskState) {
        if from != to {
            self.counts[from.index()] = self.counts[from.index()].saturating_sub(1);
            self.counts[to.index()] += 1;
        }
    }

    /// URLs in `state`.
    pub fn get(&self, state: TaskState) -> u32 {
        self.counts[state.index()]
    }

    /// URLs with a final outcome.
    pub fn finished(&self) -> u32 {
        self.get(TaskState::Done) + self.get(TaskState::Failed) + self.get(TaskState::Cancelled)
    }

    /// All URLs.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::EventError;

    #[test]
    fn a_retried_task_keeps_both_spans_and_ends_done() {
        let mut v = TaskView::new(0, "http://a/".into());
        let mut tally = Tally::queued(1);
        let url = String::from("http://a/");
        let events = [
            Event::Started { id: 0, url: url.clone(), attempt: 1, t: 10 },
            Event::Retrying {
                id: 0,
                url: url.clone(),
                attempt: 1,
                wait_ms: 50,
                reason: "HTTP 503".into(),
                status: Some(503),
                t: 30,
            },
            Event::Started { id: 0, url: url.clone(), attempt: 2, t: 80 },
            Event::Done {
                id: 0,
                url: url.clone(),
                status: 200,
                bytes: 9,
                ms: 20,
                attempts: 2,
                product: None,
                validators: None,
                not_modified: false,
                bytes_saved: 0,
                t: 100,
            },
        ];
        for ev in &events {
            let before = v.apply(ev, 1000);
            tally.moved(before, v.state);
        }
        assert_eq!(v.state, TaskState::Done);
        assert_eq!(v.spans.len(), 2);
        assert_eq!(
            v.spans[0],
            AttemptSpan { attempt: 1, start: 1010, end: Some(1030), outcome: SpanOutcome::Retried, wait_ms: Some(50) }
        );
        assert_eq!(v.spans[1].outcome, SpanOutcome::Ok);
        assert_eq!((v.status, v.ms, v.finished_at), (Some(200), Some(20), Some(1100)));
        assert_eq!((tally.get(TaskState::Done), tally.finished(), tally.total()), (1, 1, 1));
    }

    #[test]
    fn final_states_never_change() {
        let mut v = TaskView::new(1, "u".into());
        v.apply(
            &Event::Failed {
                id: 1,
                url: "u".into(),
                error: EventError { kind: ErrorKind::Timeout, message: "slow".into() },
                attempts: 3,
                status: None,
                t: 5,
            },
            0,
        );
        assert_eq!(v.cancel(9), TaskState::Failed);
        assert_eq!(v.state, TaskState::Failed);
        v.apply(&Event::Started { id: 1, url: "u".into(), attempt: 4, t: 10 }, 0);
        assert_eq!(v.state, TaskState::Failed);
        assert_eq!(v.error.as_ref().map(|e| e.0), Some(ErrorKind::Timeout));
    }

    #[test]
    fn cancel_closes_a_running_span() {
        let mut v = TaskView::new(2, "u".into());
        v.apply(&Event::Started { id: 2, url: "u".into(), attempt: 1, t: 0 }, 0);
        assert_eq!(v.cancel(40), TaskState::InFlight);
        assert_eq!(v.spans[0].end, Some(40));
        assert_eq!(v.spans[0].outcome, SpanOutcome::Cancelled);
    }
}
