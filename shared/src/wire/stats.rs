//! The statistics a run's `summary` carries, as they go over the wire.
//!
//! [`crate::view::stats::Stats`] computes them from events; they live here,
//! with the contract, because the summary line is part of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Nearest-rank percentiles of a set of latencies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `samples` (any order).
    pub fn of(samples: &[u64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Self::of_sorted(&sorted)
    }

    /// Percentiles of samples already in ascending order (what
    /// [`crate::view::stats::Stats`] keeps, so that a report sorts nothing: a sort of `u64`s is 1.6 KB
    /// gzip of the dashboard's wasm of its own).
    pub fn of_sorted(sorted: &[u64]) -> Self {
        if sorted.is_empty() {
            return Self::default();
        }
        let rank = |p: u64| {
            // Nearest rank: the smallest value with at least p% of samples at or below it.
            let n = sorted.len() as u64;
            let idx = (p * n).div_ceil(100).max(1) - 1;
            sorted[usize::try_from(idx).unwrap_or(0).min(sorted.len() - 1)]
        };
        Self {
            count: sorted.len() as u64,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: *sorted.last().unwrap_or(&0),
        }
    }
}

/// Figures for one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostReport {
    /// `host[:port]`.
    pub host: String,
    /// URLs for this host.
    pub urls: u32,
    /// Attempts started.
    pub attempts: u32,
    /// URLs done.
    pub done: u32,
    /// URLs failed.
    pub failed: u32,
    /// Body bytes of done URLs.
    pub bytes: u64,
    /// Latency of done URLs.
    pub latency: Percentiles,
}

/// A snapshot of a run's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatsReport {
    /// Latency of done URLs' final attempts.
    pub latency: Percentiles,
    /// Finished URLs (done, failed or cancelled) per second of run time.
    pub rps: f64,
    /// Body bytes of done URLs.
    pub bytes: u64,
    /// Final statuses of done URLs and status failures, by code.
    #[serde(deserialize_with = "status_codes")]
    pub status: BTreeMap<u16, u32>,
    /// Retries scheduled.
    pub retries: u32,
    /// Failures by kind.
    pub errors: BTreeMap<String, u32>,
    /// Per-host figures, busiest first.
    pub hosts: Vec<HostReport>,
    /// Done URLs that answered `304 Not Modified` to a revalidation.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unchanged: u32,
    /// Body bytes those did not download (their last full answers' sizes).
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub bytes_saved: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero64(n: &u64) -> bool {
    *n == 0
}

/// The status histogram's keys are JSON strings (`"200"`). serde reads the
/// `summary` event, an internally tagged enum variant, through a buffer in
/// which string keys no longer parse as numbers, so the keys are read as
/// strings and parsed here; without this no `summary` line would decode.
fn status_codes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u32>, D::Error> {
    BTreeMap::<String, u32>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| k.parse::<u16>().map(|k| (k, v)).map_err(serde::de::Error::custom))
        .collect()
}
