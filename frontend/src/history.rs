//! The history page (`?mode=history`): saved runs from D1, their diff
//! against the previous run with price drops and rises highlighted, and a
//! small price chart for one URL, and a saved run reopened read-only with the
//! dashboard's own table, waterfall and statistics (`?mode=history&run=ID`).
//! The diff is computed at the edge by `fanout_shared::history::diff`, the
//! reopened views by `fanout_shared::history::replay`.

use fanout_shared::history::{PricePoint, RunDiff, RunRecord, SavedResult, replay};
use fanout_shared::view::report::secs;
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

use crate::api::get_json;
use crate::page::{page_param, set_page_query};
use crate::run::RunStore;
use crate::stats::{HostsPanel, StatCards};
use crate::table::TaskTable;
use crate::waterfall::Waterfall;

#[derive(Deserialize)]
struct RunList {
    runs: Vec<RunRecord>,
    total: u64,
}

#[derive(Clone, Deserialize)]
struct DiffAnswer {
    against: RunRecord,
    diff: RunDiff,
}

#[derive(Deserialize)]
struct SavedRun {
    run: RunRecord,
    results: Vec<SavedResult>,
}

#[derive(Deserialize)]
struct PriceHistory {
    points: Vec<PricePoint>,
}

const PAGE: u32 = 20;

fn duration(ms: u64) -> String {
    if ms < 100 { "< 0.1 s".to_owned() } else { secs(ms) }
}

fn when(ms: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    String::from(d.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}

/// A saved run's options, for people (they are the first chunk request's:
/// its concurrency is that request's share of the run's).
fn options_text(json: &str) -> String {
    match serde_json::from_str::<fanout_shared::wire::protocol::RunOptions>(json) {
        Ok(o) => format!(
            "First request's options: concurrency {} · per host {} · timeout {} ms · {} attempts · backoff {}–{} ms · deadline {} ms · extraction {}",
            o.concurrency,
            o.per_host,
            o.timeout_ms,
            o.max_attempts,
            o.base_ms,
            o.max_ms,
            o.deadline_ms,
            if o.extract { "on" } else { "off" }
        ),
        Err(_) => format!("Options: {json}"),
    }
}

/// The history page.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let runs = RwSignal::new(Vec::<RunRecord>::new());
    let total = RwSignal::new(0u64);
    let offset = RwSignal::new(0u32);
    let error = RwSignal::new(None::<String>);
    let diff = RwSignal::new(None::<(String, DiffAnswer)>);
    let chart = RwSignal::new(None::<(String, Vec<PricePoint>)>);
    // A reopened run: the dashboard's store, filled once and never run.
    let store = RunStore::new();
    let opened = RwSignal::new(None::<RunRecord>);
    let opening = RwSignal::new(None::<String>);
    let set_link = |run: Option<&str>| {
        set_page_query(&run.map_or("mode=history".to_owned(), |id| format!("mode=history&run={id}")));
    };
    let open = move |id: String| {
        error.set(None);
        opening.set(Some(id.clone()));
        spawn_local(async move {
            let got = get_json::<SavedRun>(&format!("/api/v1/runs/{id}"), "saved run").await;
            opening.set(None);
            match got {
                Ok(saved) => {
                    let (views, stats) = replay(saved.run.created_at, saved.run.duration_ms, &saved.results);
                    store.show(saved.run.id.clone(), views, stats, saved.run.duration_ms);
                    set_link(Some(&saved.run.id));
                    opened.set(Some(saved.run));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let close = move || {
        opened.set(None);
        set_link(None);
    };
    // A link to one run opens it.
    if let Some(id) = page_param("run") {
        open(id);
    }

    let load = move || {
        let off = offset.get_untracked();
        spawn_local(async move {
            match get_json::<RunList>(&format!("/api/v1/runs?limit={PAGE}&offset={off}"), "run list").await {
                Ok(l) => {
                    runs.set(l.runs);
                    total.set(l.total);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();

    let compare = move |id: String| {
        error.set(None);
        spawn_local(async move {
            match get_json::<DiffAnswer>(&format!("/api/v1/runs/{id}/diff?against=previous"), "diff").await {
                Ok(d) => diff.set(Some((id, d))),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let delete = move |id: String| {
        spawn_local(async move {
            let url = format!("/api/v1/runs/{id}");
            match crate::api::authed(Request::delete(&url)).send().await {
                Ok(r) if r.ok() => {
                    if opened.with_untracked(|o| o.as_ref().is_some_and(|o| o.id == id)) {
                        close();
                    }
                    diff.update(|d| {
                        if d.as_ref().is_some_and(|(x, _)| *x == id) {
                            *d = None;
                        }
                    });
                    load();
                }
                Ok(r) => error.set(Some(format!("delete answered {}", r.status()))),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    // The CSV export, fetched with the API token this browser keeps (a plain
    // link would go without it), then offered as a download.
    let export = move |id: String| {
        spawn_local(async move {
            let url = format!("/api/v1/runs/{id}/export.csv");
            match crate::api::authed(Request::get(&url)).send().await {
                Ok(r) if r.ok() => match r.text().await {
                    Ok(text) => {
                        if let Err(e) = crate::fields::download(&format!("fanout-{id}.csv"), "text/csv", &text) {
                            error.set(Some(e));
                        }
                    }
                    Err(e) => error.set(Some(e.to_string())),
                },
                Ok(r) => error.set(Some(format!("the export answered {}", r.status()))),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let show_price = move |url: String| {
        spawn_local(async move {
            let q = String::from(js_sys::encode_uri_component(&url));
            match get_json::<PriceHistory>(&format!("/api/v1/history?url={q}"), "price history").await {
                Ok(h) => chart.set(Some((url, h.points))),
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <main>
            <section class="panel" aria-label="Saved runs">
                <h2>"Saved runs"</h2>
                <p class="note">{move || format!("{} runs kept at the edge (D1). Every run of the dashboard is saved as it streams.", total.get())}</p>
                <div class="table-scroll">
                <table data-testid="runs">
                    <thead><tr><th>"When"</th><th>"Run"</th><th>"URLs"</th><th>"Success"</th><th>"Duration"</th><th></th></tr></thead>
                    <tbody>
                        {move || runs.get().into_iter().map(|r| {
                            let (id1, id2, id3) = (r.id.clone(), r.id.clone(), r.id.clone());
                            view! {
                                <tr data-run=r.id.clone()>
                                    <td>{when(r.created_at)}</td>
                                    <td class="mono">{r.id.clone()}</td>
                                    <td class="num">{r.total}</td>
                                    <td class="num">{format!("{:.0}%", r.success_rate() * 100.0)}</td>
                                    <td class="num" title="Edge time from the first chunk's start to the last chunk's end (Workers' clock advances on I/O only, so in-process demo pages take little of it)">{duration(r.duration_ms)}</td>
                                    <td class="actions">
                                        <button on:click=move |_| open(id3.clone())>"Open"</button>
                                        <button on:click=move |_| compare(id1.clone())>"Compare with previous"</button>
                                        <button class="link" on:click={ let id = r.id.clone(); move |_| export(id.clone()) }>"CSV"</button>
                                        <button class="link" on:click=move |_| delete(id2.clone())>"delete"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
                <div class="actions">
                    <button disabled=move || offset.get() == 0 on:click=move |_| { offset.update(|o| *o = o.saturating_sub(PAGE)); load(); }>"Newer"</button>
                    <button disabled=move || { u64::from(offset.get() + PAGE) >= total.get() } on:click=move |_| { offset.update(|o| *o += PAGE); load(); }>"Older"</button>
                </div>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </section>

            {move || diff.get().map(|(id, d)| {
                let changes = d.diff.price_changes.clone();
                view! {
                    <section class="panel" aria-label="Diff">
                        <h2>{format!("{id} against {}", d.against.id)}</h2>
                        <p data-testid="diff-summary">{format!(
                            "{} shared URLs · {} price changes · {} availability changes · {} appeared · {} disappeared · {} newly failing · {} recovered",
                            d.diff.shared, d.diff.price_changes.len(), d.diff.availability_changes.len(), d.diff.appeared.len(),
                            d.diff.disappeared.len(), d.diff.newly_failing.len(), d.diff.recovered.len())}</p>
                        <div class="table-scroll">
                        <table data-testid="price-changes">
                            <thead><tr><th>"Product"</th><th>"Before"</th><th>"Now"</th><th>"Change"</th><th>"%"</th></tr></thead>
                            <tbody>
                                {changes.into_iter().map(|c| {
                                    let class = if c.percent < 0.0 { "drop" } else { "rise" };
                                    let url = c.url.clone();
                                    let cur = c.currency.clone().unwrap_or_default();
                                    view! {
                                        <tr class=class>
                                            <td><button class="link" title=c.url.clone() on:click=move |_| show_price(url.clone())>
                                                {c.name.clone().unwrap_or_else(|| c.url.clone())}</button></td>
                                            <td class="num">{format!("{} {cur}", c.old)}</td>
                                            <td class="num">{format!("{} {cur}", c.new)}</td>
                                            <td class="num">{format!("{}{} {cur}", if c.change.starts_with('-') { "" } else { "+" }, c.change)}</td>
                                            <td class="num">{format!("{:+.2}%", c.percent)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        <ul class="changes">
                            {d.diff.availability_changes.iter().map(|a| view! {
                                <li>{format!("{}: {} → {}", a.url, a.old.clone().unwrap_or("—".into()), a.new.clone().unwrap_or("—".into()))}</li>
                            }).collect_view()}
                            {d.diff.newly_failing.iter().map(|u| view! { <li class="fail">{format!("now failing: {u}")}</li> }).collect_view()}
                            {d.diff.recovered.iter().map(|u| view! { <li>{format!("recovered: {u}")}</li> }).collect_view()}
                        </ul>
                    </section>
                }
            })}

            {move || opening.get().map(|id| view! { <p class="note panel">{format!("Opening run {id}…")}</p> })}
            <Show when=move || opened.with(Option::is_some)>
                <section class="panel progress" aria-label="Saved run">
                    {move || opened.get().map(|r| view! {
                        <h2>{format!("Run {} · {} · read-only", r.id, when(r.created_at))}</h2>
                        <p class="counts" data-testid="opened-counts">{format!(
                            "{} URLs · {} done · {} failed · {} cancelled · {} · {} chunk request(s) · peak {} in flight",
                            r.total, r.done, r.failed, r.cancelled, duration(r.duration_ms), r.chunks, store.peak.get_untracked())}</p>
                        <p class="note">{options_text(&r.options)}</p>
                    })}
                    <div class="actions">
                        <button class="link" on:click=move |_| { if let Some(r) = opened.get_untracked() { export(r.id) } }>"CSV"</button>
                        <button on:click=move |_| close()>"Close"</button>
                    </div>
                    <StatCards store=store/>
                </section>
                <Waterfall store=store/>
                <HostsPanel store=store/>
                <TaskTable store=store/>
            </Show>

            {move || chart.get().map(|(url, points)| view! {
                <section class="panel" aria-label="Price history">
                    <h2>"Price history"</h2>
                    <p class="mono">{url}</p>
                    {price_chart(&points)}
                </section>
            })}
        </main>
    }
}

fn price_chart(points: &[PricePoint]) -> impl IntoView + use<> {
    let values: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.price.as_deref()?.parse::<f64>().ok().map(|v| (i, v)))
        .collect();
    if values.is_empty() {
        return view! { <p class="note">"No prices recorded for this URL."</p> }.into_any();
    }
    let (w, h) = (600.0, 120.0);
    let lo = values.iter().map(|v| v.1).fold(f64::MAX, f64::min);
    let hi = values.iter().map(|v| v.1).fold(f64::MIN, f64::max);
    let span = (hi - lo).max(hi * 0.01).max(0.01);
    let n = points.len().max(2) - 1;
    let xy = |i: usize, v: f64| (i as f64 / n as f64 * (w - 80.0) + 64.0, h - 10.0 - (v - lo) / span * (h - 30.0));
    let line: String = values
        .iter()
        .map(|&(i, v)| {
            let (x, y) = xy(i, v);
            format!("{x:.1},{y:.1} ")
        })
        .collect();
    view! {
        <svg class="chart price" viewBox=format!("0 0 {w} {h}") role="img" data-points=values.len()
            aria-label=format!("Price over {} runs, from {lo:.2} to {hi:.2}", points.len())>
            <polyline class="line" points=line></polyline>
            {values.iter().map(|&(i, v)| {
                let (x, y) = xy(i, v);
                view! { <circle cx=x cy=y r="3" class="dot"><title>{format!("{v:.2} ({})", when(points[i].at))}</title></circle> }
            }).collect_view()}
            <text class="tick-label" x="2" y="12">{format!("{hi:.2}")}</text>
            <text class="tick-label" x="2" y=h - 2.0>{format!("{lo:.2}")}</text>
        </svg>
    }
    .into_any()
}
