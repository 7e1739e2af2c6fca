//! Reading the wire format from JSON that something else has parsed.
//!
//! The dashboard reads every NDJSON line with the browser's own `JSON.parse`
//! and picks the fields out of the result; natively (tests, Rust clients,
//! the `Deserialize` impl of [`Event`]) the same code reads a
//! [`serde_json::Value`]. One decoder of the format, two parsers, and the
//! tests here run the code the dashboard runs.
//!
//! Why not serde's derived decoders in the browser: each type's decoder is
//! its own code, instantiated for the parser, and for the event types they
//! were the largest part of the dashboard's wasm after Leptos itself
//! (BENCHMARKS.md, "What the bundle is made of"). The browser already
//! carries a JSON parser.
//!
//! Rules, the same as the types' serde attributes: unknown fields are
//! ignored (the edge may add fields); an optional field may be absent or
//! `null`; a required one must be there with the right type, and the error
//! names it by its path (`stats.latency.p50`).

use std::collections::BTreeMap;
use std::fmt;

use crate::wire::config::{
    DEFAULT_CONNECTIONS_PER_INVOCATION, DEFAULT_JOB_BATCH_SIZE, DEFAULT_MAX_ACTIVE_JOBS, DEFAULT_MAX_CRAWL_PAGES,
    DEFAULT_MAX_HOST_INTERVAL_MS, DEFAULT_MAX_JOB_URLS, DEFAULT_MAX_WATCHES, DEFAULT_MIN_WATCH_MINUTES,
    DEFAULT_SUBREQUESTS_PER_INVOCATION, Limits,
};
use crate::wire::error::ErrorKind;
use crate::wire::jobs::{JobCounts, JobList, JobState, JobStatus};
use crate::wire::protocol::SaveReport;
use crate::wire::protocol::{
    ApiError, CrawlReport, Event, EventError, Field, Price, Product, Refusals, RobotsReport, Source, Summary,
    Validators,
};
use crate::wire::stats::{HostReport, Percentiles, StatsReport};

/// A parsed JSON value, as far as the readers here need one.
pub trait JsonValue: Sized {
    /// Whether the parts of the wire only some clients use are read: a
    /// `summary`'s statistics and crawl report, and the crawl and job
    /// limits of the config. A client that folds its own statistics and
    /// neither crawls nor makes jobs (the dashboard) reads the rest only,
    /// and its bundle then carries no code for these (they take their
    /// defaults).
    const DETAIL: bool = true;
    /// The member `key` of an object; `None` when it is absent or `null`, or
    /// when this is not an object. Keys are the format's own field names,
    /// `'static`, so an implementation may keep them converted (the browser's
    /// does, by address).
    fn member(&self, key: &'static str) -> Option<Self>;
    /// A whole number from 0 up (to 2^53 − 1 where numbers are doubles).
    fn as_u64(&self) -> Option<u64>;
    /// Any number.
    fn as_f64(&self) -> Option<f64>;
    /// A string.
    fn as_string(&self) -> Option<String>;
    /// `true` or `false`.
    fn as_bool(&self) -> Option<bool>;
    /// The elements of an array.
    fn elements(&self) -> Option<Vec<Self>>;
    /// The members of an object, in any order.
    fn entries(&self) -> Option<Vec<(String, Self)>>;
}

/// Why a JSON value is not what the wire format says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The field's path, e.g. `stats.latency.p50` (empty for the value itself).
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It is absent or `null`.
    Missing,
    /// It is there, but not what is expected (named).
    Expected(&'static str),
    /// An event `type` this build does not know.
    UnknownType(String),
}

impl ReadError {
    /// A problem with the field at `field`.
    // Boxed: a `Result` of the readers then carries one pointer for its
    // error, which keeps every `?` cheap (in the wasm, too).
    #[inline(never)]
    pub fn new(field: &str, problem: Problem) -> Box<Self> {
        Box::new(Self { field: field.to_owned(), problem })
    }

    /// The same error, for a value read as the member `key` of another.
    fn within(mut self: Box<Self>, key: &str) -> Box<Self> {
        self.field = if self.field.is_empty() { key.to_owned() } else { format!("{key}.{}", self.field) };
        self
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Missing => write!(f, "missing field `{}`", self.field),
            Problem::Expected(what) => write!(f, "field `{}` is not {what}", self.field),
            Problem::UnknownType(t) => write!(f, "unknown event type `{t}`"),
        }
    }
}

impl std::error::Error for ReadError {}

/// What the readers return.
pub type Read<T> = Result<T, Box<ReadError>>;

/// The optional member `key`, read by `read`, which names what it expects.
pub fn opt<J: JsonValue, T>(
    v: &J,
    key: &'static str,
    read: impl FnOnce(&J) -> Option<T>,
    expected: &'static str,
) -> Read<Option<T>> {
    match v.member(key) {
        None => Ok(None),
        Some(m) => read(&m).map(Some).ok_or_else(|| ReadError::new(key, Problem::Expected(expected))),
    }
}

/// The required member `key`, read by `read`.
pub fn req<J: JsonValue, T>(
    v: &J,
    key: &'static str,
    read: impl FnOnce(&J) -> Option<T>,
    expected: &'static str,
) -> Read<T> {
    opt(v, key, read, expected)?.ok_or_else(|| ReadError::new(key, Problem::Missing))
}

/// The optional object `key`, read by `read`; its errors get `key`'s path.
pub fn opt_obj<J: JsonValue, T>(v: &J, key: &'static str, read: impl FnOnce(&J) -> Read<T>) -> Read<Option<T>> {
    v.member(key).map(|m| read(&m).map_err(|e| e.within(key))).transpose()
}

/// The required object `key`, read by `read`.
pub fn req_obj<J: JsonValue, T>(v: &J, key: &'static str, read: impl FnOnce(&J) -> Read<T>) -> Read<T> {
    opt_obj(v, key, read)?.ok_or_else(|| ReadError::new(key, Problem::Missing))
}

/// 2⁵³ − 1: the largest whole number every JSON reader holds exactly (a
/// JavaScript number is a double).
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// What a whole-number field is expected to be, for error messages.
pub const WHOLE: &str = "a whole number";
/// What a narrowed whole-number field is expected to be.
pub const SMALL: &str = "a whole number in range";
/// What a string field is expected to be.
pub const TEXT: &str = "a string";
/// What a boolean field is expected to be.
pub const FLAG: &str = "true or false";
/// What a number field is expected to be.
pub const NUMBER: &str = "a number";

/// The required array `key`, each element read by `read`; an element's
/// errors get its path (`hosts.2.urls`).
fn req_list<J: JsonValue, T>(v: &J, key: &'static str, read: impl Fn(&J) -> Read<T>) -> Read<Vec<T>> {
    let items = req(v, key, J::elements, "a list")?;
    items.iter().enumerate().map(|(i, item)| read(item).map_err(|e| e.within(&i.to_string()).within(key))).collect()
}

/// A whole number narrowed to `N` (`u32`, `u16`), when it fits.
fn narrow<J: JsonValue, N: TryFrom<u64>>(m: &J) -> Option<N> {
    m.as_u64().and_then(|n| N::try_from(n).ok())
}

/// An array of strings.
fn strings<J: JsonValue>(m: &J) -> Option<Vec<String>> {
    m.elements()?.iter().map(J::as_string).collect()
}

/// Required `u64`.
pub fn req_u64<J: JsonValue>(v: &J, key: &'static str) -> Read<u64> {
    req(v, key, J::as_u64, WHOLE)
}

/// Required `u32`.
pub fn req_u32<J: JsonValue>(v: &J, key: &'static str) -> Read<u32> {
    req(v, key, narrow::<J, u32>, SMALL)
}

/// Required `u16`.
fn req_u16<J: JsonValue>(v: &J, key: &'static str) -> Read<u16> {
    req(v, key, narrow::<J, u16>, SMALL)
}

/// Optional `u16`.
fn opt_u16<J: JsonValue>(v: &J, key: &'static str) -> Read<Option<u16>> {
    opt(v, key, narrow::<J, u16>, SMALL)
}

/// Required string.
pub fn req_str<J: JsonValue>(v: &J, key: &'static str) -> Read<String> {
    req(v, key, J::as_string, TEXT)
}

/// Optional string.
pub fn opt_str<J: JsonValue>(v: &J, key: &'static str) -> Read<Option<String>> {
    opt(v, key, J::as_string, TEXT)
}

/// Required boolean.
pub fn req_bool<J: JsonValue>(v: &J, key: &'static str) -> Read<bool> {
    req(v, key, J::as_bool, FLAG)
}

/// Required array of strings.
pub fn req_strings<J: JsonValue>(v: &J, key: &'static str) -> Read<Vec<String>> {
    req(v, key, strings, "a list of strings")
}

/// A map of counts (`{"404": 3}`), its keys read by `key_of` and its counts
/// by `count`.
pub fn count_map<J: JsonValue, K: Ord, N>(
    v: &J,
    key: &'static str,
    key_of: impl Fn(String) -> Option<K>,
    count: impl Fn(&J) -> Option<N>,
) -> Read<BTreeMap<K, N>> {
    req(
        v,
        key,
        |m| {
            // Inserted one by one: collecting into a map sorts with a
            // stable sort, a routine the dashboard's wasm has no other use for.
            let mut map = BTreeMap::new();
            for (k, n) in m.entries()? {
                map.insert(key_of(k)?, count(&n)?);
            }
            Some(map)
        },
        "a map of counts",
    )
}

/// A map of `u32` counts.
fn counts<J: JsonValue, K: Ord>(
    v: &J,
    key: &'static str,
    key_of: impl Fn(String) -> Option<K>,
) -> Read<BTreeMap<K, u32>> {
    count_map(v, key, key_of, narrow::<J, u32>)
}

/// A list of `[a, b]` pairs of whole numbers (a histogram's buckets).
pub fn pairs<J: JsonValue>(v: &J, key: &'static str) -> Read<Vec<[u64; 2]>> {
    req(
        v,
        key,
        |m| {
            m.elements()?
                .iter()
                .map(|p| match p.elements()?.as_slice() {
                    [a, b] => Some([a.as_u64()?, b.as_u64()?]),
                    _ => None,
                })
                .collect()
        },
        "a list of [number, number] pairs",
    )
}

impl Event {
    /// The event in a parsed NDJSON line.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        let kind = req_str(v, "type")?;
        let id = || req_u32(v, "id");
        let url = || req_str(v, "url");
        let t = || req_u64(v, "t");
        Ok(match kind.as_str() {
            "discovered" => Event::Discovered {
                id: id()?,
                url: url()?,
                parent: req_u32(v, "parent")?,
                depth: req_u32(v, "depth")?,
                t: t()?,
            },
            "queued" => Event::Queued { id: id()?, url: url()?, t: t()? },
            "started" => Event::Started { id: id()?, url: url()?, attempt: req_u32(v, "attempt")?, t: t()? },
            "retrying" => Event::Retrying {
                id: id()?,
                url: url()?,
                attempt: req_u32(v, "attempt")?,
                wait_ms: req_u64(v, "wait_ms")?,
                reason: req_str(v, "reason")?,
                status: opt_u16(v, "status")?,
                t: t()?,
            },
            "done" => Event::Done {
                id: id()?,
                url: url()?,
                status: req_u16(v, "status")?,
                bytes: req_u64(v, "bytes")?,
                ms: req_u64(v, "ms")?,
                attempts: req_u32(v, "attempts")?,
                product: opt_obj(v, "product", |p| Product::from_json(p).map(Box::new))?,
                // The browser does not show them, but a job's report (read
                // through here) carries them to the history.
                validators: opt_obj(v, "validators", |x| {
                    Ok(Validators { etag: opt_str(x, "etag")?, last_modified: opt_str(x, "last_modified")? })
                })?,
                not_modified: opt(v, "not_modified", J::as_bool, FLAG)?.unwrap_or(false),
                bytes_saved: opt(v, "bytes_saved", J::as_u64, WHOLE)?.unwrap_or(0),
                t: t()?,
            },
            "failed" => Event::Failed {
                id: id()?,
                url: url()?,
                error: req_obj(v, "error", |e| {
                    Ok(EventError { kind: ErrorKind::from_wire(&req_str(e, "kind")?), message: req_str(e, "message")? })
                })?,
                attempts: req_u32(v, "attempts")?,
                status: opt_u16(v, "status")?,
                t: t()?,
            },
            "cancelled" => Event::Cancelled { id: id()?, url: url()?, t: t()? },
            "save_error" => Event::SaveError { message: req_str(v, "message")?, t: t()? },
            "heartbeat" => Event::Heartbeat { t: t()? },
            "summary" => Event::Summary(Box::new(Summary::from_json(v)?)),
            other => return Err(ReadError::new("type", Problem::UnknownType(other.to_owned()))),
        })
    }
}

/// Reads a line through this module: the code the dashboard runs on the
/// browser's `JSON.parse`, here on a `serde_json::Value`.
impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
        Event::from_json(&&value).map_err(serde::de::Error::custom)
    }
}

impl Summary {
    /// A `summary` event's fields.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(Summary {
            total: req_u32(v, "total")?,
            done: req_u32(v, "done")?,
            failed: req_u32(v, "failed")?,
            cancelled: req_u32(v, "cancelled")?,
            retries: req_u32(v, "retries")?,
            was_cancelled: req_bool(v, "was_cancelled")?,
            elapsed_ms: req_u64(v, "elapsed_ms")?,
            peak_in_flight: req_u32(v, "peak_in_flight")?,
            stats: if J::DETAIL { req_obj(v, "stats", StatsReport::from_json)? } else { StatsReport::default() },
            saved: opt_obj(v, "saved", |s| {
                Ok(SaveReport {
                    run_id: req_str(s, "run_id")?,
                    rows: req_u64(s, "rows")?,
                    write_ms: opt(s, "write_ms", J::as_u64, WHOLE)?.unwrap_or(0),
                    error: opt_str(s, "error")?,
                })
            })?,
            crawl: if J::DETAIL { opt_obj(v, "crawl", CrawlReport::from_json)? } else { None },
            invocations: opt(v, "invocations", narrow::<J, u32>, SMALL)?,
        })
    }
}

impl JobStatus {
    /// A job's status (`GET /api/v1/jobs/{id}`, or one item of the list).
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(JobStatus {
            job_id: req_str(v, "job_id")?,
            state: req(v, "state", |s| JobState::from_wire(&s.as_string()?), "a job state")?,
            counts: req_obj(v, "counts", |c| {
                Ok(JobCounts {
                    total: req_u32(c, "total")?,
                    pending: req_u32(c, "pending")?,
                    in_flight: req_u32(c, "in_flight")?,
                    done: req_u32(c, "done")?,
                    failed: req_u32(c, "failed")?,
                    cancelled: req_u32(c, "cancelled")?,
                })
            })?,
            created_at: req_u64(v, "created_at")?,
            started_at: opt(v, "started_at", J::as_u64, WHOLE)?,
            finished_at: opt(v, "finished_at", J::as_u64, WHOLE)?,
            throughput: req(v, "throughput", J::as_f64, NUMBER)?,
            kind: req_str(v, "kind")?,
            last_seq: req_u64(v, "last_seq")?,
        })
    }
}

impl JobList {
    /// A page of the job list.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(JobList {
            jobs: req_list(v, "jobs", JobStatus::from_json)?,
            total: req_u64(v, "total")?,
            limit: req_u32(v, "limit")?,
            offset: req_u32(v, "offset")?,
        })
    }
}

impl CrawlReport {
    /// A crawl summary's `crawl` object.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(CrawlReport {
            discovered: req_u32(v, "discovered")?,
            refused: req_obj(v, "refused", |r| {
                Ok(Refusals {
                    out_of_scope: req_u32(r, "out_of_scope")?,
                    robots_disallowed: req_u32(r, "robots_disallowed")?,
                    over_budget: req_u32(r, "over_budget")?,
                    duplicate: req_u32(r, "duplicate")?,
                    blocked_target: req_u32(r, "blocked_target")?,
                })
            })?,
            robots: req_list(v, "robots", |r| {
                Ok(RobotsReport {
                    origin: req_str(r, "origin")?,
                    outcome: req_str(r, "outcome")?,
                    status: opt_u16(r, "status")?,
                    error: opt_str(r, "error")?,
                    crawl_delay_ms: opt(r, "crawl_delay_ms", J::as_u64, WHOLE)?,
                })
            })?,
        })
    }
}

impl StatsReport {
    /// A run's statistics.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(StatsReport {
            latency: req_obj(v, "latency", Percentiles::from_json)?,
            rps: req(v, "rps", J::as_f64, NUMBER)?,
            bytes: req_u64(v, "bytes")?,
            status: counts(v, "status", |k| k.parse::<u16>().ok())?,
            retries: req_u32(v, "retries")?,
            errors: counts(v, "errors", Some)?,
            hosts: req_list(v, "hosts", HostReport::from_json)?,
            unchanged: opt(v, "unchanged", J::as_u64, WHOLE)?.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            bytes_saved: opt(v, "bytes_saved", J::as_u64, WHOLE)?.unwrap_or(0),
        })
    }
}

impl Percentiles {
    /// Latency percentiles.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(Percentiles {
            count: req_u64(v, "count")?,
            p50: req_u64(v, "p50")?,
            p90: req_u64(v, "p90")?,
            p99: req_u64(v, "p99")?,
            max: req_u64(v, "max")?,
        })
    }
}

impl HostReport {
    /// One host's figures.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        Ok(HostReport {
            host: req_str(v, "host")?,
            urls: req_u32(v, "urls")?,
            attempts: req_u32(v, "attempts")?,
            done: req_u32(v, "done")?,
            failed: req_u32(v, "failed")?,
            bytes: req_u64(v, "bytes")?,
            latency: req_obj(v, "latency", Percentiles::from_json)?,
        })
    }
}

impl Product {
    /// Extracted product data.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        // Filled in place, the text fields in one loop: one copy of their
        // code in the wasm, and one drop of the product on an error.
        let mut p = Product::default();
        let Product { name, currency, availability, brand, sku, gtin, image, url, .. } = &mut p;
        let texts = [
            ("name", name),
            ("currency", currency),
            ("availability", availability),
            ("brand", brand),
            ("sku", sku),
            ("gtin", gtin),
            ("image", image),
            ("url", url),
        ];
        for (key, slot) in texts {
            *slot = opt_obj(v, key, |f| field(f, |f| req_str(f, "value")))?;
        }
        p.currency_text = opt_str(v, "currency_text")?;
        p.price = opt_obj(v, "price", |f| {
            field(f, |f| {
                req_obj(f, "value", |p| {
                    Ok(Price {
                        raw: req_str(p, "raw")?,
                        amount: opt_str(p, "amount")?,
                        note: opt_str(p, "note")?,
                        high: opt_str(p, "high")?,
                    })
                })
            })
        })?;
        p.others = opt(v, "others", narrow::<J, u32>, SMALL)?.unwrap_or(0);
        p.malformed_json_ld = opt(v, "malformed_json_ld", J::as_bool, FLAG)?.unwrap_or(false);
        Ok(p)
    }
}

/// A product field: its `value`, read by `value`, and its `source`.
fn field<J: JsonValue, T>(f: &J, value: impl FnOnce(&J) -> Read<T>) -> Read<Field<T>> {
    let source = req(f, "source", |s| Source::from_wire(&s.as_string()?), "json-ld, microdata or opengraph")?;
    Ok(Field { value: value(f)?, source })
}

impl Limits {
    /// The `limits` of a `GET /api/v1/config` answer.
    pub fn from_config<J: JsonValue>(config: &J) -> Read<Self> {
        req_obj(config, "limits", Limits::from_json)
    }

    /// The limits object itself.
    pub fn from_json<J: JsonValue>(v: &J) -> Read<Self> {
        let mut l = Limits {
            max_urls_per_request: req_u32(v, "max_urls_per_request")?,
            max_concurrency: req_u32(v, "max_concurrency")?,
            max_attempts: req_u32(v, "max_attempts")?,
            max_timeout_ms: req_u64(v, "max_timeout_ms")?,
            max_deadline_ms: req_u64(v, "max_deadline_ms")?,
            max_backoff_ms: req_u64(v, "max_backoff_ms")?,
            max_request_bytes: req_u64(v, "max_request_bytes")?,
            max_body_bytes: req_u64(v, "max_body_bytes")?,
            max_load_requests: req_u64(v, "max_load_requests")?,
            max_load_duration_ms: req_u64(v, "max_load_duration_ms")?,
            max_load_concurrency: req_u32(v, "max_load_concurrency")?,
            allow_private_targets: req_bool(v, "allow_private_targets")?,
            allowed_hosts: opt(v, "allowed_hosts", strings, "a list of strings")?.unwrap_or_default(),
            ..Limits::default()
        };
        if J::DETAIL {
            // Absent from an older edge: their defaults.
            let small = |key| opt(v, key, narrow::<J, u32>, SMALL);
            l.max_crawl_pages = small("max_crawl_pages")?.unwrap_or(DEFAULT_MAX_CRAWL_PAGES);
            l.max_host_interval_ms =
                opt(v, "max_host_interval_ms", J::as_u64, WHOLE)?.unwrap_or(DEFAULT_MAX_HOST_INTERVAL_MS);
            l.max_job_urls = small("max_job_urls")?.unwrap_or(DEFAULT_MAX_JOB_URLS);
            l.max_active_jobs = small("max_active_jobs")?.unwrap_or(DEFAULT_MAX_ACTIVE_JOBS);
            l.job_batch_size = small("job_batch_size")?.unwrap_or(DEFAULT_JOB_BATCH_SIZE);
            l.min_watch_minutes = small("min_watch_minutes")?.unwrap_or(DEFAULT_MIN_WATCH_MINUTES);
            l.max_watches = small("max_watches")?.unwrap_or(DEFAULT_MAX_WATCHES);
            l.connections_per_invocation =
                small("connections_per_invocation")?.unwrap_or(DEFAULT_CONNECTIONS_PER_INVOCATION);
            l.subrequests_per_invocation =
                small("subrequests_per_invocation")?.unwrap_or(DEFAULT_SUBREQUESTS_PER_INVOCATION);
        }
        Ok(l)
    }
}

impl ApiError {
    /// The `error` of a refusal's body, `{"error": {"kind", "message"}}`
    /// (its status is the answer's, not in the body: 0 here).
    pub fn from_body<J: JsonValue>(body: &J) -> Read<Self> {
        req_obj(body, "error", |e| {
            Ok(ApiError { kind: req_str(e, "kind")?, message: req_str(e, "message")?, status: 0, allow: None })
        })
    }
}

impl JsonValue for &serde_json::Value {
    fn member(&self, key: &'static str) -> Option<Self> {
        self.get(key).filter(|m| !m.is_null())
    }
    fn as_u64(&self) -> Option<u64> {
        serde_json::Value::as_u64(self)
    }
    fn as_f64(&self) -> Option<f64> {
        serde_json::Value::as_f64(self)
    }
    fn as_string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
    fn as_bool(&self) -> Option<bool> {
        serde_json::Value::as_bool(self)
    }
    fn elements(&self) -> Option<Vec<Self>> {
        self.as_array().map(|a| a.iter().collect())
    }
    fn entries(&self) -> Option<Vec<(String, Self)>> {
        self.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::SaveReport;

    fn read<T>(value: &serde_json::Value, f: impl Fn(&&serde_json::Value) -> Read<T>) -> Read<T> {
        f(&value)
    }

    /// Every product field, each source, a price with all its parts, and a
    /// summary with hosts, statuses, errors and a save report come back as
    /// they were written.
    #[test]
    fn a_full_product_and_summary_read_back_unchanged() {
        let text = |v: &str, source| Some(Field { value: v.to_owned(), source });
        let product = Product {
            name: text("Kettle <b>", Source::JsonLd),
            price: Some(Field {
                value: Price {
                    raw: "1.299,00 €".into(),
                    amount: Some("1299.00".into()),
                    note: None,
                    high: Some("1499.00".into()),
                },
                source: Source::Microdata,
            }),
            currency: text("EUR", Source::Opengraph),
            currency_text: Some("€".into()),
            availability: text("in_stock", Source::JsonLd),
            brand: text("Acme", Source::JsonLd),
            sku: text("K-1", Source::Microdata),
            gtin: text("4006381333931", Source::JsonLd),
            image: text("http://a/k.png", Source::Opengraph),
            url: text("http://a/k", Source::JsonLd),
            others: 2,
            malformed_json_ld: true,
        };
        let done = Event::Done {
            id: 4,
            url: "http://a/k".into(),
            status: 200,
            bytes: 1234,
            ms: 56,
            attempts: 2,
            product: Some(Box::new(product)),
            validators: Validators::from_headers(Some("\"v1\"".into()), Some("Sun, 06 Dec 2026 10:00:00 GMT".into())),
            not_modified: false,
            bytes_saved: 0,
            t: 78,
        };
        let lat = Percentiles { count: 3, p50: 10, p90: 20, p99: 30, max: 31 };
        let summary = Event::Summary(Box::new(Summary {
            total: 3,
            done: 2,
            failed: 1,
            cancelled: 0,
            retries: 1,
            was_cancelled: false,
            elapsed_ms: 99,
            peak_in_flight: 3,
            stats: StatsReport {
                latency: lat.clone(),
                rps: 12.5,
                bytes: 4096,
                status: BTreeMap::from([(200, 2), (404, 1)]),
                retries: 1,
                errors: BTreeMap::from([("http_status".to_owned(), 1)]),
                hosts: vec![HostReport {
                    host: "a:80".into(),
                    urls: 3,
                    attempts: 4,
                    done: 2,
                    failed: 1,
                    bytes: 4096,
                    latency: lat,
                }],
                unchanged: 2,
                bytes_saved: 1234,
            },
            saved: Some(SaveReport { run_id: "r1".into(), rows: 3, write_ms: 7, error: Some("D1 busy".into()) }),
            crawl: Some(CrawlReport {
                discovered: 2,
                refused: Refusals {
                    out_of_scope: 1,
                    robots_disallowed: 2,
                    over_budget: 3,
                    duplicate: 4,
                    blocked_target: 5,
                },
                robots: vec![
                    RobotsReport {
                        origin: "http://a".into(),
                        outcome: "rules".into(),
                        status: Some(200),
                        error: None,
                        crawl_delay_ms: Some(1500),
                    },
                    RobotsReport {
                        origin: "http://b".into(),
                        outcome: "disallow_all".into(),
                        status: None,
                        error: Some("timed out".into()),
                        crawl_delay_ms: None,
                    },
                ],
            }),
            invocations: Some(9),
        }));
        let discovered = Event::Discovered { id: 7, url: "http://a/p".into(), parent: 2, depth: 1, t: 44 };
        let unchanged = Event::Done {
            id: 5,
            url: "http://a/u".into(),
            status: 304,
            bytes: 0,
            ms: 9,
            attempts: 1,
            product: Some(Box::new(Product { sku: text("K-2", Source::Saved), ..Product::default() })),
            validators: None,
            not_modified: true,
            bytes_saved: 4321,
            t: 80,
        };
        for ev in [done, unchanged, summary, discovered] {
            let value = serde_json::to_value(&ev).unwrap();
            assert_eq!(read(&value, |v| Event::from_json(v)).unwrap(), ev);
        }
    }

    /// `null` is the same as absent for optional fields; defaults fill in
    /// what serde's attributes default.
    #[test]
    fn null_optional_fields_and_defaults() {
        let value = serde_json::json!({
            "type": "retrying", "id": 1, "url": "u", "attempt": 1, "wait_ms": 5,
            "reason": "timeout", "status": null, "t": 2
        });
        let ev = read(&value, |v| Event::from_json(v)).unwrap();
        assert!(matches!(ev, Event::Retrying { status: None, .. }));
        let value = serde_json::json!({"name": {"value": "A", "source": "json-ld"}});
        let p = read(&value, |v| Product::from_json(v)).unwrap();
        assert_eq!((p.others, p.malformed_json_ld, p.price), (0, false, None));
        let value = serde_json::json!({"run_id": "r", "rows": 1});
        let summary_saved = serde_json::json!({
            "type": "summary", "total": 0, "done": 0, "failed": 0, "cancelled": 0, "retries": 0,
            "was_cancelled": false, "elapsed_ms": 0, "peak_in_flight": 0,
            "stats": serde_json::to_value(StatsReport::default()).unwrap(), "saved": value
        });
        let Event::Summary(s) = read(&summary_saved, |v| Event::from_json(v)).unwrap() else { panic!("not a summary") };
        assert_eq!(s.saved, Some(SaveReport { run_id: "r".into(), rows: 1, write_ms: 0, error: None }));
    }

    /// Errors inside lists name the element.
    #[test]
    fn an_error_in_a_list_names_its_element() {
        let mut stats = serde_json::to_value(StatsReport {
            hosts: vec![HostReport::default(), HostReport::default()],
            ..StatsReport::default()
        })
        .unwrap();
        stats["hosts"][1]["urls"] = serde_json::json!("many");
        let err = read(&stats, |v| StatsReport::from_json(v)).unwrap_err();
        assert_eq!(err.to_string(), "field `hosts.1.urls` is not a whole number in range");
        stats["status"] = serde_json::json!({"not a status": 1});
        let err = read(&stats, |v| StatsReport::from_json(v)).unwrap_err();
        assert_eq!(err.to_string(), "field `status` is not a map of counts");
    }

    /// The config's limits and a refusal's body, as the edge writes them.
    #[test]
    fn limits_and_refusals_read_back() {
        let limits =
            Limits { allowed_hosts: vec!["shop.example".into()], allow_private_targets: true, ..Limits::default() };
        let value = serde_json::to_value(&limits).unwrap();
        assert_eq!(read(&value, |v| Limits::from_json(v)).unwrap(), limits);
        let config = serde_json::to_value(crate::wire::protocol::ConfigResponse {
            limits: limits.clone(),
            defaults: crate::wire::protocol::RunOptions::default(),
            token_required: false,
            open_access: true,
            version: "0".into(),
        })
        .unwrap();
        assert_eq!(read(&config, |v| Limits::from_config(v)).unwrap(), limits);
        let mut without = value.clone();
        without.as_object_mut().unwrap().remove("allowed_hosts");
        assert_eq!(read(&without, |v| Limits::from_json(v)).unwrap().allowed_hosts, Vec::<String>::new());
        without.as_object_mut().unwrap().remove("max_concurrency");
        assert_eq!(
            read(&without, |v| Limits::from_json(v)).unwrap_err().to_string(),
            "missing field `max_concurrency`"
        );

        let refusal = ApiError::refused("too_many_urls", "at most 1000 URLs");
        let body = serde_json::to_value(refusal.to_body()).unwrap();
        let back = read(&body, |v| ApiError::from_body(v)).unwrap();
        assert_eq!((back.kind.as_str(), back.message.as_str()), ("too_many_urls", "at most 1000 URLs"));
        let not_a_refusal = serde_json::json!({"message": "x"});
        assert_eq!(read(&not_a_refusal, |v| ApiError::from_body(v)).unwrap_err().to_string(), "missing field `error`");
    }

    /// A load test's summary with error kinds, for every stop reason, and a
    /// HEAD test's start read back unchanged.
    /// A reader without the summary's detail (the dashboard's) still gets
    /// its counts and save report, and skips the statistics and the crawl.
    #[test]
    fn a_lean_reader_skips_the_summary_detail() {
        struct Lean<'a>(&'a serde_json::Value);
        impl JsonValue for Lean<'_> {
            const DETAIL: bool = false;
            fn member(&self, key: &'static str) -> Option<Self> {
                (&self.0).member(key).map(Lean)
            }
            fn as_u64(&self) -> Option<u64> {
                (&self.0).as_u64()
            }
            fn as_f64(&self) -> Option<f64> {
                (&self.0).as_f64()
            }
            fn as_string(&self) -> Option<String> {
                (&self.0).as_string()
            }
            fn as_bool(&self) -> Option<bool> {
                (&self.0).as_bool()
            }
            fn elements(&self) -> Option<Vec<Self>> {
                self.0.as_array().map(|a| a.iter().map(Lean).collect())
            }
            fn entries(&self) -> Option<Vec<(String, Self)>> {
                self.0.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), Lean(v))).collect())
            }
        }
        let full = Summary {
            total: 3,
            done: 2,
            failed: 1,
            elapsed_ms: 9,
            stats: StatsReport { retries: 4, ..StatsReport::default() },
            saved: Some(SaveReport { run_id: "r1".into(), rows: 3, write_ms: 1, error: None }),
            crawl: Some(CrawlReport { discovered: 2, ..CrawlReport::default() }),
            ..Summary::default()
        };
        let value = serde_json::to_value(Event::Summary(Box::new(full.clone()))).unwrap();
        let Event::Summary(lean) = Event::from_json(&Lean(&value)).unwrap() else { panic!("a summary") };
        assert_eq!(*lean, Summary { stats: StatsReport::default(), crawl: None, ..full.clone() });
        let Event::Summary(all) = Event::from_json(&&value).unwrap() else { panic!("a summary") };
        assert_eq!(*all, full);
    }

    #[test]
    fn job_statuses_and_lists_read_back() {
        let status = JobStatus {
            job_id: "r1".into(),
            state: JobState::Running,
            counts: JobCounts { total: 10, pending: 3, in_flight: 2, done: 4, failed: 1, cancelled: 0 },
            created_at: 5,
            started_at: Some(6),
            finished_at: None,
            throughput: 1.5,
            kind: "crawl".into(),
            last_seq: 33,
        };
        let list = JobList { jobs: vec![status.clone()], total: 1, limit: 20, offset: 0 };
        let value = serde_json::to_value(&list).unwrap();
        assert_eq!(read(&value, |v| JobList::from_json(v)).unwrap(), list);
        let mut bad = serde_json::to_value(&status).unwrap();
        bad["state"] = "exploded".into();
        assert!(
            read(&bad, |v| JobStatus::from_json(v)).unwrap_err().to_string().contains("`state` is not a job state")
        );
    }

    #[test]
    fn wire_names_of_kinds_and_sources_read_back() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_wire(kind.as_str()), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ErrorKind::from_wire("from_the_future"), ErrorKind::Other);
        for source in [Source::JsonLd, Source::Microdata, Source::Opengraph] {
            assert_eq!(Source::from_wire(source.as_str()), Some(source));
            assert_eq!(serde_json::to_value(source).unwrap(), source.as_str());
        }
        assert_eq!(Source::from_wire("rdfa"), None);
    }
}
