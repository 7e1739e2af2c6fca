//! Turning a run's task views into pictures and files: waterfall geometry
//! and JSON/CSV exports. Pure functions, so the browser only draws and saves.

use core::fmt::Write as _;
use std::borrow::Borrow;

use serde::Serialize;

use crate::view::markup::escape_html_into;
use crate::view::task::{SpanOutcome, TaskState, TaskView};
use crate::wire::protocol::Millis;

/// `value` with `decimals` digits after the point (`fixed(2.345, 1)` is
/// `"2.3"`), rounding half away from zero; `"–"` for NaN and infinities.
///
/// Written out rather than `format!("{:.1}")`: core's float formatting
/// (exact and shortest, with their big-number tables) was about 20 KB of the
/// dashboard's wasm, and the dashboard only ever shows a few decimals.
pub fn fixed(value: f64, decimals: u32) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let scale = 10u64.pow(decimals.min(9));
    // Saturates for values beyond u64's range, which no figure here reaches.
    let n = (value.abs() * scale as f64).round() as u64;
    let sign = if value < 0.0 && n > 0 { "-" } else { "" };
    if decimals == 0 {
        format!("{sign}{n}")
    } else {
        format!("{sign}{}.{:0width$}", n / scale, n % scale, width = decimals.min(9) as usize)
    }
}

/// A duration in milliseconds as seconds with one decimal (`"1.5 s"`), as
/// every page of the dashboard shows elapsed and remaining time.
pub fn secs(ms: u64) -> String {
    format!("{} s", fixed(ms as f64 / 1000.0, 1))
}

/// One bar of the waterfall: an attempt, or the retry wait after one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Row (the URL's position in the run).
    pub row: u32,
    /// Left edge, as a fraction of the time axis (0..=1).
    pub x: f64,
    /// Width, as a fraction of the time axis.
    pub width: f64,
    /// CSS class: the outcome, or `wait` for a retry wait.
    pub class: &'static str,
    /// Tooltip text.
    pub label: String,
}

/// The bars as SVG markup, for the waterfall's `<g>`: one
/// `<rect class="bar {class}">` per bar, with its label as a `<title>`
/// tooltip, on a drawing `width` units wide whose rows are `row_h` high.
///
/// One string set as the group's `innerHTML` is parsed by the browser in one
/// go: building 1,000 bars node by node from wasm took thousands of calls
/// into the DOM on every redraw. Labels carry URLs and error messages from
/// the network, so they are escaped: they always render as text.
pub fn bars_svg(bars: &[Bar], width: f64, row_h: f64) -> String {
    let gap = if row_h > 3.0 { 1.0 } else { 0.0 };
    let height = fixed((row_h - gap).max(1.0), 2);
    let mut out = String::with_capacity(bars.len() * 160);
    for b in bars {
        let _ = write!(
            out,
            r#"<rect class="bar {}" x="{}" y="{}" width="{}" height="{height}"><title>"#,
            b.class,
            fixed(b.x * width, 2),
            fixed(f64::from(b.row) * row_h, 2),
            fixed((b.width * width).max(0.8), 2),
        );
        escape_html_into(&mut out, &b.label);
        out.push_str("</title></rect>");
    }
    out
}

/// A row's details for people, one fact a line: the whole URL, state,
/// attempts, status, latency, size, product and error, with each attempt's
/// span (start–end on the run's axis). The task table shows it when the
/// pointer rests on a row, where the cells cut long text short.
pub fn row_details(v: &TaskView) -> String {
    let mut out = format!("#{} {}\n{}", v.id + 1, v.url, v.state.label());
    if v.attempt > 0 {
        let _ = write!(out, " · attempt {}", v.attempt);
    }
    if let Some(status) = v.status {
        let _ = write!(out, " · HTTP {status}");
    }
    if let Some(ms) = v.ms {
        let _ = write!(out, " · {ms} ms");
    }
    if let Some(bytes) = v.bytes {
        let _ = write!(out, " · {bytes} bytes");
    }
    if let (Some(depth), Some(parent)) = (v.depth, v.parent) {
        let _ = write!(out, "\nfound on #{} (depth {depth})", parent + 1);
    }
    if let Some(p) = &v.product {
        if let Some(name) = &p.name {
            let _ = write!(out, "\nproduct: {}", name.value);
        }
        if let Some(price) = &p.price {
            let currency = p.currency.as_ref().map_or("", |c| c.value.as_str());
            let _ = write!(out, "\nprice: {} {currency}", price.value.amount.as_ref().unwrap_or(&price.value.raw));
        }
        if let Some(a) = &p.availability {
            let _ = write!(out, "\navailability: {}", a.value.replace('_', " "));
        }
    }
    if let Some((kind, message)) = &v.error {
        let _ = write!(out, "\nerror: {kind}: {message}");
    } else if let (Some(reason), TaskState::Waiting) = (&v.retry_reason, v.state) {
        let _ = write!(out, "\nretrying after {reason}");
    }
    for s in &v.spans {
        let _ = write!(out, "\nattempt {}: {}–", s.attempt, s.start);
        match s.end {
            Some(end) => {
                let _ = write!(out, "{end} ms");
            }
            None => out.push_str("… ms"),
        }
    }
    out
}

fn class(outcome: SpanOutcome) -> &'static str {
    match outcome {
        SpanOutcome::Running => "running",
        SpanOutcome::Ok => "ok",
        SpanOutcome::Retried => "retried",
        SpanOutcome::Failed => "failed",
        SpanOutcome::Cancelled => "cancelled",
    }
}

/// The waterfall of `views` (owned or borrowed: the dashboard lends its
/// rows rather than copy them on every redraw) on a shared time axis from 0
/// to `axis_ms`.
/// Running attempts extend to `now`; each retry wait is its own bar.
pub fn waterfall<V: Borrow<TaskView>>(views: &[V], now: Millis, axis_ms: Millis) -> Vec<Bar> {
    let axis = axis_ms.max(1) as f64;
    let frac = |t: Millis| (t as f64 / axis).clamp(0.0, 1.0);
    let mut bars = Vec::new();
    for (row, v) in views.iter().map(Borrow::borrow).enumerate() {
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        for s in &v.spans {
            let end = s.end.unwrap_or(now).max(s.start);
            let mut label = format!("{} · attempt {} · {}–{} ms", v.url, s.attempt, s.start, end);
            if s.outcome == SpanOutcome::Ok
                && let Some(status) = v.status
            {
                let _ = write!(label, " · HTTP {status}");
            }
            if let (SpanOutcome::Failed, Some((kind, msg))) = (s.outcome, &v.error) {
                let _ = write!(label, " · {kind}: {msg}");
            }
            bars.push(Bar {
                row,
                x: frac(s.start),
                width: (frac(end) - frac(s.start)).max(0.0),
                class: class(s.outcome),
                label,
            });
            if let Some(wait) = s.wait_ms {
                let reason = v.retry_reason.as_deref().unwrap_or("retry");
                bars.push(Bar {
                    row,
                    x: frac(end),
                    width: (frac(end + wait) - frac(end)).max(0.0),
                    class: "wait",
                    label: format!("{} · waiting {wait} ms after {reason}", v.url),
                });
            }
        }
    }
    bars
}

/// The time axis for a waterfall: the latest moment any bar reaches, at least `now`.
pub fn axis_end<V: Borrow<TaskView>>(views: &[V], now: Millis) -> Millis {
    views
        .iter()
        .flat_map(|v| v.borrow().spans.iter().map(|s| s.end.unwrap_or(now) + s.wait_ms.unwrap_or(0)))
        .chain([now])
        .max()
        .unwrap_or(0)
}

/// The most attempts in flight at once, from the attempts' spans (for a run
/// shown after the fact, where no live gauge was watched). An attempt that
/// ends at the moment another starts does not overlap it.
pub fn peak_in_flight(views: &[TaskView]) -> u32 {
    let mut edges: Vec<(Millis, i32)> = views
        .iter()
        .flat_map(|v| v.spans.iter().filter_map(|s| s.end.map(|end| [(s.start, 1), (end, -1)])))
        .flatten()
        .collect();
    // Ends before starts at the same instant.
    edges.sort_unstable();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    u32::try_from(peak).unwrap_or(0)
}

pub(crate) fn csv_field(s: &str) -> String {
    // Quote everything that could break a row, and defuse spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// Column names of [`to_csv`].
pub const CSV_HEADER: &str = "id,url,state,attempts,status,latency_ms,bytes,error_kind,error_message,name,price,price_amount,currency,availability,brand,sku,gtin,image,canonical_url,unchanged";

/// One CSV row per URL, with the product fields.
pub fn to_csv(views: &[TaskView]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for v in views {
        let p = v.product.as_ref();
        let field = |f: Option<&crate::wire::protocol::Field<String>>| f.map(|f| f.value.clone()).unwrap_or_default();
        let cells = [
            v.id.to_string(),
            v.url.clone(),
            state_name(v.state).to_owned(),
            v.attempt.to_string(),
            v.status.map(|s| s.to_string()).unwrap_or_default(),
            v.ms.map(|m| m.to_string()).unwrap_or_default(),
            v.bytes.map(|b| b.to_string()).unwrap_or_default(),
            v.error.as_ref().map(|e| e.0.as_str().to_owned()).unwrap_or_default(),
            v.error.as_ref().map(|e| e.1.clone()).unwrap_or_default(),
            field(p.and_then(|p| p.name.as_ref())),
            p.and_then(|p| p.price.as_ref()).map(|f| f.value.raw.clone()).unwrap_or_default(),
            p.and_then(|p| p.price.as_ref()).and_then(|f| f.value.amount.clone()).unwrap_or_default(),
            field(p.and_then(|p| p.currency.as_ref())),
            field(p.and_then(|p| p.availability.as_ref())),
            field(p.and_then(|p| p.brand.as_ref())),
            field(p.and_then(|p| p.sku.as_ref())),
            field(p.and_then(|p| p.gtin.as_ref())),
            field(p.and_then(|p| p.image.as_ref())),
            field(p.and_then(|p| p.url.as_ref())),
            if v.not_modified { "unchanged" } else { "" }.to_owned(),
        ];
        let row: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The machine name of a state, as in exports.
pub fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::Queued => "queued",
        TaskState::InFlight => "in_flight",
        TaskState::Waiting => "waiting",
        TaskState::Done => "done",
        TaskState::Failed => "failed",
        TaskState::Cancelled => "cancelled",
    }
}

/// All task views as pretty JSON.
pub fn to_json(views: &[TaskView]) -> Result<String, String> {
    serde_json::to_string_pretty(views).map_err(|_| "the results could not be written as JSON".to_owned())
}

/// Compare mode's result: a sequential run (possibly of a sample) against the
/// concurrent run of the whole list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// URLs in the sequential sample.
    pub sample: usize,
    /// URLs in the whole list.
    pub total: usize,
    /// Wall time of the sequential sample.
    pub sequential_ms: Millis,
    /// The sequential time for the whole list: measured when the sample is
    /// the whole list, otherwise extrapolated linearly (and labelled so).
    pub sequential_total_ms: Millis,
    /// Whether `sequential_total_ms` is extrapolated.
    pub extrapolated: bool,
    /// Wall time of the concurrent run.
    pub concurrent_ms: Millis,
    /// `sequential_total_ms / concurrent_ms`.
    pub speedup: f64,
}

/// Most URLs compare mode fetches one by one before extrapolating.
pub const COMPARE_SAMPLE: usize = 20;

impl Comparison {
    /// Compare a sequential run of `sample` URLs taking `sequential_ms` with a
    /// concurrent run of all `total` taking `concurrent_ms`.
    pub fn new(sample: usize, total: usize, sequential_ms: Millis, concurrent_ms: Millis) -> Self {
        let sample = sample.max(1);
        let extrapolated = sample < total;
        let sequential_total_ms = if extrapolated {
            (sequential_ms as f64 * total as f64 / sample as f64).round() as Millis
        } else {
            sequential_ms
        };
        let speedup = sequential_total_ms as f64 / concurrent_ms.max(1) as f64;
        Self { sample, total, sequential_ms, sequential_total_ms, extrapolated, concurrent_ms, speedup }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_details_tell_the_whole_story_of_a_url() {
        use crate::wire::error::ErrorKind;
        use crate::wire::protocol::{Event, EventError};
        let url = "http://shop.test/products/1?a_very_long_query=that_the_cell_cuts_short".to_owned();
        let mut v = TaskView::new(6, url.clone());
        assert_eq!(row_details(&v), format!("#7 {url}\nqueued"));
        v.apply(&Event::Started { id: 6, url: url.clone(), attempt: 1, t: 10 }, 0);
        let reason = "HTTP 503".to_owned();
        v.apply(
            &Event::Retrying { id: 6, url: url.clone(), attempt: 1, wait_ms: 40, reason, status: Some(503), t: 30 },
            0,
        );
        let waiting = row_details(&v);
        assert!(waiting.contains("waiting to retry · attempt 1 · HTTP 503"), "{waiting}");
        assert!(waiting.contains("\nretrying after HTTP 503"), "{waiting}");
        v.apply(&Event::Started { id: 6, url: url.clone(), attempt: 2, t: 70 }, 0);
        assert!(row_details(&v).ends_with("\nattempt 2: 70–… ms"), "a running attempt has no end yet");
        let error = EventError { kind: ErrorKind::Timeout, message: "no answer within 10 s".into() };
        v.apply(&Event::Failed { id: 6, url, error, attempts: 2, status: None, t: 95 }, 0);
        let failed = row_details(&v);
        assert!(failed.contains("\nerror: timeout: no answer within 10 s"), "{failed}");
        assert!(failed.ends_with("\nattempt 1: 10–30 ms\nattempt 2: 70–95 ms"), "{failed}");
        assert!(!failed.contains("retrying"), "a failed URL is not retrying");
        // A crawl's discovered URL says where it was found.
        let mut found = TaskView::new(9, "http://shop.test/p".into());
        found.apply(&Event::Discovered { id: 9, url: "http://shop.test/p".into(), parent: 2, depth: 2, t: 5 }, 0);
        assert_eq!(row_details(&found), "#10 http://shop.test/p\nqueued\nfound on #3 (depth 2)");
    }

    #[test]
    fn bars_become_escaped_svg_rects() {
        let bar = |row, x, width, class, label: &str| Bar { row, x, width, class, label: label.to_owned() };
        let svg = bars_svg(
            &[
                bar(0, 0.0, 0.5, "ok", "http://a/ · attempt 1 · 0–50 ms"),
                bar(1, 0.25, 0.0, "failed", r#"http://b/?q=<script>alert("x")</script>&a='1'"#),
            ],
            1000.0,
            10.0,
        );
        assert_eq!(svg.matches("<rect ").count(), 2);
        assert!(
            svg.starts_with(r#"<rect class="bar ok" x="0.00" y="0.00" width="500.00" height="9.00"><title>http://a/"#)
        );
        // A zero-width bar is still drawn, and rows follow row_h.
        assert!(svg.contains(r#"<rect class="bar failed" x="250.00" y="10.00" width="0.80" height="9.00">"#));
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;a=&#39;1&#39;"));
        assert!(!svg.contains("<script>"));
        // Thin rows have no gap, and never less than one unit.
        assert!(
            bars_svg(&[bar(3, 0.0, 1.0, "ok", "")], 100.0, 1.5).contains(r#"y="4.50" width="100.00" height="1.50""#)
        );
    }

    #[test]
    fn seconds_have_one_decimal() {
        assert_eq!(secs(0), "0.0 s");
        assert_eq!(secs(1_549), "1.5 s");
        assert_eq!(secs(1_550), "1.6 s");
        assert_eq!(secs(61_000), "61.0 s");
    }

    #[test]
    fn fixed_formats_like_format_with_precision() {
        for (v, d) in [
            (0.0, 1),
            (2.345, 1),
            (2.35, 0),
            (1234.5678, 2),
            (0.05, 1),
            (-0.04, 1),
            (-1.25, 1),
            (999.96, 1),
            (7.0, 3),
            (1e12, 1),
        ] {
            let ours = fixed(v, d);
            let std = format!("{:.*}", d as usize, v);
            // std rounds the exact binary value half to even; only exact
            // halves can differ, and then by one in the last digit.
            let (a, b): (f64, f64) = (ours.parse().unwrap(), std.parse().unwrap());
            assert!((a - b).abs() <= 1.01 / 10f64.powi(d as i32), "{v} at {d}: {ours} vs {std}");
            assert_eq!(ours.split('.').nth(1).map_or(0, str::len), d as usize, "{ours}");
        }
        assert_eq!(fixed(2.345, 1), "2.3");
        assert_eq!(fixed(0.05, 1), "0.1");
        assert_eq!(fixed(-0.04, 1), "0.0", "no minus sign on a zero");
        assert_eq!(fixed(-1.25, 1), "-1.3");
        assert_eq!(fixed(999.96, 1), "1000.0");
        assert_eq!(fixed(42.0, 0), "42");
        assert_eq!(fixed(f64::NAN, 1), "–");
        assert_eq!(fixed(f64::INFINITY, 1), "–");
    }
    use crate::wire::protocol::Event;

    fn view_with_retry() -> TaskView {
        let mut v = TaskView::new(0, "http://a.test/x".into());
        let url = v.url.clone();
        v.apply(&Event::Started { id: 0, url: url.clone(), attempt: 1, t: 0 }, 0);
        v.apply(
            &Event::Retrying {
                id: 0,
                url: url.clone(),
                attempt: 1,
                wait_ms: 100,
                reason: "HTTP 503".into(),
                status: Some(503),
                t: 100,
            },
            0,
        );
        v.apply(&Event::Started { id: 0, url: url.clone(), attempt: 2, t: 200 }, 0);
        v.apply(
            &Event::Done {
                id: 0,
                url,
                status: 200,
                bytes: 5,
                ms: 200,
                attempts: 2,
                product: None,
                validators: None,
                not_modified: false,
                bytes_saved: 0,
                t: 400,
            },
            0,
        );
        v
    }

    #[test]
    fn peak_in_flight_counts_overlapping_attempts() {
        // Attempts 0–100 and 200–400, the wait between them not counted.
        let a = view_with_retry();
        let span = |start, end| {
            let mut v = TaskView::new(1, "http://b.test/".into());
            v.apply(&Event::Started { id: 1, url: v.url.clone(), attempt: 1, t: start }, 0);
            v.apply(&Event::Cancelled { id: 1, url: v.url.clone(), t: end }, 0);
            v
        };
        assert_eq!(peak_in_flight(std::slice::from_ref(&a)), 1);
        // 50–150 overlaps the first attempt; 100–200 touches both ends only.
        assert_eq!(peak_in_flight(&[a.clone(), span(50, 150)]), 2);
        assert_eq!(peak_in_flight(&[a.clone(), span(100, 200)]), 1);
        assert_eq!(peak_in_flight(&[a, span(50, 150), span(250, 300), span(260, 270)]), 3);
        assert_eq!(peak_in_flight(&[]), 0);
    }

    #[test]
    fn waterfall_has_attempts_and_waits_on_one_axis() {
        let views = vec![view_with_retry()];
        let axis = axis_end(&views, 0);
        assert_eq!(axis, 400);
        let bars = waterfall(&views, 400, axis);
        let summary: Vec<(&str, f64, f64)> = bars.iter().map(|b| (b.class, b.x, b.width)).collect();
        assert_eq!(summary, vec![("retried", 0.0, 0.25), ("wait", 0.25, 0.25), ("ok", 0.5, 0.5)]);
        assert!(bars[1].label.contains("waiting 100 ms after HTTP 503"));
        assert!(bars[2].label.contains("HTTP 200"));
    }

    #[test]
    fn running_attempts_reach_now() {
        let mut v = TaskView::new(3, "u".into());
        v.apply(&Event::Started { id: 3, url: "u".into(), attempt: 1, t: 50 }, 0);
        let bars = waterfall(&[v], 150, 200);
        assert_eq!((bars[0].class, bars[0].x, bars[0].width), ("running", 0.25, 0.5));
    }

    #[test]
    fn comparison_extrapolates_a_sample_and_says_so() {
        let c = Comparison::new(20, 200, 4_000, 1_000);
        assert_eq!((c.sequential_total_ms, c.extrapolated), (40_000, true));
        assert!((c.speedup - 40.0).abs() < 1e-9);
        let whole = Comparison::new(10, 10, 2_000, 500);
        assert_eq!((whole.sequential_total_ms, whole.extrapolated), (2_000, false));
        assert!((whole.speedup - 4.0).abs() < 1e-9);
        assert!(Comparison::new(1, 1, 5, 0).speedup.is_finite());
    }

    #[test]
    fn csv_has_a_row_per_url_and_is_safe() {
        let mut v = view_with_retry();
        v.url = "http://a.test/x,\"y\"".into();
        let mut w = TaskView::new(1, "=cmd()".into());
        w.cancel(5);
        let csv = to_csv(&[v, w]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], CSV_HEADER);
        assert!(lines[1].starts_with("0,\"http://a.test/x,\"\"y\"\"\",done,2,200,200,5"), "{}", lines[1]);
        assert!(lines[2].starts_with("1,'=cmd(),cancelled"), "{}", lines[2]);
        let json: serde_json::Value = serde_json::from_str(&to_json(&[TaskView::new(0, "u".into())]).unwrap()).unwrap();
        assert_eq!(json[0]["state"], "queued");
    }
}
