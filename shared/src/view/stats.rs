//! Run statistics, computed from the event stream alone.
//!
//! The edge folds its own events into a [`Stats`] for the summary line, and the
//! browser folds the merged events of all its chunk requests into another, so
//! both sides agree by construction.
//!
//! Latencies are kept exactly (one `u64` per finished URL) rather than in an
//! HDR histogram: a run holds at most a few thousand URLs, exact percentiles
//! are then cheaper than a histogram's buckets, and nothing needs to be
//! added to the wasm bundles.

use std::collections::BTreeMap;

use crate::wire::protocol::{Event, Millis};
use crate::wire::stats::{HostReport, Percentiles, StatsReport};

/// The host part of a URL (`host[:port]`, lower-cased, default port
/// dropped), used to group per-host figures and per-host caps. Unparsable
/// URLs share the empty host.
///
/// Parsed by hand rather than with `url`: the browser bundle would otherwise
/// carry `url`'s IDNA tables (about 45 KB gzipped) just to group rows, and
/// the URLs reaching here were already validated by the edge.
pub fn host_key(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = host_port.to_ascii_lowercase();
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    match host_port.strip_suffix(default_port) {
        Some(h) if !default_port.is_empty() => h.to_owned(),
        _ => host_port,
    }
}

#[derive(Debug, Default)]
struct HostAcc {
    urls: u32,
    attempts: u32,
    done: u32,
    failed: u32,
    bytes: u64,
    latencies: Vec<u64>,
}

/// Insert `v` into the ascending `sorted`, after any equal values.
fn insert_sorted(sorted: &mut Vec<u64>, v: u64) {
    let at = sorted.partition_point(|&x| x <= v);
    sorted.insert(at, v);
}

/// Folds events into statistics.
#[derive(Debug, Default)]
pub struct Stats {
    // B-trees, not hash maps: the same code as the other maps here, and
    // no hasher in the dashboard's wasm. Indices are `u32` as in `errors`.
    host_of: BTreeMap<u32, u32>,
    hosts: Vec<(String, HostAcc)>,
    host_index: BTreeMap<String, u32>,
    latencies: Vec<u64>,
    bytes: u64,
    status: BTreeMap<u16, u32>,
    retries: u32,
    errors: BTreeMap<String, u32>,
    finished: u64,
    unchanged: u32,
    bytes_saved: u64,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    fn host_for(&mut self, id: u32, url: &str) -> usize {
        if let Some(&h) = self.host_of.get(&id) {
            return h as usize;
        }
        let key = host_key(url);
        let idx = match self.host_index.get(&key) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.hosts.len()).unwrap_or(u32::MAX);
                self.hosts.push((key.clone(), HostAcc::default()));
                self.host_index.insert(key, i);
                i
            }
        };
        self.host_of.insert(id, idx);
        self.hosts[idx as usize].1.urls += 1;
        idx as usize
    }

    /// Take one event into account.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Queued { id, url, .. } => {
                self.host_for(*id, url);
            }
            Event::Started { id, url, .. } => {
                let h = self.host_for(*id, url);
                self.hosts[h].1.attempts += 1;
            }
            Event::Retrying { .. } => self.retries += 1,
            Event::Done { id, url, status, bytes, ms, not_modified, bytes_saved, .. } => {
                if *not_modified {
                    self.unchanged += 1;
                    self.bytes_saved += bytes_saved;
                }
                let h = self.host_for(*id, url);
                let acc = &mut self.hosts[h].1;
                acc.done += 1;
                acc.bytes += bytes;
                insert_sorted(&mut acc.latencies, *ms);
                insert_sorted(&mut self.latencies, *ms);
                self.bytes += bytes;
                *self.status.entry(*status).or_default() += 1;
                self.finished += 1;
            }
            Event::Failed { id, url, error, status, .. } => {
                let h = self.host_for(*id, url);
                self.hosts[h].1.failed += 1;
                *self.errors.entry(error.kind.as_str().to_owned()).or_default() += 1;
                if let Some(s) = status {
                    *self.status.entry(*s).or_default() += 1;
                }
                self.finished += 1;
            }
            Event::Cancelled { id, url, .. } => {
                self.host_for(*id, url);
                self.finished += 1;
            }
            Event::Discovered { .. } | Event::Summary(_) | Event::SaveError { .. } | Event::Heartbeat { .. } => {}
        }
    }

    /// The statistics as of `elapsed_ms` into the run.
    pub fn report(&self, elapsed_ms: Millis) -> StatsReport {
        // By host name (the index is a B-tree), then most URLs first: the
        // sort is stable, so hosts with as many URLs stay by name. Sorting on
        // one `u64` key is the code the dashboard's table sorts with too.
        let mut hosts: Vec<HostReport> = self
            .host_index
            .values()
            .map(|&i| {
                let (host, a) = &self.hosts[i as usize];
                HostReport {
                    host: host.clone(),
                    urls: a.urls,
                    attempts: a.attempts,
                    done: a.done,
                    failed: a.failed,
                    bytes: a.bytes,
                    latency: Percentiles::of_sorted(&a.latencies),
                }
            })
            .collect();
        hosts.sort_by_cached_key(|h| u64::MAX - u64::from(h.urls));
        let rps = if elapsed_ms == 0 { 0.0 } else { self.finished as f64 * 1000.0 / elapsed_ms as f64 };
        StatsReport {
            latency: Percentiles::of_sorted(&self.latencies),
            rps: (rps * 100.0).round() / 100.0,
            bytes: self.bytes,
            status: self.status.clone(),
            retries: self.retries,
            errors: self.errors.clone(),
            hosts,
            unchanged: self.unchanged,
            bytes_saved: self.bytes_saved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::error::ErrorKind;
    use crate::wire::protocol::EventError;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (100, 50, 90, 99, 100));
        let p = Percentiles::of(&[7]);
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
        let p = Percentiles::of(&[30, 10, 20]);
        assert_eq!((p.p50, p.p90, p.max), (20, 30, 30));
    }

    /// Latencies kept sorted as they arrive give the percentiles of the
    /// unsorted samples, overall and per host.
    #[test]
    fn sorted_insertion_matches_sorting_afterwards() {
        let mut s = Stats::new();
        let mut all = Vec::new();
        let mut host0 = Vec::new();
        for id in 0..97u32 {
            let ms = u64::from((id * 37) % 23) * 10 + u64::from(id % 3);
            all.push(ms);
            if id % 2 == 0 {
                host0.push(ms);
            }
            let url = format!("http://h{}.test/{id}", id % 2);
            s.observe(&Event::Done {
                id,
                url,
                status: 200,
                bytes: 1,
                ms,
                attempts: 1,
                product: None,
                validators: None,
                not_modified: false,
                bytes_saved: 0,
                t: ms,
            });
        }
        let report = s.report(1000);
        assert_eq!(report.latency, Percentiles::of(&all));
        let h0 = report.hosts.iter().find(|h| h.host == "h0.test").expect("host h0");
        assert_eq!(h0.latency, Percentiles::of(&host0));
        assert!(all.windows(2).any(|w| w[0] > w[1]), "the samples arrive out of order");
    }

    #[test]
    fn host_keys_keep_ports() {
        assert_eq!(host_key("http://127.0.0.1:8787/demo/1"), "127.0.0.1:8787");
        assert_eq!(host_key("https://shop.example/p"), "shop.example");
        assert_eq!(host_key("https://shop.example:443/p"), "shop.example");
        assert_eq!(host_key("not a url"), "");
        assert_eq!(host_key("HTTP://User:pw@Shop.Example:80/x?y#z"), "shop.example");
        assert_eq!(host_key("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(host_key("https://a.test?q=1"), "a.test");
    }

    /// Hosts come most URLs first, and by name among equals, whatever order
    /// they were first seen in.
    #[test]
    fn hosts_are_ordered_by_urls_then_name() {
        let mut s = Stats::new();
        let hosts = ["http://c.test/", "http://b.test/", "http://a.test/", "http://b.test/x", "http://d.test/"];
        for (id, url) in (0u32..).zip(hosts) {
            s.observe(&Event::Queued { id, url: url.to_owned(), t: 0 });
        }
        let order: Vec<(String, u32)> = s.report(1).hosts.into_iter().map(|h| (h.host, h.urls)).collect();
        let want = [("b.test", 2), ("a.test", 1), ("c.test", 1), ("d.test", 1)];
        assert_eq!(order, want.map(|(h, n)| (h.to_owned(), n)));
    }

    #[test]
    fn report_folds_events() {
        let mut s = Stats::new();
        let url = |i: u32| format!("http://h{}.test/{i}", i % 2);
        for id in 0..4 {
            s.observe(&Event::Queued { id, url: url(id), t: 0 });
            s.observe(&Event::Started { id, url: url(id), attempt: 1, t: 0 });
        }
        s.observe(&Event::Retrying {
            id: 0,
            url: url(0),
            attempt: 1,
            wait_ms: 5,
            reason: "HTTP 503".into(),
            status: Some(503),
            t: 10,
        });
        s.observe(&Event::Done {
            id: 0,
            url: url(0),
            status: 200,
            bytes: 100,
            ms: 40,
            attempts: 2,
            product: None,
            validators: None,
            not_modified: false,
            bytes_saved: 0,
            t: 60,
        });
        s.observe(&Event::Done {
            id: 1,
            url: url(1),
            status: 200,
            bytes: 50,
            ms: 20,
            attempts: 1,
            product: None,
            validators: None,
            not_modified: false,
            bytes_saved: 0,
            t: 20,
        });
        s.observe(&Event::Failed {
            id: 2,
            url: url(2),
            error: EventError { kind: ErrorKind::HttpStatus, message: "HTTP 404".into() },
            attempts: 1,
            status: Some(404),
            t: 30,
        });
        s.observe(&Event::Cancelled { id: 3, url: url(3), t: 100 });
        let r = s.report(2000);
        assert_eq!(r.latency.count, 2);
        assert_eq!(r.latency.max, 40);
        assert_eq!(r.bytes, 150);
        assert_eq!(r.retries, 1);
        assert_eq!(r.status.get(&200), Some(&2));
        assert_eq!(r.status.get(&404), Some(&1));
        assert_eq!(r.errors.get("http_status"), Some(&1));
        assert!((r.rps - 2.0).abs() < 1e-9, "4 finished in 2 s");
        assert_eq!(r.hosts.len(), 2);
        let h0 = r.hosts.iter().find(|h| h.host == "h0.test").unwrap();
        assert_eq!((h0.urls, h0.attempts, h0.done, h0.failed, h0.bytes), (2, 2, 1, 1, 100));
        let json = serde_json::to_string(&r).unwrap();
        let back: StatsReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
