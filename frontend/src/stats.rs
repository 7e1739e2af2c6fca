//! The statistics cards and the per-host table of a run, live or reopened.

use leptos::prelude::*;

use fanout_shared::view::report::fixed;

use crate::run::RunStore;

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
