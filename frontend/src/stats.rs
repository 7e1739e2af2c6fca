//! A run's progress, statistics cards and per-host table, live or reopened.

use leptos::prelude::*;

use fanout_shared::view::report::{fixed, secs};
use fanout_shared::view::task::TaskState;
use fanout_shared::wire::protocol::CrawlReport;

use crate::run::RunStore;

/// The progress bar, counts, elapsed and remaining time, the in-flight
/// gauge and the statistics cards.
#[component]
pub fn Progress(
    /// The run.
    store: RunStore,
) -> impl IntoView {
    let tally = store.tally;
    let pct = move |s: TaskState| {
        let t = tally.get();
        if t.total() == 0 { 0.0 } else { f64::from(t.get(s)) * 100.0 / f64::from(t.total()) }
    };
    let eta = move || {
        let t = tally.get();
        let done = t.finished();
        let elapsed = store.elapsed.get();
        if !store.running.get() || done == 0 || done >= t.total() {
            return String::new();
        }
        let left = u64::from(t.total() - done) * elapsed / u64::from(done);
        format!(" · about {} left", secs(left))
    };
    view! {
            <section class="panel progress" aria-label="Progress">
                <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                    aria-valuenow=move || fixed(100.0 - pct(TaskState::Queued) - pct(TaskState::InFlight) - pct(TaskState::Waiting), 0)>
                    <span class="seg done" style:width=move || format!("{}%", fixed(pct(TaskState::Done), 2))></span>
                    <span class="seg failed" style:width=move || format!("{}%", fixed(pct(TaskState::Failed), 2))></span>
                    <span class="seg cancelled" style:width=move || format!("{}%", fixed(pct(TaskState::Cancelled), 2))></span>
                    <span class="seg in-flight" style:width=move || format!("{}%", fixed(pct(TaskState::InFlight), 2))></span>
                </div>
                <p class="counts">
                    <span data-testid="finished">{move || format!("{} / {} finished", tally.get().finished(), tally.get().total())}</span>
                    {move || format!(" · {} done · {} failed · {} cancelled", tally.get().get(TaskState::Done), tally.get().get(TaskState::Failed), tally.get().get(TaskState::Cancelled))}
                    {move || format!(" · {} elapsed", secs(store.elapsed.get()))}
                    {move || eta()}
                </p>
                <p class="gauge">
                    "In flight: " <strong data-testid="in-flight">{move || tally.get().get(TaskState::InFlight).to_string()}</strong>
                    {move || format!(" (peak {}) · waiting to retry {} · browser requests open {}",
                        store.peak.get(), tally.get().get(TaskState::Waiting), store.requests.get())}
                </p>
                <StatCards store=store/>
            </section>
    }
}

/// Latency percentiles, rate, retries, bytes and statuses.
#[component]
pub fn StatCards(
    /// The run.
    store: RunStore,
) -> impl IntoView {
    view! {
        <div class="stats" aria-label="Statistics">
            {move || {
                store.stats.with(|s| view! {
                    <div class="stat"><b>{format!("{} ms", s.latency.p50)}</b><span>"p50"</span></div>
                    <div class="stat"><b>{format!("{} ms", s.latency.p90)}</b><span>"p90"</span></div>
                    <div class="stat"><b>{format!("{} ms", s.latency.p99)}</b><span>"p99"</span></div>
                    <div class="stat"><b>{format!("{} ms", s.latency.max)}</b><span>"max"</span></div>
                    <div class="stat"><b>{fixed(s.rps, 1)}</b><span>"URLs / s"</span></div>
                    <div class="stat"><b>{s.retries}</b><span>"retries"</span></div>
                    <div class="stat"><b>{format!("{} MB", fixed(s.bytes as f64 / 1_048_576.0, 1))}</b><span>"downloaded"</span></div>
                    {(s.unchanged > 0).then(|| view! {
                        <div class="stat" data-testid="bytes-saved" title="Pages that answered 304 Not Modified to their last answer's validators: not downloaded again">
                            <b>{format!("{} MB", fixed(s.bytes_saved as f64 / 1_048_576.0, 1))}</b>
                            <span>{format!("saved ({} unchanged)", s.unchanged)}</span>
                        </div>
                    })}
                    <div class="stat wide"><b>{s.status.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(" ")}</b><span>"statuses"</span></div>
                }.into_any())
            }}
        </div>
    }
}

/// URLs, attempts, outcomes and latency per host, and errors by kind.
#[component]
pub fn HostsPanel(
    /// The run.
    store: RunStore,
) -> impl IntoView {
    view! {
        <section class="panel hosts" aria-label="Per host and errors">
            <h2>"Per host"</h2>
            <div class="table-scroll">
            <table>
                <thead><tr><th>"Host"</th><th>"URLs"</th><th>"Attempts"</th><th>"Done"</th><th>"Failed"</th><th>"p50"</th><th>"max"</th><th>"Bytes"</th></tr></thead>
                <tbody>
                    {move || store.stats.with(|s| s.hosts.iter().take(20).map(|h| view! {
                        <tr><td>{h.host.clone()}</td><td class="num">{h.urls}</td><td class="num">{h.attempts}</td><td class="num">{h.done}</td>
                        <td class="num">{h.failed}</td><td class="num">{format!("{} ms", h.latency.p50)}</td>
                        <td class="num">{format!("{} ms", h.latency.max)}</td><td class="num">{h.bytes}</td></tr>
                    }).collect_view().into_any())}
                </tbody>
            </table>
            </div>
            <p class="errors">
                {move || {
                    store.stats.with(|s| if s.errors.is_empty() {
                        "No errors.".to_owned()
                    } else {
                        format!("Errors by kind: {}", s.errors.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", "))
                    })
                }}
            </p>
        </section>
    }
}

/// What the crawl found and left alone, from its summary: discoveries,
/// refusals by reason, and each origin's robots.txt.
#[component]
pub fn CrawlPanel(
    /// The run.
    store: RunStore,
    /// Its crawl report, once its summary came.
    report: RwSignal<Option<CrawlReport>>,
) -> impl IntoView {
    move || {
        report.with(|c| match c {
            None if store.running.get() => view! {
                <section class="panel crawl" aria-label="Crawl">
                    <p>{move || format!("Crawling: {} URLs found so far.", store.rows.with(Vec::len))}</p>
                </section>
            }
            .into_any(),
            None => ().into_any(),
            Some(c) => {
                let r = &c.refused;
                let reasons = [
                    ("duplicate", r.duplicate, "led to a URL already found (same canonical URL)"),
                    ("out of scope", r.out_of_scope, "outside the scope or the patterns, or not http(s)"),
                    ("disallowed by robots.txt", r.robots_disallowed, "the site asked crawlers to stay away"),
                    ("over budget", r.over_budget, "found after the page budget was taken"),
                    ("blocked target", r.blocked_target, "a host this deployment does not fetch"),
                ];
                view! {
                    <section class="panel crawl" aria-label="Crawl">
                        <h2>"Crawl"</h2>
                        <p data-testid="discovered">{format!("{} pages discovered beyond the start pages.", c.discovered)}</p>
                        <table class="refusals" aria-label="Links not followed">
                            <thead><tr><th>"Links not followed"</th><th>"count"</th><th>"why"</th></tr></thead>
                            <tbody>
                                {reasons.into_iter().map(|(name, n, why)| view! {
                                    <tr><td>{name}</td><td class="num">{n}</td><td>{why}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <table class="robots" aria-label="robots.txt">
                            <thead><tr><th>"robots.txt of"</th><th>"read as"</th><th>"status"</th><th>"Crawl-delay"</th></tr></thead>
                            <tbody>
                                {c.robots.iter().map(|r| view! {
                                    <tr>
                                        <td>{r.origin.clone()}</td>
                                        <td>{match r.outcome.as_str() {
                                            "rules" => "its rules".to_owned(),
                                            "allow_all" => "no file: everything allowed".to_owned(),
                                            _ => format!("unreachable: nothing allowed{}", r.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()),
                                        }}</td>
                                        <td class="num">{r.status.map(|s| s.to_string()).unwrap_or_else(|| "–".into())}</td>
                                        <td class="num">{r.crawl_delay_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "–".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                }
                .into_any()
            }
        })
    }
}
