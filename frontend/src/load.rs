//! The load-test page: one URL × N requests (or for D seconds) at
//! concurrency C, with live requests per second, a latency histogram and
//! percentiles. The splitting, merging and link logic is
//! `fanout_shared::load::client`; this file only runs it and draws it.

use std::cell::Cell;
use std::rc::Rc;

use fanout_shared::demo::product_urls;
use fanout_shared::load::client::{LoadForm, LoadMerge, next_segment, split_load};
use fanout_shared::load::protocol::{LoadMethod, Percentiles, StopReason};
use fanout_shared::wire::config::Limits;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ChunkError};
use crate::page::{check_url, origin, page_query, set_page_query};
use crate::run::{Worker, all_done, now_ms};

/// Width of the charts in SVG units; they scale to the panel.
const W: f64 = 600.0;
/// Height of the charts' plotting area.
const H: f64 = 150.0;
/// Window of the requests-per-second chart.
const RPS_BIN_MS: u64 = 500;

/// A latency in microseconds, for people.
fn fmt_us(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// Where a test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Finished,
    Cancelled,
    Failed,
}

/// The load-test page.
#[component]
pub fn LoadPage() -> impl IntoView {
    let default_url = format!("{}?latency_ms=20", product_urls(&origin(), 1).join(""));
    let form0 = LoadForm::from_query(&page_query(), &LoadForm::with_url(default_url));
    let url = RwSignal::new(form0.url.clone());
    let method = RwSignal::new(form0.method);
    let by_duration = RwSignal::new(form0.duration_ms.is_some());
    let requests = RwSignal::new(form0.requests);
    let duration_s = RwSignal::new(form0.duration_ms.map_or(10.0, |d| d as f64 / 1000.0));
    let concurrency = RwSignal::new(form0.concurrency);
    let timeout_ms = RwSignal::new(form0.timeout_ms);

    let limits = RwSignal::new(Limits::default());
    let error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match api::fetch_limits::<false>().await {
            Ok(l) => limits.set(l),
            Err(e) => error.set(Some(e)),
        }
    });

    let merge = RwSignal::new_local(LoadMerge::default());
    let phase = RwSignal::new(Phase::Idle);
    let elapsed = RwSignal::new(0u64);
    let planned = RwSignal::new(None::<LoadForm>);
    let controllers = StoredValue::new_local(Vec::<web_sys::AbortController>::new());
    let cancel_flag = StoredValue::new_local(Rc::new(Cell::new(false)));

    let form = move || LoadForm {
        url: url.get_untracked().trim().to_owned(),
        method: method.get_untracked(),
        requests: requests.get_untracked(),
        duration_ms: by_duration.get_untracked().then(|| (duration_s.get_untracked() * 1000.0).round() as u64),
        concurrency: concurrency.get_untracked(),
        timeout_ms: timeout_ms.get_untracked(),
    };

    let cancel = move |_| {
        cancel_flag.with_value(|f| f.set(true));
        controllers.update_value(|cs| cs.drain(..).for_each(|c| c.abort()));
    };

    let start = move |_| {
        let f = form();
        let lim = limits.get_untracked();
        if let Err(e) = f.check(&lim, check_url) {
            error.set(Some(e));
            return;
        }
        error.set(None);
        set_page_query(&f.to_query());
        merge.set(LoadMerge::default());
        elapsed.set(0);
        planned.set(Some(f.clone()));
        phase.set(Phase::Running);
        let flag = Rc::new(Cell::new(false));
        cancel_flag.set_value(flag.clone());
        spawn_local(async move {
            let t0 = now_ms();
            let deadline = f.duration_ms.map(|d| t0 + d as f64);
            let lanes = split_load(if f.duration_ms.is_some() { None } else { Some(f.requests) }, f.concurrency, &lim);
            let next_key = Rc::new(Cell::new(0u32));
            let failure = Rc::new(std::cell::RefCell::new(None::<String>));
            // The first failure stops every lane; later ones are its echoes.
            let fail = move |failure: &std::cell::RefCell<Option<String>>, message: String| {
                let mut f = failure.borrow_mut();
                if f.is_none() {
                    *f = Some(message);
                    drop(f);
                    controllers.update_value(|cs| cs.drain(..).for_each(|c| c.abort()));
                }
            };
            let runs = lanes.into_iter().map(|lane| {
                let (f, lim, flag, next_key, failure) =
                    (f.clone(), lim.clone(), flag.clone(), next_key.clone(), failure.clone());
                Box::pin(async move {
                    let mut left = lane.requests;
                    loop {
                        if flag.get() || failure.borrow().is_some() {
                            break;
                        }
                        let time_left = deadline.map(|d| (d - now_ms()).max(0.0) as u64);
                        let Some(req) = next_segment(&f, &lane, left, time_left, &lim) else { break };
                        let Ok(controller) = web_sys::AbortController::new() else {
                            *failure.borrow_mut() = Some("this browser cannot abort requests".into());
                            break;
                        };
                        let signal = controller.signal();
                        controllers.update_value(|cs| cs.push(controller));
                        let key = next_key.get();
                        next_key.set(key + 1);
                        let result = api::run_load(&req, &signal, |ev| {
                            let t = (now_ms() - t0).max(0.0) as u64;
                            merge.update(|m| m.on_event(key, &ev, t));
                            elapsed.set(t);
                        })
                        .await;
                        match result {
                            Ok(()) => {}
                            Err(ChunkError::Rejected(m)) => {
                                fail(&failure, m);
                                break;
                            }
                            Err(ChunkError::Broken(m)) => {
                                merge.update(|mg| mg.segment_broken(key));
                                if !flag.get() {
                                    fail(&failure, format!("the stream broke: {m}"));
                                }
                                break;
                            }
                        }
                        if let (Some(l), Some(n)) = (left.as_mut(), req.requests) {
                            *l -= n.min(*l);
                        }
                    }
                }) as Worker
            });
            all_done(runs.collect()).await;
            elapsed.set((now_ms() - t0).max(0.0) as u64);
            controllers.update_value(Vec::clear);
            let failed = failure.borrow_mut().take();
            phase.set(if let Some(m) = failed {
                error.set(Some(m));
                Phase::Failed
            } else if flag.get() {
                Phase::Cancelled
            } else {
                Phase::Finished
            });
        });
    };

    let running = move || phase.get() == Phase::Running;
    let counts = move || merge.with(LoadMerge::counts);
    let percentiles = move || merge.with(|m| m.latency().percentiles());
    let target = move || {
        planned.get().map(|f| match f.duration_ms {
            Some(d) => format!("for {:.1} s", d as f64 / 1000.0),
            None => format!("of {}", f.requests),
        })
    };
    let progress = move || match (planned.get(), phase.get()) {
        (None, _) => 0.0,
        (Some(_), Phase::Finished) => 100.0,
        (Some(f), _) => progress_of(&f, counts().completed, elapsed.get()),
    };
    let overall_rps = move || {
        let ms = elapsed.get();
        if ms == 0 { 0.0 } else { counts().completed as f64 * 1000.0 / ms as f64 }
    };
    let status_line = move || match phase.get() {
        Phase::Idle => "Not started.".to_owned(),
        Phase::Running => format!(
            "Running: {} requests {} · {} in flight · {} edge request(s) · {:.1} s",
            counts().completed,
            target().unwrap_or_default(),
            merge.with(LoadMerge::in_flight),
            merge.with(LoadMerge::segments),
            elapsed.get() as f64 / 1000.0
        ),
        Phase::Finished => format!(
            "Finished: {} requests in {:.2} s{}",
            counts().completed,
            elapsed.get() as f64 / 1000.0,
            if merge.with(|m| m.stops().contains(&StopReason::RequestCap)) {
                " (some edge requests hit the deployment's request cap and were followed by more)"
            } else {
                ""
            }
        ),
        Phase::Cancelled => format!(
            "Cancelled after {:.2} s: {} requests measured (up to each edge request's last snapshot), {} cut off in flight",
            elapsed.get() as f64 / 1000.0,
            counts().completed,
            counts().aborted
        ),
        Phase::Failed => "Stopped by an error (see above); what was measured is kept.".to_owned(),
    };

    view! {
        <main>
            <section class="panel form" aria-label="Load test">
                <label class="field wide"><span>"Target URL (one endpoint, requested over and over)"</span>
                    <input type="url" data-testid="load-url" prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))/></label>
                <div class="options">
                    <label class="field"><span>"Method"</span>
                        <select on:change=move |ev| method.set(if event_target_value(&ev) == "HEAD" { LoadMethod::Head } else { LoadMethod::Get })>
                            <option value="GET" selected=move || method.get() == LoadMethod::Get>"GET"</option>
                            <option value="HEAD" selected=move || method.get() == LoadMethod::Head>"HEAD"</option>
                        </select></label>
                    <label class="field"><span>"Stop after"</span>
                        <select data-testid="load-mode" on:change=move |ev| by_duration.set(event_target_value(&ev) == "duration")>
                            <option value="count" selected=move || !by_duration.get()>"a number of requests"</option>
                            <option value="duration" selected=move || by_duration.get()>"a duration"</option>
                        </select></label>
                    // Requests or a duration; `by_duration` is a plain flag, so this
                    // redraws only when the choice changes.
                    {move || if by_duration.get() { view! {
                        <label class="field"><span>"Duration (s)"</span>
                            <input type="number" min="0.1" step="0.1" data-testid="load-duration" prop:value=move || duration_s.get().to_string()
                                on:change=move |ev| if let Ok(v) = event_target_value(&ev).trim().parse() { duration_s.set(v) }/></label>
                    }.into_any() } else { view! {
                        <label class="field" title="Requests in all, split over several edge requests when over the edge's limit">
                            <span>"Requests"</span>
                            <input type="number" min="1" data-testid="load-n" prop:value=move || requests.get().to_string()
                                on:change=move |ev| if let Ok(v) = event_target_value(&ev).trim().parse() { requests.set(v) }/></label>
                    }.into_any() }}
                    <label class="field" title=move || format!("Requests in flight at once; above {} the test is spread over parallel edge requests", limits.with(|l| l.max_load_concurrency))>
                        <span>"Concurrency"</span>
                        <input type="number" min="1" data-testid="load-c" prop:value=move || concurrency.get().to_string()
                            on:change=move |ev| if let Ok(v) = event_target_value(&ev).trim().parse() { concurrency.set(v) }/></label>
                    <label class="field"><span>"Timeout (ms)"</span>
                        <input type="number" min="1" prop:value=move || timeout_ms.get().to_string()
                            on:change=move |ev| if let Ok(v) = event_target_value(&ev).trim().parse() { timeout_ms.set(v) }/></label>
                </div>
                <div class="actions">
                    <button class="primary" on:click=start disabled=running>"Start load test"</button>
                    <button on:click=cancel disabled=move || !running()>"Cancel"</button>
                </div>
                <p class="note">{move || limits.with(|l| format!(
                    "One edge request sends at most {} requests, for at most {} s, at concurrency {}; bigger tests are split and merged.",
                    l.max_load_requests, l.max_load_duration_ms / 1000, l.max_load_concurrency))}</p>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </section>

            <section class="panel progress" aria-label="Load progress">
                <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=move || format!("{:.0}", progress())>
                    <span class="seg done" style:width=move || format!("{:.1}%", progress())></span>
                </div>
                <p class="counts" data-testid="load-status" data-phase=move || format!("{:?}", phase.get()).to_lowercase()>{status_line}</p>
                <div class="stats">
                    <div class="stat"><b data-testid="load-completed">{move || counts().completed}</b><span>"completed"</span></div>
                    <div class="stat"><b data-testid="load-rps">{move || format!("{:.0}", overall_rps())}</b><span>"requests / s"</span></div>
                    <div class="stat"><b data-testid="load-p50">{move || fmt_us(percentiles().p50_us)}</b><span>"p50"</span></div>
                    <div class="stat"><b>{move || fmt_us(percentiles().p99_us)}</b><span>"p99"</span></div>
                    <div class="stat"><b data-testid="load-errors">{move || counts().errors}</b><span>"errors"</span></div>
                    <div class="stat wide"><b data-testid="load-statuses">{move || counts().statuses.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(" ")}</b><span>"statuses"</span></div>
                </div>
                <p class="errors">{move || {
                    let c = counts();
                    if c.error_kinds.is_empty() {
                        "No transport errors.".to_owned()
                    } else {
                        format!("Errors by kind: {}", c.error_kinds.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", "))
                    }
                }}</p>
            </section>

            <div class="charts">
                <section class="panel" aria-label="Requests per second">
                    <h2>"Requests per second"</h2>
                    {move || rps_chart(&merge.with(|m| m.rps_series(RPS_BIN_MS)))}
                </section>
                <section class="panel" aria-label="Latency histogram">
                    <h2>"Latency histogram"</h2>
                    {move || latency_chart(&merge.with(|m| m.bins(30)))}
                </section>
            </div>

            <section class="panel" aria-label="Percentiles">
                <h2>"Latency percentiles"</h2>
                {move || percentile_table(&percentiles())}
                <p class="note">"Latency runs from a request's start at the edge to the end of its body. Answers of any status are in the histogram; timeouts and network errors are counted apart. HDR histogram, three significant figures."</p>
            </section>
        </main>
    }
}

fn progress_of(f: &LoadForm, completed: u64, elapsed_ms: u64) -> f64 {
    match f.duration_ms {
        Some(d) if d > 0 => (elapsed_ms as f64 * 100.0 / d as f64).min(100.0),
        _ if f.requests > 0 => (completed as f64 * 100.0 / f.requests as f64).min(100.0),
        _ => 0.0,
    }
}

fn rps_chart(series: &[(u64, f64)]) -> impl IntoView + use<> {
    if series.is_empty() {
        return view! { <p class="note">"Starts drawing with the first snapshot."</p> }.into_any();
    }
    let max_rps = series.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let end = series.last().map_or(1, |p| p.0).max(1) as f64;
    let points: String = std::iter::once((0.0, 0.0))
        .chain(series.iter().map(|&(t, r)| (t as f64, r)))
        .map(|(t, r)| format!("{:.1},{:.1} ", t / end * W, H - r / max_rps * H))
        .collect();
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {}", H + 18.0) role="img" data-points=series.len()
            aria-label=format!("Requests per second over {:.1} s, peak {:.0}", end / 1000.0, max_rps / 1.1)>
            <line class="tick" x1="0" x2=W y1=H y2=H></line>
            <line class="tick" x1="0" x2=W y1=H / 2.0 y2=H / 2.0></line>
            <text class="tick-label" x="2" y="12">{format!("{:.0} rps", max_rps)}</text>
            <text class="tick-label" x="2" y=H / 2.0 - 3.0>{format!("{:.0}", max_rps / 2.0)}</text>
            <text class="tick-label" x=W - 50.0 y=H + 14.0>{format!("{:.1} s", end / 1000.0)}</text>
            <text class="tick-label" x="2" y=H + 14.0>"0 s"</text>
            <polyline class="line" points=points></polyline>
        </svg>
    }
    .into_any()
}

fn latency_chart(bins: &[fanout_shared::load::client::Bin]) -> impl IntoView + use<> {
    if bins.is_empty() {
        return view! { <p class="note">"No latencies yet."</p> }.into_any();
    }
    let max = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let bw = W / bins.len() as f64;
    let (lo, hi) = (bins[0].lo_us, bins[bins.len() - 1].hi_us);
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {}", H + 18.0) role="img" data-bins=bins.len()
            aria-label=format!("Latency histogram from {} to {}", fmt_us(lo), fmt_us(hi))>
            {bins.iter().enumerate().map(|(i, b)| {
                let h = b.count as f64 / max * H;
                view! {
                    <rect class="hbar" x=i as f64 * bw y=H - h width=(bw - 1.0).max(1.0) height=h>
                        <title>{format!("{} – {}: {}", fmt_us(b.lo_us), fmt_us(b.hi_us), b.count)}</title>
                    </rect>
                }
            }).collect_view()}
            <line class="tick" x1="0" x2=W y1=H y2=H></line>
            <text class="tick-label" x="2" y=H + 14.0>{fmt_us(lo)}</text>
            <text class="tick-label" x=W - 60.0 y=H + 14.0>{fmt_us(hi)}</text>
            <text class="tick-label" x=W / 2.0 - 30.0 y=H + 14.0>"log scale"</text>
        </svg>
    }
    .into_any()
}

fn percentile_table(p: &Percentiles) -> impl IntoView + use<> {
    let rows = [
        ("min", p.min_us),
        ("mean", p.mean_us),
        ("p50", p.p50_us),
        ("p75", p.p75_us),
        ("p90", p.p90_us),
        ("p95", p.p95_us),
        ("p99", p.p99_us),
        ("p99.9", p.p999_us),
        ("max", p.max_us),
    ];
    view! {
        <div class="table-scroll">
            <table class="percentiles" data-testid="load-percentiles">
                <thead><tr>{rows.iter().map(|(k, _)| view! { <th>{*k}</th> }).collect_view()}</tr></thead>
                <tbody><tr>{rows.iter().map(|(_, v)| view! { <td class="num">{fmt_us(*v)}</td> }).collect_view()}</tr></tbody>
            </table>
        </div>
        <p class="note">{format!("{} latencies recorded.", p.count)}</p>
    }
}
