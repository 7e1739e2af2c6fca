//! Run history: the row a finished URL leaves behind, and the diff between two
//! runs over the URLs they share. The edge stores these rows in D1; the
//! comparison itself is here, so it is tested natively.

pub mod decimal;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::history::decimal::{format_decimal, parse_decimal};
use crate::view::stats::Stats;
use crate::view::task::TaskView;
use crate::wire::error::ErrorKind;
use crate::wire::protocol::Prior;
use crate::wire::protocol::{Event, EventError, Field, Millis, Price, Product, Source, Validators};
use crate::wire::stats::StatsReport;

/// What is kept of one URL of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SavedResult {
    /// The URL.
    pub url: String,
    /// `done`, `failed` or `cancelled`.
    pub outcome: String,
    /// Final HTTP status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Attempts made.
    pub attempts: u32,
    /// Latency of the final attempt (done only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// Body bytes.
    pub bytes: u64,
    /// Error kind (failed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Extracted product fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<SavedProduct>,
    /// The answer's `ETag` (done only, when it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The answer's `Last-Modified` (done only, when it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// It answered `304` to a revalidation: unchanged, `product` carried
    /// forward from the answer before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_modified: bool,
    /// With `not_modified`: the body bytes not downloaded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_saved: u64,
    /// The URL's events as they streamed, so a reopened run shows the same
    /// table, waterfall and statistics. Absent on rows saved without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// One URL's events (attempt starts, retries, the outcome), with event times
/// relative to `t0`, the Unix ms at which its chunk request started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Timeline {
    /// Unix ms of the chunk's start: the zero of the events' `t`.
    pub t0: u64,
    /// The events, in the order they streamed.
    pub events: Vec<Event>,
}

/// The product fields a diff looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SavedProduct {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Normalised decimal price (`"129.90"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// ISO 4217 currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Normalised availability (`in_stock`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
    /// SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SavedProduct {
    /// As a product whose every field is marked [`Source::Saved`]: what an
    /// unchanged page is carried forward with.
    pub fn to_product(&self) -> Product {
        let saved = |v: &Option<String>| v.clone().map(|value| Field { value, source: Source::Saved });
        Product {
            name: saved(&self.name),
            price: self.price.clone().map(|amount| Field {
                value: Price { raw: amount.clone(), amount: Some(amount), ..Price::default() },
                source: Source::Saved,
            }),
            currency: saved(&self.currency),
            availability: saved(&self.availability),
            sku: saved(&self.sku),
            ..Product::default()
        }
    }
}

impl SavedResult {
    /// What a revalidation of this URL sends and carries forward: `None`
    /// unless it ended done with a validator.
    pub fn prior(&self) -> Option<Prior> {
        if !self.ok() || (self.etag.is_none() && self.last_modified.is_none()) {
            return None;
        }
        Some(Prior {
            validators: Validators { etag: self.etag.clone(), last_modified: self.last_modified.clone() },
            product: self.product.as_ref().map(SavedProduct::to_product),
            // A 304's own row downloaded nothing; the page's size is what
            // the answer it stood for had.
            size: self.bytes + self.bytes_saved,
        })
    }

    /// The row for a URL's final event; `None` for other events.
    pub fn from_event(ev: &Event) -> Option<Self> {
        match ev {
            Event::Done {
                url, status, bytes, ms, attempts, product, validators, not_modified, bytes_saved, ..
            } => Some(Self {
                url: url.clone(),
                outcome: "done".into(),
                status: Some(*status),
                attempts: *attempts,
                ms: Some(*ms),
                bytes: *bytes,
                error_kind: None,
                product: product.as_ref().map(|p| SavedProduct {
                    name: p.name.as_ref().map(|f| f.value.clone()),
                    price: p.price.as_ref().and_then(|f| f.value.amount.clone()),
                    currency: p.currency.as_ref().map(|f| f.value.clone()),
                    availability: p.availability.as_ref().map(|f| f.value.clone()),
                    sku: p.sku.as_ref().map(|f| f.value.clone()),
                }),
                etag: validators.as_ref().and_then(|v| v.etag.clone()),
                last_modified: validators.as_ref().and_then(|v| v.last_modified.clone()),
                not_modified: *not_modified,
                bytes_saved: *bytes_saved,
                timeline: None,
            }),
            Event::Failed { url, error, attempts, status, .. } => Some(Self {
                url: url.clone(),
                outcome: "failed".into(),
                status: *status,
                attempts: *attempts,
                error_kind: Some(error.kind.as_str().to_owned()),
                ..Self::default()
            }),
            Event::Cancelled { url, .. } => {
                Some(Self { url: url.clone(), outcome: "cancelled".into(), ..Self::default() })
            }
            _ => None,
        }
    }

    fn ok(&self) -> bool {
        self.outcome == "done"
    }

    /// The URL's events for a replay: the saved timeline, or, for a row
    /// saved without one, its outcome alone at time 0.
    fn events(&self) -> (u64, Vec<Event>) {
        if let Some(t) = &self.timeline {
            return (t.t0, t.events.clone());
        }
        let (id, url, t) = (0, self.url.clone(), 0);
        let last = match self.outcome.as_str() {
            "done" => Event::Done {
                id,
                url,
                status: self.status.unwrap_or(0),
                bytes: self.bytes,
                ms: self.ms.unwrap_or(0),
                attempts: self.attempts,
                product: None,
                validators: None,
                not_modified: self.not_modified,
                bytes_saved: self.bytes_saved,
                t,
            },
            "failed" => {
                let kind = self.error_kind.as_deref().unwrap_or("other");
                Event::Failed {
                    id,
                    url,
                    error: EventError {
                        kind: serde_json::from_value(serde_json::Value::from(kind)).unwrap_or(ErrorKind::Other),
                        message: format!("{kind} (no details were saved for this run)"),
                    },
                    attempts: self.attempts,
                    status: self.status,
                    t,
                }
            }
            _ => Event::Cancelled { id, url, t },
        };
        (0, vec![last])
    }
}

/// Collects each URL's events while a chunk streams and hands back the
/// [`SavedResult`] with its [`Timeline`] when the URL ends. It holds only
/// the URLs that have started and not ended, so its memory follows the
/// concurrency, not the run's size.
#[derive(Debug, Default)]
pub struct Recorder {
    t0: u64,
    open: HashMap<u32, Vec<Event>>,
}

impl Recorder {
    /// A recorder for a chunk that started at Unix ms `t0`.
    pub fn new(t0: u64) -> Self {
        Self { t0, open: HashMap::new() }
    }

    /// Take in one event; returns the row to save when the event ends its URL.
    pub fn observe(&mut self, ev: &Event) -> Option<SavedResult> {
        let id = ev.id()?;
        match ev {
            Event::Started { .. } | Event::Retrying { .. } => {
                self.open.entry(id).or_default().push(ev.clone());
                None
            }
            _ if ev.is_terminal() => {
                let mut row = SavedResult::from_event(ev)?;
                let mut events = self.open.remove(&id).unwrap_or_default();
                events.push(ev.clone());
                row.timeline = Some(Timeline { t0: self.t0, events });
                Some(row)
            }
            _ => None,
        }
    }

    /// URLs started and not yet ended.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}

/// A saved run rebuilt as the dashboard shows a live one: one [`TaskView`]
/// per result (in order, ids from 0) on the run's time axis, whose zero is
/// `created_at` (Unix ms), and the statistics over `duration_ms`.
pub fn replay(created_at: u64, duration_ms: Millis, results: &[SavedResult]) -> (Vec<TaskView>, StatsReport) {
    let mut stats = Stats::new();
    let views = results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            let mut view = TaskView::new(id, r.url.clone());
            let (t0, events) = r.events();
            let offset = if t0 == 0 { 0 } else { t0.saturating_sub(created_at) };
            for ev in events {
                let ev = ev.with_id(id);
                view.apply(&ev, offset);
                stats.observe(&ev);
            }
            view
        })
        .collect();
    (views, stats.report(duration_ms))
}

/// One saved run, as listed by `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// When its first chunk was saved (Unix ms).
    pub created_at: u64,
    /// When its last chunk was saved (Unix ms).
    pub updated_at: u64,
    /// URLs saved.
    pub total: u32,
    /// URLs done.
    pub done: u32,
    /// URLs failed.
    pub failed: u32,
    /// URLs cancelled.
    pub cancelled: u32,
    /// Chunk requests that made up the run.
    pub chunks: u32,
    /// Wall-clock time from the first chunk's start to the last chunk's end.
    pub duration_ms: u64,
    /// The options of the run's (first) request, as JSON.
    pub options: String,
}

impl RunRecord {
    /// Share of URLs done, 0..=1.
    pub fn success_rate(&self) -> f64 {
        if self.total == 0 { 0.0 } else { f64::from(self.done) / f64::from(self.total) }
    }
}

/// One point of a URL's price history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PricePoint {
    /// The run.
    pub run_id: String,
    /// When the run was saved (Unix ms).
    pub at: u64,
    /// `done`, `failed` or `cancelled`.
    pub outcome: String,
    /// Price then, if one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Currency then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Availability then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
}

/// Column names of [`results_csv`].
pub const RESULTS_CSV_HEADER: &str = "url,outcome,status,attempts,latency_ms,bytes,error_kind,name,price,currency,availability,sku,unchanged,bytes_saved";

/// A saved run's results as CSV, one row per URL.
pub fn results_csv(rows: &[SavedResult]) -> String {
    use crate::view::report::csv_field;
    let opt = |v: Option<String>| v.map(|s| csv_field(&s)).unwrap_or_default();
    let mut out = String::from(RESULTS_CSV_HEADER);
    out.push('\n');
    for r in rows {
        let p = r.product.clone().unwrap_or_default();
        let cells = [
            csv_field(&r.url),
            csv_field(&r.outcome),
            r.status.map(|s| s.to_string()).unwrap_or_default(),
            r.attempts.to_string(),
            r.ms.map(|s| s.to_string()).unwrap_or_default(),
            r.bytes.to_string(),
            opt(r.error_kind.clone()),
            opt(p.name),
            opt(p.price),
            opt(p.currency),
            opt(p.availability),
            opt(p.sku),
            if r.not_modified { "unchanged" } else { "" }.to_owned(),
            r.bytes_saved.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A price that moved between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PriceChange {
    /// The URL.
    pub url: String,
    /// Product name (from the newer run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Currency (from the newer run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Earlier price.
    pub old: String,
    /// Later price.
    pub new: String,
    /// `new - old`, as a decimal string with the wider of the two scales.
    pub change: String,
    /// The change in percent of the earlier price, rounded to 0.01.
    pub percent: f64,
}

/// An availability that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AvailabilityChange {
    /// The URL.
    pub url: String,
    /// Earlier availability (`None`: not stated).
    pub old: Option<String>,
    /// Later availability.
    pub new: Option<String>,
}

/// What changed from one run to another, over the URLs they share.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunDiff {
    /// URLs in both runs.
    pub shared: u32,
    /// Prices that moved (drops and rises).
    pub price_changes: Vec<PriceChange>,
    /// Availability that changed.
    pub availability_changes: Vec<AvailabilityChange>,
    /// URLs whose page has product data now and had none before.
    pub appeared: Vec<String>,
    /// URLs whose page had product data and has none now.
    pub disappeared: Vec<String>,
    /// URLs that were fetched before and fail now.
    pub newly_failing: Vec<String>,
    /// URLs that failed before and are fetched now.
    pub recovered: Vec<String>,
}

/// Compare run `old` with run `new` over the URLs they share.
pub fn diff(old: &[SavedResult], new: &[SavedResult]) -> RunDiff {
    let before: HashMap<&str, &SavedResult> = old.iter().map(|r| (r.url.as_str(), r)).collect();
    let mut d = RunDiff::default();
    for n in new {
        let Some(o) = before.get(n.url.as_str()) else { continue };
        d.shared += 1;
        match (o.ok(), n.ok()) {
            (true, false) => d.newly_failing.push(n.url.clone()),
            (false, true) => d.recovered.push(n.url.clone()),
            _ => {}
        }
        // Product comparisons need both fetches to have worked: a failed
        // fetch says nothing about the product.
        if !(o.ok() && n.ok()) {
            continue;
        }
        match (&o.product, &n.product) {
            (None, Some(_)) => d.appeared.push(n.url.clone()),
            (Some(_), None) => d.disappeared.push(n.url.clone()),
            (Some(op), Some(np)) => {
                if let (Some(a), Some(b)) = (&op.price, &np.price)
                    && let (Some((av, ascale)), Some((bv, bscale))) = (parse_decimal(a), parse_decimal(b))
                    && av != bv
                {
                    let percent = if av == 0 { 0.0 } else { ((bv - av) as f64 * 10_000.0 / av as f64).round() / 100.0 };
                    d.price_changes.push(PriceChange {
                        url: n.url.clone(),
                        name: np.name.clone(),
                        currency: np.currency.clone(),
                        old: a.clone(),
                        new: b.clone(),
                        change: format_decimal(bv - av, ascale.max(bscale)),
                        percent,
                    });
                }
                if op.availability != np.availability {
                    d.availability_changes.push(AvailabilityChange {
                        url: n.url.clone(),
                        old: op.availability.clone(),
                        new: np.availability.clone(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::Validators;

    fn done(url: &str, price: Option<&str>, avail: Option<&str>) -> SavedResult {
        SavedResult {
            url: url.into(),
            outcome: "done".into(),
            status: Some(200),
            attempts: 1,
            ms: Some(10),
            bytes: 100,
            error_kind: None,
            product: Some(SavedProduct {
                name: Some(format!("name of {url}")),
                price: price.map(Into::into),
                currency: Some("EUR".into()),
                availability: avail.map(Into::into),
                sku: None,
            }),
            etag: None,
            last_modified: None,
            not_modified: false,
            bytes_saved: 0,
            timeline: None,
        }
    }

    fn failed(url: &str) -> SavedResult {
        SavedResult {
            url: url.into(),
            outcome: "failed".into(),
            error_kind: Some("timeout".into()),
            ..Default::default()
        }
    }

    /// A simulated run with retries, failures and successes, split as if it
    /// were two chunk requests started 500 ms apart.
    fn simulated() -> Vec<Event> {
        use crate::engine::retry::tests::MaxRng;
        use crate::engine::sim::{Script, jobs, simulate};
        use crate::wire::error::FetchError;
        use crate::wire::protocol::RunOptions;
        let opts = RunOptions {
            concurrency: 3,
            per_host: 3,
            timeout_ms: 10_000,
            max_attempts: 3,
            base_ms: 100,
            max_ms: 1000,
            extract: false,
            deadline_ms: 1_000_000,
            per_host_interval_ms: 0,
            revalidate: false,
        };
        simulate(
            jobs(8, 2),
            opts,
            Box::new(MaxRng),
            |id, attempt| match (id % 4, attempt) {
                (0, _) => Script::ok(40 + u64::from(id)),
                (1, 1) => Script::status(30, 503),
                (1, _) => Script::ok(20),
                (2, _) => Script::status(10, 404),
                _ => Script::Error { after: 25, error: FetchError::Network("reset".into()) },
            },
            None,
        )
        .events
    }

    #[test]
    fn a_replayed_run_shows_what_the_live_one_showed() {
        let events = simulated();
        // What the dashboard folded live.
        let mut live: Vec<TaskView> =
            (0..8).map(|i| TaskView::new(i, format!("http://h{}.test/p/{i}", i % 2))).collect();
        let mut live_stats = Stats::new();
        for ev in &events {
            if let Some(id) = ev.id() {
                live[id as usize].apply(ev, 0);
            }
            live_stats.observe(ev);
        }
        // What the edge saved, in the order URLs ended.
        let mut rec = Recorder::new(1_000_000);
        let saved: Vec<SavedResult> = events.iter().filter_map(|ev| rec.observe(ev)).collect();
        assert_eq!(saved.len(), 8);
        assert_eq!(rec.open(), 0, "every URL that ended left the recorder");
        // Reopened in URL order (as the rows come back from D1, sorted here).
        let mut by_url = saved.clone();
        by_url.sort_by_key(|r| r.url.rsplit('/').next().and_then(|n| n.parse::<u32>().ok()));
        let elapsed = match events.last() {
            Some(Event::Summary(s)) => s.elapsed_ms,
            _ => panic!("no summary"),
        };
        let (views, stats) = replay(1_000_000, elapsed, &by_url);
        assert_eq!(views, live);
        assert_eq!(stats, live_stats.report(elapsed));
        assert!(stats.retries >= 2 && !stats.errors.is_empty(), "the run has retries and failures: {stats:?}");
        // A later chunk's URLs sit later on the run's axis.
        let mut later = by_url[1].clone();
        later.timeline.as_mut().unwrap().t0 += 500;
        let (shifted, _) = replay(1_000_000, elapsed, &[later]);
        let starts = |v: &TaskView| v.spans.iter().map(|s| s.start).collect::<Vec<_>>();
        assert_eq!(starts(&shifted[0]), starts(&live[1]).iter().map(|t| t + 500).collect::<Vec<_>>());
        assert_eq!(shifted[0].spans.len(), 2, "the 503 and the retry that worked");
    }

    #[test]
    fn rows_saved_without_a_timeline_replay_as_their_outcome() {
        let old = vec![
            done("a", Some("1.00"), None),
            failed("b"),
            SavedResult { outcome: "cancelled".into(), ..failed("c") },
        ];
        let (views, stats) = replay(5, 1000, &old);
        let states: Vec<_> = views.iter().map(|v| v.state).collect();
        use crate::view::task::TaskState;
        assert_eq!(states, vec![TaskState::Done, TaskState::Failed, TaskState::Cancelled]);
        assert_eq!(views[1].error.as_ref().map(|e| e.0), Some(ErrorKind::Timeout));
        assert!(views.iter().all(|v| v.spans.is_empty()));
        assert_eq!((stats.latency.count, stats.errors.get("timeout").copied()), (1, Some(1)));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("129.90"), Some((129_900_000, 2)));
        assert_eq!(parse_decimal("5"), Some((5_000_000, 0)));
        assert_eq!(parse_decimal("0.1"), Some((100_000, 1)));
        assert_eq!(parse_decimal("1,5"), None);
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("1.1234567"), None);
        assert_eq!(format_decimal(-1_500_000, 2), "-1.50");
        assert_eq!(format_decimal(300_000, 1), "0.3");
        // 0.1 + 0.2 style drift cannot happen.
        let (a, _) = parse_decimal("0.30").unwrap();
        let (b, _) = parse_decimal("0.10").unwrap();
        assert_eq!(format_decimal(a - b, 2), "0.20");
    }

    #[test]
    fn the_diff_finds_exactly_what_changed() {
        let old = vec![
            done("a", Some("100.00"), Some("in_stock")),
            done("b", Some("20.00"), Some("in_stock")),
            done("c", Some("5.00"), Some("in_stock")),
            failed("d"),
            done("e", Some("1.00"), None),
            SavedResult { product: None, ..done("f", None, None) },
            done("g", Some("9.99"), None),
            done("only-old", Some("1"), None),
        ];
        let new = vec![
            done("a", Some("90.00"), Some("in_stock")),
            done("b", Some("25.50"), Some("out_of_stock")),
            done("c", Some("5.00"), Some("in_stock")),
            done("d", Some("3.00"), None),
            failed("e"),
            done("f", Some("2.00"), None),
            SavedResult { product: None, ..done("g", None, None) },
            done("only-new", Some("1"), None),
        ];
        let d = diff(&old, &new);
        assert_eq!(d.shared, 7);
        assert_eq!(d.price_changes.len(), 2);
        assert_eq!((d.price_changes[0].url.as_str(), d.price_changes[0].change.as_str()), ("a", "-10.00"));
        assert!((d.price_changes[0].percent + 10.0).abs() < 1e-9);
        assert_eq!((d.price_changes[1].url.as_str(), d.price_changes[1].change.as_str()), ("b", "5.50"));
        assert!((d.price_changes[1].percent - 27.5).abs() < 1e-9);
        assert_eq!(
            d.availability_changes,
            vec![AvailabilityChange {
                url: "b".into(),
                old: Some("in_stock".into()),
                new: Some("out_of_stock".into())
            }]
        );
        assert_eq!(d.recovered, vec!["d"]);
        assert_eq!(d.newly_failing, vec!["e"]);
        assert_eq!(d.appeared, vec!["f"]);
        assert_eq!(d.disappeared, vec!["g"]);
        // Diffing a run with itself finds nothing.
        let same = diff(&new, &new);
        assert!(same.price_changes.is_empty() && same.availability_changes.is_empty());
        assert!(same.recovered.is_empty() && same.newly_failing.is_empty());
    }

    #[test]
    fn csv_has_a_row_per_result() {
        let csv = results_csv(&[done("http://a.test/x,y", Some("1.50"), Some("in_stock")), failed("=b")]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], RESULTS_CSV_HEADER);
        assert!(lines[1].starts_with("\"http://a.test/x,y\",done,200,1,10,100,,\"name of"), "{}", lines[1]);
        assert!(lines[1].ends_with(",1.50,EUR,in_stock,,,0"), "{}", lines[1]);
        assert!(lines[2].starts_with("'=b,failed,,0,,0,timeout,"), "{}", lines[2]);
    }

    #[test]
    fn a_done_events_validators_are_kept_in_its_row() {
        let ev = Event::Done {
            id: 0,
            url: "https://shop.example/p/1".into(),
            status: 200,
            bytes: 10,
            ms: 5,
            attempts: 1,
            product: None,
            validators: Validators::from_headers(Some("\"v1\"".into()), Some("Sun, 06 Dec 2026 10:00:00 GMT".into())),
            not_modified: false,
            bytes_saved: 0,
            t: 5,
        };
        let row = SavedResult::from_event(&ev).expect("a final event");
        assert_eq!(row.etag.as_deref(), Some("\"v1\""));
        assert_eq!(row.last_modified.as_deref(), Some("Sun, 06 Dec 2026 10:00:00 GMT"));
        assert_eq!(Validators::from_headers(Some(" ".into()), None), None, "empty headers are none");
        assert_eq!(Validators::from_headers(Some("x".repeat(300)), None), None, "nor is an absurd one kept");
    }

    /// A row's prior: only a done row with a validator has one; a 304's
    /// own row stands for the page it carried, so a chain of unchanged runs
    /// keeps revalidating with the page's real size and product.
    #[test]
    fn a_rows_prior_and_a_chain_of_unchanged_runs() {
        let full = SavedResult {
            url: "https://shop.example/p/1".into(),
            outcome: "done".into(),
            status: Some(200),
            bytes: 5000,
            etag: Some("\"v1\"".into()),
            product: Some(SavedProduct {
                name: Some("Kettle".into()),
                price: Some("19.90".into()),
                ..SavedProduct::default()
            }),
            ..SavedResult::default()
        };
        let prior = full.prior().expect("a validator");
        assert_eq!(prior.size, 5000);
        let p = prior.product.clone().expect("the product");
        assert_eq!(p.name.as_ref().map(|f| (f.value.as_str(), f.source)), Some(("Kettle", Source::Saved)));
        assert_eq!(p.price.as_ref().and_then(|f| f.value.amount.as_deref()), Some("19.90"));
        // The 304 answer, as an event, then as a row: the same prior again.
        let ev = Event::Done {
            id: 0,
            url: full.url.clone(),
            status: 304,
            bytes: 0,
            ms: 3,
            attempts: 1,
            product: Some(Box::new(p)),
            validators: Some(prior.validators.clone()),
            not_modified: true,
            bytes_saved: prior.size,
            t: 3,
        };
        let row = SavedResult::from_event(&ev).expect("a final event");
        assert!(row.not_modified);
        assert_eq!(row.prior(), Some(prior));
        assert_eq!(SavedResult { etag: None, ..full.clone() }.prior(), None, "no validator, nothing to send");
        assert_eq!(SavedResult { outcome: "failed".into(), ..full }.prior(), None);
    }
}
