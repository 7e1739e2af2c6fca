//! The wire contract of `POST /api/v1/load`: its body and its NDJSON lines.
//!
//! Lines are written with serde and read by hand through
//! [`crate::wire::json`] (the `Deserialize` impl of [`LoadEvent`] runs the
//! same code the load page runs on the browser's `JSON.parse`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::error::ErrorKind;
use crate::wire::json::{
    JsonValue, NUMBER, Problem, Read, ReadError, WHOLE, count_map, opt, pairs, req, req_obj, req_str, req_u32, req_u64,
};

/// Microseconds since the load run started.
pub type Micros = u64;

/// How often a running test reports a snapshot.
pub const SNAPSHOT_EVERY_MS: u64 = 250;
/// Requests in a load test when neither `requests` nor `duration_ms` is given.
pub const DEFAULT_LOAD_REQUESTS: u64 = 200;
/// Concurrency of a load test when `concurrency` is left out.
pub const DEFAULT_LOAD_CONCURRENCY: u32 = 10;
/// The method of a load test's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum LoadMethod {
    /// `GET`, reading the whole body.
    #[default]
    Get,
    /// `HEAD`: headers only.
    Head,
}

impl LoadMethod {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
        }
    }
}

/// The body of `POST /api/v1/load`. Give `requests` or `duration_ms`, not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// The one URL to load.
    pub url: String,
    /// `GET` (default) or `HEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<LoadMethod>,
    /// Send exactly this many requests. Default [`DEFAULT_LOAD_REQUESTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Or keep sending for this long (still at most `max_load_requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Requests in flight at once. Default [`DEFAULT_LOAD_CONCURRENCY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Per-request deadline. Default [`crate::wire::config::DEFAULT_TIMEOUT_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Send the requests from as many invocations as the concurrency needs
    /// (six connections each). Default true; false sends them all from the
    /// one invocation serving the test, six at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<bool>,
}

/// Latency percentiles, in microseconds (all zero when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Percentiles {
    /// Latencies recorded.
    pub count: u64,
    /// Fastest.
    pub min_us: u64,
    /// Mean.
    pub mean_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 75th percentile.
    pub p75_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Slowest.
    pub max_us: u64,
}

/// Counts of a load test: the part every snapshot and the summary share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadCounts {
    /// Requests finished: answered or failed (aborted ones excluded).
    pub completed: u64,
    /// Answers with a 2xx or 3xx status.
    pub ok: u64,
    /// Requests that got no answer (timeouts, network errors).
    pub errors: u64,
    /// Requests still in flight when the test stopped (duration over or
    /// cancelled); they count nowhere else.
    pub aborted: u64,
    /// Body bytes read.
    pub bytes: u64,
    /// Answers by status code. The keys are strings (`"200"`) because JSON
    /// object keys are, and serde cannot read numeric keys back inside a
    /// tagged event.
    pub statuses: BTreeMap<String, u64>,
    /// Failures by kind.
    pub error_kinds: BTreeMap<ErrorKind, u64>,
}

impl LoadCounts {
    /// Add `other` into these counts.
    pub fn add(&mut self, other: &Self) {
        self.completed += other.completed;
        self.ok += other.ok;
        self.errors += other.errors;
        self.aborted += other.aborted;
        self.bytes += other.bytes;
        for (k, v) in &other.statuses {
            *self.statuses.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.error_kinds {
            *self.error_kinds.entry(*k).or_default() += v;
        }
    }
}

/// A periodic report of a running load test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadSnapshot {
    /// Milliseconds since the test started.
    pub t_ms: u64,
    /// Counts so far.
    #[serde(flatten)]
    pub counts: LoadCounts,
    /// Requests in flight now.
    pub in_flight: u32,
    /// Length of the interval since the previous snapshot.
    pub interval_ms: u64,
    /// Requests completed in that interval.
    pub interval_completed: u64,
    /// Requests per second over that interval.
    pub rps: f64,
    /// Percentiles of every latency so far.
    pub latency: Percentiles,
    /// The latencies recorded in the interval, as `[value_us, count]`
    /// buckets: merging every snapshot's `delta` rebuilds the full histogram.
    pub delta: Vec<[u64; 2]>,
}

/// Why a load test stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All `requests` were sent and answered.
    Count,
    /// `duration_ms` passed.
    Duration,
    /// Duration mode reached the deployment's `max_load_requests`.
    RequestCap,
    /// The client cancelled.
    Cancelled,
}

/// The last line of a load test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadSummary {
    /// Totals.
    #[serde(flatten)]
    pub counts: LoadCounts,
    /// Why it stopped (absent only in a default value).
    pub stopped: Option<StopReason>,
    /// From the start to the last request's end.
    pub elapsed_ms: u64,
    /// Completed requests per second over `elapsed_ms`.
    pub rps: f64,
    /// Percentiles over the whole test.
    pub latency: Percentiles,
    /// The full latency histogram as `[value_us, count]` buckets.
    pub histogram: Vec<[u64; 2]>,
}

/// One NDJSON line of `POST /api/v1/load`.
///
/// Read in one pass by hand, as [`crate::wire::protocol::Event`] is (the
/// `Deserialize` impl below).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoadEvent {
    /// The first line: the plan in force.
    LoadStarted {
        /// The target.
        url: String,
        /// The method.
        method: LoadMethod,
        /// Most requests this edge request sends.
        max_requests: u64,
        /// Duration mode's length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        /// In-flight cap.
        concurrency: u32,
        /// Per-request deadline.
        timeout_ms: u64,
    },
    /// Every [`SNAPSHOT_EVERY_MS`], and once more just before the summary.
    Snapshot(LoadSnapshot),
    /// The last line.
    LoadSummary(LoadSummary),
}

/// Reads a line through [`crate::wire::json`]: the code the load page runs on the
/// browser's `JSON.parse`, here on a `serde_json::Value`.
impl<'de> Deserialize<'de> for LoadEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        LoadEvent::from_json(&&value).map_err(serde::de::Error::custom)
    }
}

impl LoadEvent {
    /// The event as one NDJSON line, newline included.
    pub fn to_ndjson(&self) -> String {
        crate::wire::ndjson::encode_line(self)
    }
}

impl LoadEvent {
    /// The load-test event in a parsed NDJSON line.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        let kind = req_str(v, "type")?;
        Ok(match kind.as_str() {
            "load_started" => LoadEvent::LoadStarted {
                url: req_str(v, "url")?,
                method: req(
                    v,
                    "method",
                    |m| match m.as_string()?.as_str() {
                        "GET" => Some(LoadMethod::Get),
                        "HEAD" => Some(LoadMethod::Head),
                        _ => None,
                    },
                    "GET or HEAD",
                )?,
                max_requests: req_u64(v, "max_requests")?,
                duration_ms: opt(v, "duration_ms", J::as_u64, WHOLE)?,
                concurrency: req_u32(v, "concurrency")?,
                timeout_ms: req_u64(v, "timeout_ms")?,
            },
            "snapshot" => LoadEvent::Snapshot(LoadSnapshot {
                t_ms: req_u64(v, "t_ms")?,
                counts: load_counts(v)?,
                in_flight: req_u32(v, "in_flight")?,
                interval_ms: req_u64(v, "interval_ms")?,
                interval_completed: req_u64(v, "interval_completed")?,
                rps: req(v, "rps", J::as_f64, NUMBER)?,
                latency: req_obj(v, "latency", load_percentiles)?,
                delta: pairs(v, "delta")?,
            }),
            "load_summary" => LoadEvent::LoadSummary(LoadSummary {
                counts: load_counts(v)?,
                stopped: opt(
                    v,
                    "stopped",
                    |m| match m.as_string()?.as_str() {
                        "count" => Some(StopReason::Count),
                        "duration" => Some(StopReason::Duration),
                        "request_cap" => Some(StopReason::RequestCap),
                        "cancelled" => Some(StopReason::Cancelled),
                        _ => None,
                    },
                    "a stop reason",
                )?,
                elapsed_ms: req_u64(v, "elapsed_ms")?,
                rps: req(v, "rps", J::as_f64, NUMBER)?,
                latency: req_obj(v, "latency", load_percentiles)?,
                histogram: pairs(v, "histogram")?,
            }),
            other => return Err(ReadError::new("type", Problem::UnknownType(other.to_owned()))),
        })
    }
}

/// The counts a load-test snapshot and summary share (flattened into them).
fn load_counts<J: JsonValue>(v: &J) -> Read<LoadCounts> {
    Ok(LoadCounts {
        completed: req_u64(v, "completed")?,
        ok: req_u64(v, "ok")?,
        errors: req_u64(v, "errors")?,
        aborted: req_u64(v, "aborted")?,
        bytes: req_u64(v, "bytes")?,
        statuses: count_map(v, "statuses", Some, J::as_u64)?,
        error_kinds: count_map(v, "error_kinds", |k| Some(ErrorKind::from_wire(&k)), J::as_u64)?,
    })
}

/// A load test's latency percentiles, in microseconds.
fn load_percentiles<J: JsonValue>(v: &J) -> Read<Percentiles> {
    Ok(Percentiles {
        count: req_u64(v, "count")?,
        min_us: req_u64(v, "min_us")?,
        mean_us: req_u64(v, "mean_us")?,
        p50_us: req_u64(v, "p50_us")?,
        p75_us: req_u64(v, "p75_us")?,
        p90_us: req_u64(v, "p90_us")?,
        p95_us: req_u64(v, "p95_us")?,
        p99_us: req_u64(v, "p99_us")?,
        p999_us: req_u64(v, "p999_us")?,
        max_us: req_u64(v, "max_us")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_line_missing_a_field_or_of_unknown_type_is_refused_by_name() {
        let err = |line: &str| serde_json::from_str::<LoadEvent>(line).unwrap_err().to_string();
        assert!(
            err(r#"{"type":"load_started","url":"http://a/","method":"GET","max_requests":3,"timeout_ms":5}"#)
                .contains("missing field `concurrency`")
        );
        assert!(err(r#"{"type":"snapshot","t_ms":1}"#).contains("missing field `completed`"));
        assert!(err(r#"{"type":"warp","t_ms":1}"#).contains("unknown event type `warp`"));
        assert!(
            err(r#"{"type":"load_started","url":"http://a/","method":"POST","max_requests":3,"concurrency":1,"timeout_ms":5}"#)
                .contains("field `method` is not GET or HEAD")
        );
        // A summary without `stopped` is still a summary (the field is optional).
        let line = r#"{"type":"load_summary","completed":0,"ok":0,"errors":0,"aborted":0,"bytes":0,"statuses":{},"error_kinds":{},"elapsed_ms":1,"rps":0.0,"latency":{"count":0,"min_us":0,"mean_us":0,"p50_us":0,"p75_us":0,"p90_us":0,"p95_us":0,"p99_us":0,"p999_us":0,"max_us":0},"histogram":[]}"#;
        let parsed = serde_json::from_str::<LoadEvent>(line);
        assert!(matches!(parsed, Ok(LoadEvent::LoadSummary(LoadSummary { stopped: None, .. }))), "{parsed:?}");
        // A histogram bucket is a pair of whole numbers.
        let bad = line.replace(r#""histogram":[]"#, r#""histogram":[[1,2,3]]"#);
        assert!(err(&bad).contains("field `histogram` is not a list of [number, number] pairs"), "{}", err(&bad));
    }

    fn read<T>(value: &serde_json::Value, f: impl Fn(&&serde_json::Value) -> Read<T>) -> Read<T> {
        f(&value)
    }

    #[test]
    fn load_events_read_back_unchanged() {
        let start = LoadEvent::LoadStarted {
            url: "http://a/".into(),
            method: LoadMethod::Head,
            max_requests: 10,
            duration_ms: Some(2000),
            concurrency: 4,
            timeout_ms: 500,
        };
        let mut events = vec![start];
        for stopped in [
            None,
            Some(StopReason::Count),
            Some(StopReason::Duration),
            Some(StopReason::RequestCap),
            Some(StopReason::Cancelled),
        ] {
            events.push(LoadEvent::LoadSummary(LoadSummary {
                counts: LoadCounts {
                    completed: 9,
                    ok: 6,
                    errors: 3,
                    aborted: 1,
                    bytes: 900,
                    statuses: BTreeMap::from([("200".to_owned(), 6), ("503".to_owned(), 1)]),
                    error_kinds: BTreeMap::from([(ErrorKind::Timeout, 2), (ErrorKind::HttpStatus, 1)]),
                },
                stopped,
                elapsed_ms: 2001,
                rps: 4.5,
                latency: Percentiles { count: 6, max_us: 9000, ..Percentiles::default() },
                histogram: vec![[1000, 4], [9000, 2]],
            }));
        }
        for ev in events {
            let value = serde_json::to_value(&ev).unwrap();
            assert_eq!(read(&value, |v| LoadEvent::from_json(v)).unwrap(), ev);
        }
    }
}
