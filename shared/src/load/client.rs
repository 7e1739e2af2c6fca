//! The browser's side of a load test, kept here so it is tested natively:
//! the form as a shareable query string, splitting a test bigger than one edge
//! request allows over several requests, and merging their snapshots back into
//! one set of counts, one histogram and one requests-per-second series.

use std::collections::BTreeMap;

use crate::load::engine::Latency;
use crate::load::protocol::{
    DEFAULT_LOAD_CONCURRENCY, DEFAULT_LOAD_REQUESTS, LoadCounts, LoadEvent, LoadMethod, LoadRequest, StopReason,
};
use crate::wire::config::{DEFAULT_TIMEOUT_MS, Limits, split_concurrency};

/// The load-test form, as it lives in the page URL's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadForm {
    /// Target URL.
    pub url: String,
    /// GET or HEAD.
    pub method: LoadMethod,
    /// Request count (count mode).
    pub requests: u64,
    /// Duration mode when set.
    pub duration_ms: Option<u64>,
    /// Total concurrency over all edge requests.
    pub concurrency: u64,
    /// Per-request deadline.
    pub timeout_ms: u64,
}

impl LoadForm {
    /// The form's defaults, loading `url`.
    pub fn with_url(url: String) -> Self {
        Self {
            url,
            method: LoadMethod::Get,
            requests: DEFAULT_LOAD_REQUESTS,
            duration_ms: None,
            concurrency: u64::from(DEFAULT_LOAD_CONCURRENCY),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// The query string, without `?` (it starts with `mode=load`).
    pub fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("mode", "load");
        q.append_pair("url", &self.url);
        q.append_pair("method", self.method.as_str());
        match self.duration_ms {
            Some(d) => q.append_pair("dur", &d.to_string()),
            None => q.append_pair("n", &self.requests.to_string()),
        };
        q.append_pair("c", &self.concurrency.to_string());
        q.append_pair("t", &self.timeout_ms.to_string());
        q.finish()
    }

    /// Apply a query string over `defaults`; unknown keys and bad values are ignored.
    pub fn from_query(query: &str, defaults: &Self) -> Self {
        let mut f = defaults.clone();
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let num = v.trim().parse::<u64>().ok();
            match (k.as_ref(), num) {
                ("url", _) if !v.trim().is_empty() => f.url = v.trim().to_owned(),
                ("method", _) if v.eq_ignore_ascii_case("head") => f.method = LoadMethod::Head,
                ("method", _) if v.eq_ignore_ascii_case("get") => f.method = LoadMethod::Get,
                ("n", Some(n)) => (f.requests, f.duration_ms) = (n, None),
                ("dur", Some(d)) => f.duration_ms = Some(d),
                ("c", Some(n)) => f.concurrency = n,
                ("t", Some(n)) => f.timeout_ms = n,
                _ => {}
            }
        }
        f
    }

    /// Check the form against the edge's limits before anything is sent,
    /// with the URL check supplied by the caller (the browser passes its own
    /// URL parser, so the bundle carries no second one; natively it is
    /// [`crate::input::target::check_url`]). Tests bigger than one edge request
    /// are fine (they are split); only the per-request parts of the limits
    /// apply directly.
    pub fn check(&self, limits: &Limits, check_url: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
        check_url(self.url.trim()).map_err(|e| format!("the target is not a URL Fanout can load: {e}"))?;
        if self.concurrency == 0 || self.concurrency > MAX_BROWSER_LOAD_CONCURRENCY {
            return Err(format!("concurrency must be between 1 and {MAX_BROWSER_LOAD_CONCURRENCY}"));
        }
        match self.duration_ms {
            Some(0) => return Err("the duration must be at least 1 ms".into()),
            Some(d) if d > MAX_BROWSER_LOAD_MS => {
                return Err(format!("the duration must be at most {} s", MAX_BROWSER_LOAD_MS / 1000));
            }
            None if self.requests == 0 => return Err("send at least one request".into()),
            None if self.requests > MAX_BROWSER_LOAD_REQUESTS => {
                return Err(format!("at most {MAX_BROWSER_LOAD_REQUESTS} requests in one test"));
            }
            _ => {}
        }
        if self.timeout_ms == 0 || self.timeout_ms > limits.max_timeout_ms {
            return Err(format!("the timeout must be between 1 and {} ms", limits.max_timeout_ms));
        }
        Ok(())
    }
}

/// Most requests one browser test sends (over however many edge requests).
pub const MAX_BROWSER_LOAD_REQUESTS: u64 = 1_000_000;
/// Longest browser test.
pub const MAX_BROWSER_LOAD_MS: u64 = 10 * 60 * 1000;
/// Most concurrency one browser test spreads over its edge requests. A
/// browser keeps about six connections per host open over HTTP/1.1, so more
/// parallel edge requests than that would queue inside the browser.
pub const MAX_BROWSER_LOAD_CONCURRENCY: u64 = 600;

/// One parallel lane of a browser test: a share of the concurrency and, in
/// count mode, of the requests. A lane runs one edge request at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// In-flight cap of this lane's edge requests.
    pub concurrency: u32,
    /// Requests this lane sends in all (count mode).
    pub requests: Option<u64>,
}

/// Split a test over lanes, so that no edge request exceeds the deployment's
/// concurrency limit and the lanes together keep `concurrency` in flight.
pub fn split_load(requests: Option<u64>, concurrency: u64, limits: &Limits) -> Vec<Lane> {
    let max = u64::from(limits.max_load_concurrency.max(1));
    // More concurrency than requests would leave lanes idle.
    let c = requests.map_or(concurrency, |n| concurrency.min(n)).max(1);
    let c = u32::try_from(c).unwrap_or(u32::MAX);
    let lanes = u32::try_from(u64::from(c).div_ceil(max)).unwrap_or(u32::MAX);
    let shares = split_concurrency(c, lanes);
    let total = u64::from(c);
    let mut given = 0u64;
    shares
        .iter()
        .enumerate()
        .map(|(k, &share)| {
            let requests = requests.map(|n| {
                // Proportional to the share; the last lane takes the rest.
                let q = if k + 1 == shares.len() { n - given } else { n * u64::from(share) / total };
                given += q;
                q
            });
            Lane { concurrency: share, requests }
        })
        .collect()
}

/// The next edge request of a lane with `requests_left` (count mode) or
/// `time_left_ms` (duration mode) to go, or `None` when the lane is done.
pub fn next_segment(
    form: &LoadForm,
    lane: &Lane,
    requests_left: Option<u64>,
    time_left_ms: Option<u64>,
    limits: &Limits,
) -> Option<LoadRequest> {
    let base = LoadRequest {
        url: form.url.trim().to_owned(),
        method: Some(form.method),
        requests: None,
        duration_ms: None,
        concurrency: Some(lane.concurrency),
        timeout_ms: Some(form.timeout_ms),
        fan_out: None,
    };
    match (requests_left, time_left_ms) {
        (Some(0), _) | (_, Some(0)) => None,
        (Some(n), _) => {
            let n = n.min(limits.max_load_requests.max(1));
            Some(LoadRequest { requests: Some(n), concurrency: Some(lane.concurrency.min(clamp_u32(n))), ..base })
        }
        (None, Some(ms)) => Some(LoadRequest { duration_ms: Some(ms.min(limits.max_load_duration_ms.max(1))), ..base }),
        (None, None) => None,
    }
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One bar of the latency chart: latencies in `[lo_us, hi_us)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// Lower edge.
    pub lo_us: u64,
    /// Upper edge.
    pub hi_us: u64,
    /// Latencies in the bin.
    pub count: u64,
}

/// Snapshots of several edge requests merged into one test.
#[derive(Debug, Default)]
pub struct LoadMerge {
    /// Counts of finished (or broken off) segments.
    base: LoadCounts,
    /// Latest counts of each running segment.
    live: BTreeMap<u32, (LoadCounts, u32)>,
    hist: Latency,
    /// (browser ms since the start, completed so far), one per snapshot.
    series: Vec<(u64, u64)>,
    stops: Vec<StopReason>,
    segments: u32,
}

impl LoadMerge {
    /// Fold one event of segment `key`, received `t_ms` after the test started.
    pub fn on_event(&mut self, key: u32, ev: &LoadEvent, t_ms: u64) {
        match ev {
            LoadEvent::LoadStarted { .. } => self.segments += 1,
            LoadEvent::Snapshot(s) => {
                self.live.insert(key, (s.counts.clone(), s.in_flight));
                self.hist.add_buckets(&s.delta);
                let completed = self.counts().completed;
                self.series.push((t_ms, completed));
            }
            LoadEvent::LoadSummary(s) => {
                // The snapshot just before the summary carried the last delta.
                self.live.remove(&key);
                self.base.add(&s.counts);
                if let Some(r) = s.stopped {
                    self.stops.push(r);
                }
            }
        }
    }

    /// Segment `key` broke off (cancelled or the connection failed): keep
    /// what its last snapshot measured, and count its in-flight requests as
    /// aborted.
    pub fn segment_broken(&mut self, key: u32) {
        if let Some((mut counts, in_flight)) = self.live.remove(&key) {
            counts.aborted += u64::from(in_flight);
            self.base.add(&counts);
        }
    }

    /// Counts over every segment so far.
    pub fn counts(&self) -> LoadCounts {
        let mut c = self.base.clone();
        for (counts, _) in self.live.values() {
            c.add(counts);
        }
        c
    }

    /// Requests in flight, as last reported.
    pub fn in_flight(&self) -> u32 {
        self.live.values().map(|(_, n)| n).sum()
    }

    /// Edge requests started.
    pub fn segments(&self) -> u32 {
        self.segments
    }

    /// Why segments stopped, in order.
    pub fn stops(&self) -> &[StopReason] {
        &self.stops
    }

    /// The merged latency histogram.
    pub fn latency(&self) -> &Latency {
        &self.hist
    }

    /// Requests per second in consecutive `bin_ms` windows, as
    /// `(window end ms, rps)`. A window's count is read off the last
    /// snapshot at or before its end.
    pub fn rps_series(&self, bin_ms: u64) -> Vec<(u64, f64)> {
        let bin_ms = bin_ms.max(1);
        let Some(&(last_t, _)) = self.series.last() else { return Vec::new() };
        let mut out = Vec::new();
        let (mut i, mut prev, mut current) = (0usize, 0u64, 0u64);
        let mut end = bin_ms;
        while end < last_t + bin_ms {
            while i < self.series.len() && self.series[i].0 <= end {
                current = self.series[i].1;
                i += 1;
            }
            out.push((end, (current - prev) as f64 * 1000.0 / bin_ms as f64));
            prev = current;
            end += bin_ms;
        }
        out
    }

    /// The histogram in `n` bars on a logarithmic latency axis, from the
    /// fastest to the slowest recorded latency.
    pub fn bins(&self, n: usize) -> Vec<Bin> {
        let buckets = self.hist.buckets();
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else { return Vec::new() };
        let (lo, hi) = (first[0].max(1) as f64, (last[0] + 1) as f64);
        let n = if hi / lo < 1.01 { 1 } else { n.max(1) };
        let ratio = (hi / lo).powf(1.0 / n as f64);
        let mut bins: Vec<Bin> = (0..n)
            .map(|k| Bin {
                lo_us: (lo * ratio.powi(k as i32)).floor() as u64,
                hi_us: (lo * ratio.powi(k as i32 + 1)).ceil() as u64,
                count: 0,
            })
            .collect();
        for &[v, c] in &buckets {
            let k = if v as f64 <= lo { 0 } else { ((v as f64 / lo).ln() / ratio.ln()).floor() as usize };
            bins[k.min(n - 1)].count += c;
        }
        bins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native_check(u: &str) -> Result<(), String> {
        crate::input::target::check_url(u).map(|_| ()).map_err(|e| e.to_string())
    }
    use crate::load::protocol::{LoadSnapshot, LoadSummary};

    fn limits() -> Limits {
        Limits {
            max_load_concurrency: 100,
            max_load_requests: 1_000,
            max_load_duration_ms: 30_000,
            ..Limits::default()
        }
    }

    #[test]
    fn the_form_round_trips_through_a_link() {
        let f = LoadForm {
            url: "http://a.test/x?y=1&z=2".into(),
            method: LoadMethod::Head,
            requests: 10,
            duration_ms: Some(5_000),
            concurrency: 30,
            timeout_ms: 900,
        };
        let q = f.to_query();
        assert!(q.starts_with("mode=load&"));
        let back = LoadForm::from_query(&format!("?{q}"), &LoadForm::with_url("http://d.test/".into()));
        assert_eq!(back, LoadForm { requests: DEFAULT_LOAD_REQUESTS, ..f.clone() });
        let count = LoadForm { duration_ms: None, ..f };
        assert_eq!(LoadForm::from_query(&count.to_query(), &LoadForm::with_url("x".into())), count);
        let junk = LoadForm::from_query("c=abc&method=POST&zz=1", &LoadForm::with_url("http://d.test/".into()));
        assert_eq!(junk, LoadForm::with_url("http://d.test/".into()));
    }

    #[test]
    fn the_form_is_checked_before_sending() {
        let ok = LoadForm::with_url("http://a.test/".into());
        assert!(ok.check(&limits(), native_check).is_ok());
        for bad in [
            LoadForm { url: "a.test".into(), ..ok.clone() },
            LoadForm { url: "ftp://a.test/".into(), ..ok.clone() },
            LoadForm { concurrency: 0, ..ok.clone() },
            LoadForm { requests: 0, ..ok.clone() },
            LoadForm { duration_ms: Some(0), ..ok.clone() },
            LoadForm { timeout_ms: 10_000_000, ..ok.clone() },
        ] {
            assert!(bad.check(&limits(), native_check).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn big_tests_are_split_within_the_limits() {
        let lanes = split_load(Some(5_000), 250, &limits());
        assert_eq!(lanes.len(), 3);
        assert_eq!(lanes.iter().map(|l| l.concurrency).sum::<u32>(), 250);
        assert!(lanes.iter().all(|l| l.concurrency <= 100));
        assert_eq!(lanes.iter().map(|l| l.requests.unwrap()).sum::<u64>(), 5_000);
        // Fewer requests than concurrency: no idle lanes.
        assert_eq!(split_load(Some(3), 250, &limits()), vec![Lane { concurrency: 3, requests: Some(3) }]);
        assert_eq!(split_load(None, 20, &limits()), vec![Lane { concurrency: 20, requests: None }]);

        let form = LoadForm::with_url("http://a.test/".into());
        let lane = lanes[0];
        let seg = next_segment(&form, &lane, Some(1_700), None, &limits()).unwrap();
        assert_eq!((seg.requests, seg.duration_ms), (Some(1_000), None));
        let seg = next_segment(&form, &lane, Some(5), None, &limits()).unwrap();
        assert_eq!((seg.requests, seg.concurrency), (Some(5), Some(5)));
        assert!(next_segment(&form, &lane, Some(0), None, &limits()).is_none());
        let seg = next_segment(&form, &lane, None, Some(45_000), &limits()).unwrap();
        assert_eq!((seg.requests, seg.duration_ms), (None, Some(30_000)));
        assert!(next_segment(&form, &lane, None, Some(0), &limits()).is_none());
    }

    fn snapshot(completed: u64, in_flight: u32, delta: &[[u64; 2]]) -> LoadEvent {
        let mut counts = LoadCounts { completed, ok: completed, ..LoadCounts::default() };
        counts.statuses.insert("200".into(), completed);
        LoadEvent::Snapshot(LoadSnapshot { counts, in_flight, delta: delta.to_vec(), ..LoadSnapshot::default() })
    }

    #[test]
    fn segments_merge_into_one_test() {
        let mut m = LoadMerge::default();
        m.on_event(0, &snapshot(10, 5, &[[1_000, 10]]), 250);
        m.on_event(1, &snapshot(4, 5, &[[3_000, 4]]), 260);
        assert_eq!((m.counts().completed, m.in_flight()), (14, 10));
        m.on_event(0, &snapshot(20, 0, &[[1_000, 10]]), 500);
        let mut summary = LoadSummary { stopped: Some(StopReason::Count), ..LoadSummary::default() };
        summary.counts = LoadCounts { completed: 20, ok: 20, ..LoadCounts::default() };
        summary.counts.statuses.insert("200".into(), 20);
        m.on_event(0, &LoadEvent::LoadSummary(summary), 501);
        assert_eq!(m.counts().completed, 24);
        assert_eq!(m.counts().statuses.get("200"), Some(&24));
        // Segment 1 is cut off: its measured part stays, in flight is aborted.
        m.segment_broken(1);
        let c = m.counts();
        assert_eq!((c.completed, c.aborted, m.in_flight()), (24, 5, 0));
        assert_eq!(m.latency().count(), 24);
        assert_eq!(m.stops(), &[StopReason::Count]);
        // Series: 14 by 260 ms, 24 by 500 ms.
        assert_eq!(m.rps_series(250), vec![(250, 40.0), (500, 56.0)]);
    }

    #[test]
    fn bins_cover_the_histogram() {
        let mut m = LoadMerge::default();
        m.on_event(0, &snapshot(0, 0, &[[1_000, 5], [2_000, 7], [50_000, 1], [900_000, 2]]), 10);
        let bins = m.bins(10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 15);
        assert_eq!(bins[0].count, 5);
        assert_eq!(bins[9].count, 2);
        assert!(bins.windows(2).all(|w| w[0].hi_us >= w[1].lo_us && w[0].lo_us < w[1].lo_us));
        let mut one = LoadMerge::default();
        one.on_event(0, &snapshot(0, 0, &[[20_015, 9]]), 10);
        assert_eq!(one.bins(10), vec![Bin { lo_us: 20_015, hi_us: 20_016, count: 9 }]);
    }
}
