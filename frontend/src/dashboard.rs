//! The fan-out dashboard: input form, live progress, statistics and the
//! task table.

use fanout_shared::demo::{DEMO_DEFAULT_BATCH, product_urls};
use fanout_shared::input::form::FormConfig;
use fanout_shared::input::list::parse_url_list_with;
use fanout_shared::view::report::{COMPARE_SAMPLE, Comparison, fixed, secs, to_csv, to_json};
use fanout_shared::wire::config::{DEFAULT_BROWSER_PARALLEL_REQUESTS, Limits};
use fanout_shared::wire::protocol::{RetryOptions, RunOptions, RunRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::fields::{NumberField, download};
use crate::jobs::start_in_background;
use crate::page::{check_url, origin, page_query, set_page_query};
use crate::run::RunStore;
use crate::stats::{HostsPanel, Progress};
use crate::table::TaskTable;
use crate::watches::watch_in_background;
use crate::waterfall::Waterfall;

/// Knobs on the default demo URLs: enough latency that concurrency shows.
const DEMO_KNOBS: &str = "?latency_ms=200&jitter_ms=300";

fn demo_list() -> String {
    product_urls(&origin(), DEMO_DEFAULT_BATCH).into_iter().map(|u| format!("{u}{DEMO_KNOBS}\n")).collect()
}

/// Read the text file chosen in `input` (a URL list) into `text`.
fn load_file(input: &web_sys::HtmlInputElement, text: RwSignal<String>, error: RwSignal<Option<String>>) {
    let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
    const MAX_FILE: f64 = 5.0 * 1024.0 * 1024.0;
    if file.size() > MAX_FILE {
        error.set(Some(format!("{} is larger than 5 MB; a URL list should be much smaller", file.name())));
        return;
    }
    spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(v) => text.set(v.as_string().unwrap_or_default()),
            Err(_) => error.set(Some(format!("could not read {}", file.name()))),
        }
    });
}

/// The fan-out dashboard.
#[component]
pub fn App() -> impl IntoView {
    let store = RunStore::new();
    // Compare mode's sequential run of a sample, kept apart from the main run.
    let seq_store = RunStore::new();
    let comparison = RwSignal::new(None::<Comparison>);
    let comparing = RwSignal::new(false);
    let busy = move || store.running.get() || seq_store.running.get();
    let defaults = RunOptions::default();
    let limits = RwSignal::new(Limits::default());
    let config_error = RwSignal::new(None::<String>);
    // The form starts from the page URL's query string, so a shared link
    // restores the run's configuration.
    let from_link = FormConfig::from_query(
        &page_query(),
        &FormConfig {
            urls: None,
            concurrency: u64::from(defaults.concurrency),
            per_host: u64::from(defaults.per_host),
            timeout_ms: defaults.timeout_ms,
            attempts: u64::from(defaults.max_attempts),
            extract: defaults.extract,
            base_ms: defaults.base_ms,
            max_ms: defaults.max_ms,
            deadline_ms: defaults.deadline_ms,
            save: true,
        },
    );
    let text = RwSignal::new(from_link.urls.clone().unwrap_or_else(demo_list));
    let concurrency = RwSignal::new(from_link.concurrency);
    let per_host = RwSignal::new(from_link.per_host);
    let timeout_ms = RwSignal::new(from_link.timeout_ms);
    let attempts = RwSignal::new(from_link.attempts);
    let extract = RwSignal::new(from_link.extract);
    let base_ms = RwSignal::new(from_link.base_ms);
    let max_ms = RwSignal::new(from_link.max_ms);
    let deadline_ms = RwSignal::new(from_link.deadline_ms);
    let save = RwSignal::new(from_link.save);
    let revalidate = RwSignal::new(false);
    let link_note = RwSignal::new(None::<String>);
    let sitemap_url = RwSignal::new(format!("{}/demo/sitemap_index.xml", origin()));
    let sitemap_note = RwSignal::new(String::new());
    let load_sitemap = move |_| {
        let url = sitemap_url.get_untracked().trim().to_owned();
        sitemap_note.set("loading…".into());
        store.error.set(None);
        spawn_local(async move {
            match api::fetch_sitemap(&url).await {
                Ok(found) => {
                    sitemap_note.set(format!(
                        "{} URLs from {} sitemap file(s){}{}",
                        found.urls.len(),
                        found.sitemaps,
                        if found.truncated { ", cut at the limit" } else { "" },
                        if found.errors.is_empty() {
                            String::new()
                        } else {
                            format!("; {} unreadable", found.errors.len())
                        }
                    ));
                    text.set(found.urls.join("\n"));
                }
                Err(e) => {
                    sitemap_note.set(String::new());
                    store.error.set(Some(e));
                }
            }
        });
    };

    spawn_local(async move {
        match api::fetch_limits::<false>().await {
            Ok(l) => limits.set(l),
            Err(e) => config_error.set(Some(e)),
        }
    });

    let list = Memo::new(move |_| text.with(|t| parse_url_list_with(t, check_url)));
    let max_conc: fn(&Limits) -> u64 = |l| u64::from(l.max_concurrency);
    let max_timeout: fn(&Limits) -> u64 = |l| l.max_timeout_ms;
    let max_attempts: fn(&Limits) -> u64 = |l| u64::from(l.max_attempts);
    let max_backoff: fn(&Limits) -> u64 = |l| l.max_backoff_ms;
    let max_deadline: fn(&Limits) -> u64 = |l| l.max_deadline_ms;

    let prepare = move || -> Option<(Vec<String>, RunRequest)> {
        let urls = list.with_untracked(|l| l.urls.clone());
        if urls.is_empty() {
            store.error.set(Some("Add at least one http(s) URL, one per line.".into()));
            return None;
        }
        let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let options = RunRequest {
            urls: Vec::new(),
            concurrency: Some(to_u32(concurrency.get_untracked())),
            per_host: Some(to_u32(per_host.get_untracked())),
            timeout_ms: Some(timeout_ms.get_untracked()),
            retry: Some(RetryOptions {
                max_attempts: Some(to_u32(attempts.get_untracked())),
                base_ms: Some(base_ms.get_untracked()),
                max_ms: Some(max_ms.get_untracked()),
            }),
            extract: Some(extract.get_untracked()),
            deadline_ms: Some(deadline_ms.get_untracked()),
            run_id: None,
            run_offset: None,
            save: Some(save.get_untracked()),
            per_host_interval_ms: None,
            crawl: None,
            fan_out: None,
            revalidate: revalidate.get_untracked().then_some(true),
        };
        // Keep the configuration in the address bar (the default demo list
        // is implied, so links stay short).
        let typed = text.get_untracked();
        let config = FormConfig {
            urls: (typed != demo_list()).then_some(typed),
            concurrency: concurrency.get_untracked(),
            per_host: per_host.get_untracked(),
            timeout_ms: timeout_ms.get_untracked(),
            attempts: attempts.get_untracked(),
            extract: extract.get_untracked(),
            base_ms: base_ms.get_untracked(),
            max_ms: max_ms.get_untracked(),
            deadline_ms: deadline_ms.get_untracked(),
            save: save.get_untracked(),
        };
        let (query, dropped) = config.to_query();
        set_page_query(&query);
        link_note
            .set(dropped.then(|| "The URL list is too long to keep in the link; the options are kept.".to_owned()));
        Some((urls, options))
    };
    // "Run in background" and "Watch these URLs": hand the run to the page
    // that keeps it (one path for both keeps the first visit small).
    let hand = move |to: fn(&RunRequest) -> Result<(), String>| {
        if let Some((urls, options)) = prepare()
            && let Err(e) = to(&RunRequest { urls, ..options })
        {
            store.error.set(Some(e));
        }
    };
    let run = move |_| {
        let Some((urls, options)) = prepare() else { return };
        comparison.set(None);
        comparing.set(false);
        store.start(urls, options, &limits.get_untracked(), DEFAULT_BROWSER_PARALLEL_REQUESTS);
    };
    // Compare mode: the first URLs one at a time (concurrency 1), then the
    // whole list at the chosen concurrency, and the speedup between them.
    let compare = move |_| {
        let Some((urls, options)) = prepare() else { return };
        comparison.set(None);
        comparing.set(true);
        let sample: Vec<String> = urls.iter().take(COMPARE_SAMPLE).cloned().collect();
        let sequential = RunRequest { concurrency: Some(1), per_host: Some(1), ..options.clone() };
        let limits = limits.get_untracked();
        spawn_local(async move {
            seq_store.run(sample.clone(), sequential, &limits, 1).await;
            if seq_store.cancelled.get_untracked() {
                return;
            }
            store.run(urls.clone(), options, &limits, DEFAULT_BROWSER_PARALLEL_REQUESTS).await;
            if store.cancelled.get_untracked() {
                return;
            }
            comparison.set(Some(Comparison::new(
                sample.len(),
                urls.len(),
                seq_store.elapsed.get_untracked(),
                store.elapsed.get_untracked(),
            )));
        });
    };

    view! {
        <main>
            <section class="panel form" aria-label="Run">
                <label class="urls">
                    <span>"URLs, one per line"</span>
                    <textarea rows="8" spellcheck="false" prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </label>
                <p class="list-info" aria-live="polite">
                    {move || list.with(|l| format!("{} URLs", l.urls.len()))}
                    {move || list.with(|l| if l.duplicates > 0 { format!(" · {} duplicates removed", l.duplicates) } else { String::new() })}
                    {move || list.with(|l| if l.blanks > 0 { format!(" · {} blank lines skipped", l.blanks) } else { String::new() })}
                    <button class="link" on:click=move |_| text.set(demo_list())>"use the demo shop"</button>
                    <label class="upload">"or load a text file "
                        <input type="file" accept=".txt,.csv,text/plain" aria-label="Load a URL list from a text file"
                            on:change=move |ev| {
                                use wasm_bindgen::JsCast;
                                if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                    load_file(&input, text, store.error);
                                }
                            }/>
                    </label>
                </p>
                <div class="sitemap">
                    <label class="field"><span>"Or a sitemap URL (indexes are followed)"</span>
                        <input type="url" placeholder="https://shop.example/sitemap.xml" prop:value=move || sitemap_url.get()
                            on:input=move |ev| sitemap_url.set(event_target_value(&ev))/></label>
                    <button on:click=load_sitemap disabled=move || sitemap_url.with(|u| u.trim().is_empty()) || busy()>"Load sitemap"</button>
                    <span class="note" aria-live="polite">{move || sitemap_note.get()}</span>
                </div>
                {move || list.with(|l| if l.invalid.is_empty() { ().into_any() } else { view! {
                    <ul class="invalid" aria-label="Invalid lines">
                        {l.invalid.iter().take(5).map(|i| view! {
                            <li>{format!("line {}: {} — {}", i.line, i.text, i.reason)}</li>
                        }).collect_view()}
                    </ul>
                }.into_any() })}
                <div class="options">
                    <NumberField limits=limits label="Concurrency" value=concurrency min=1 max=max_conc hint="Fetches in flight at once within one edge request"/>
                    <NumberField limits=limits label="Per host" value=per_host min=1 max=max_conc hint="Fetches in flight at once to one host"/>
                    <NumberField limits=limits label="Timeout (ms)" value=timeout_ms min=1 max=max_timeout hint="Deadline of one attempt: connect, headers and body"/>
                    <NumberField limits=limits label="Attempts" value=attempts min=1 max=max_attempts hint="Attempts per URL, counting the first"/>
                    <NumberField limits=limits label="Backoff base (ms)" value=base_ms min=0 max=max_backoff hint="The first retry waits random(0, base); each later one doubles the ceiling"/>
                    <NumberField limits=limits label="Backoff max (ms)" value=max_ms min=0 max=max_backoff hint="Cap of the backoff, and the longest Retry-After honoured"/>
                    <NumberField limits=limits label="Run deadline (ms)" value=deadline_ms min=1 max=max_deadline hint="Nothing starts after it; what is still running then fails"/>
                    <label class="field check"><input type="checkbox" prop:checked=move || extract.get()
                        on:change=move |ev| extract.set(event_target_checked(&ev))/><span>"Extract products"</span></label>
                    <label class="field check" title="Keep this run's results in the History tab (stored at the edge, in D1)"><input type="checkbox" prop:checked=move || save.get()
                        on:change=move |ev| save.set(event_target_checked(&ev))/><span>"Save to history"</span></label>
                    <label class="field check" title="Send each URL saved before its last answer's ETag / Last-Modified; a page that answers 304 is not downloaded again and keeps its saved product">
                        <input type="checkbox" data-testid="revalidate" prop:checked=move || revalidate.get()
                        on:change=move |ev| revalidate.set(event_target_checked(&ev))/><span>"Revalidate (304)"</span></label>
                </div>
                <div class="actions">
                    <button class="primary" on:click=run disabled=busy>"Run"</button>
                    <button on:click=move |_| hand(start_in_background) disabled=busy
                        title="As a job at the edge, going on without this page">"Run in background"</button>
                    <button on:click=move |_| hand(watch_in_background) disabled=busy
                        title="Run these URLs on a schedule and be told when prices or stock change">"Watch these URLs"</button>
                    <button on:click=compare disabled=busy
                        title="Fetch the first URLs one at a time, then all of them concurrently, and compare">"Compare with sequential"</button>
                    <button on:click=move |_| { seq_store.cancel(); store.cancel(); } disabled=move || !busy()>"Cancel"</button>
                </div>
                <p class="note">{move || link_note.get().unwrap_or_default()}</p>
                <p class="note" data-testid="saved">{move || match (store.run_id.get(), store.save_error.get()) {
                    (_, Some(e)) => view! { <span class="error">{e}</span> }.into_any(),
                    _ if store.running.get() || store.rows.with(Vec::is_empty) => ().into_any(),
                    (Some(id), None) if store.saved.get() => view! {
                        "Saved as run " <a href=format!("/?mode=history&run={id}")>{id.clone()}</a>" in the history (open it there any time)."
                    }.into_any(),
                    (Some(_), None) => view! { "Not saved in the history." }.into_any(),
                    _ => ().into_any(),
                }}</p>
                <p class="error" role="alert">{move || store.error.get().or(config_error.get()).unwrap_or_default()}</p>
            </section>

            <Progress store=store/>

            // Compare mode's panel stays from its start until the next plain run.
            {move || if !comparing.get() { ().into_any() } else { view! {
                <section class="panel compare" aria-label="Sequential against concurrent">
                    {move || match comparison.get() {
                        None if seq_store.running.get() => view! { <p>"Sequential sample running: one URL at a time…"</p> }.into_any(),
                        None if store.running.get() => view! {
                            <p>{move || format!("Sequential sample done in {}; now all URLs concurrently…", secs(seq_store.elapsed.get()))}</p>
                        }.into_any(),
                        None => view! { <p>"Compare cancelled."</p> }.into_any(),
                        Some(c) => view! {
                            <p class="speedup"><b data-testid="speedup">{format!("×{}", fixed(c.speedup, 1))}</b>" faster concurrently"</p>
                            <p>
                                {format!("Sequential (concurrency 1): {} URLs in {}", c.sample, secs(c.sequential_ms))}
                                {if c.extrapolated {
                                    format!(" — a sample; extrapolated to {} for all {} URLs (estimate).", secs(c.sequential_total_ms), c.total)
                                } else {
                                    String::from(".")
                                }}
                                {format!(" Concurrent: all {} URLs in {}.", c.total, secs(c.concurrent_ms))}
                            </p>
                        }.into_any(),
                    }}
                </section>
                <Waterfall store=seq_store title="Waterfall: sequential sample"/>
            }.into_any() }}

            <Waterfall store=store/>

            <HostsPanel store=store/>

            <section class="panel exports" aria-label="Downloads">
                <span>"Download the results: "</span>
                <button on:click=move |_| {
                    if let Err(e) = download("fanout-results.csv", "text/csv", &to_csv(&store.snapshot())) {
                        store.error.set(Some(e));
                    }
                } disabled=move || store.rows.with(Vec::is_empty)>"CSV"</button>
                <button on:click=move |_| {
                    if let Err(e) = to_json(&store.snapshot()).and_then(|json| download("fanout-results.json", "application/json", &json)) {
                        store.error.set(Some(e));
                    }
                } disabled=move || store.rows.with(Vec::is_empty)>"JSON"</button>
            </section>

            <TaskTable store=store/>
        </main>
    }
}
