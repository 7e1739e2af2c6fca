//! The crawl page (`?mode=crawl`): start pages and a scope in, discovered
//! pages out, into the same live table, waterfall and statistics as a list
//! run, with what the crawl refused and each site's robots.txt.

use fanout_shared::input::form::{CrawlForm, FormConfig};
use fanout_shared::view::report::{to_csv, to_json};
use fanout_shared::wire::config::{DEFAULT_CRAWL_DEPTH, DEFAULT_CRAWL_PAGES, Limits, MAX_CRAWL_DEPTH};
use fanout_shared::wire::protocol::{CrawlScope, RunOptions};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::fields::{NumberField, download};
use crate::jobs::start_in_background;
use crate::page::{check_url, origin, page_query, set_page_query};
use crate::run::RunStore;
use crate::stats::{CrawlPanel, HostsPanel, Progress};
use crate::table::TaskTable;
use crate::waterfall::Waterfall;

/// The scopes, as the select offers them.
const SCOPES: [(CrawlScope, &str); 4] = [
    (CrawlScope::SameHostname, "same host name"),
    (CrawlScope::SameDomain, "same domain (subdomains too)"),
    (CrawlScope::SameOrigin, "same origin (scheme, host, port)"),
    (CrawlScope::All, "anywhere the edge may fetch"),
];

/// The crawl page.
#[component]
pub fn CrawlPage() -> impl IntoView {
    let store = RunStore::new();
    let report = RwSignal::new(None);
    let limits = RwSignal::new(Limits::default());
    let d = RunOptions::default();
    let defaults = CrawlForm {
        form: FormConfig {
            urls: Some(format!("{}/demo/?latency_ms=200&jitter_ms=300", origin())),
            concurrency: u64::from(d.concurrency),
            per_host: u64::from(d.per_host),
            timeout_ms: d.timeout_ms,
            attempts: u64::from(d.max_attempts),
            extract: d.extract,
            base_ms: d.base_ms,
            max_ms: d.max_ms,
            deadline_ms: d.deadline_ms,
            save: true,
        },
        max_depth: u64::from(DEFAULT_CRAWL_DEPTH),
        max_pages: u64::from(DEFAULT_CRAWL_PAGES),
        scope: CrawlScope::SameHostname,
        include: String::new(),
        exclude: String::new(),
        robots: true,
        interval_ms: 0,
    };
    let from_link = CrawlForm::from_query(&page_query(), &defaults);
    let starts = RwSignal::new(from_link.form.urls.clone().unwrap_or_default());
    let depth = RwSignal::new(from_link.max_depth);
    let pages = RwSignal::new(from_link.max_pages);
    let scope = RwSignal::new(from_link.scope);
    let include = RwSignal::new(from_link.include.clone());
    let exclude = RwSignal::new(from_link.exclude.clone());
    let robots = RwSignal::new(from_link.robots);
    let interval = RwSignal::new(from_link.interval_ms);
    let concurrency = RwSignal::new(from_link.form.concurrency);
    let per_host = RwSignal::new(from_link.form.per_host);
    let extract = RwSignal::new(from_link.form.extract);
    let save = RwSignal::new(from_link.form.save);
    let invalid = RwSignal::new(None::<String>);

    spawn_local(async move {
        match api::fetch_limits::<true>().await {
            Ok(l) => {
                // The page budget and pacing within what this edge allows.
                pages.update(|p| *p = (*p).min(u64::from(l.max_crawl_pages)));
                limits.set(l);
            }
            Err(e) => store.error.set(Some(e)),
        }
    });

    let base = StoredValue::new(from_link.form.clone());
    let form = move || CrawlForm {
        form: FormConfig {
            urls: Some(starts.get_untracked()),
            concurrency: concurrency.get_untracked(),
            per_host: per_host.get_untracked(),
            extract: extract.get_untracked(),
            save: save.get_untracked(),
            ..base.get_value()
        },
        max_depth: depth.get_untracked(),
        max_pages: pages.get_untracked(),
        scope: scope.get_untracked(),
        include: include.get_untracked(),
        exclude: exclude.get_untracked(),
        robots: robots.get_untracked(),
        interval_ms: interval.get_untracked(),
    };
    let run = move |_| {
        let f = form();
        let list = f.starts();
        invalid.set(None);
        if list.is_empty() {
            invalid.set(Some("Give at least one start page, one per line.".into()));
            return;
        }
        if let Some((line, e)) = list.iter().find_map(|u| check_url(u).err().map(|e| (u.clone(), e))) {
            invalid.set(Some(format!("{line}: {e}")));
            return;
        }
        let (query, _) = f.to_query();
        set_page_query(&query);
        store.crawl(list, f.request(), report);
    };

    let max_depth: fn(&Limits) -> u64 = |_| u64::from(MAX_CRAWL_DEPTH);
    let max_pages: fn(&Limits) -> u64 = |l| u64::from(l.max_crawl_pages);
    let max_conc: fn(&Limits) -> u64 = |l| u64::from(l.max_concurrency);
    let max_interval: fn(&Limits) -> u64 = |l| l.max_host_interval_ms;

    view! {
        <main>
            <section class="panel form" aria-label="Crawl">
                <label class="urls">
                    <span>"Start pages, one per line"</span>
                    <textarea rows="3" spellcheck="false" prop:value=move || starts.get()
                        on:input=move |ev| starts.set(event_target_value(&ev))></textarea>
                </label>
                <div class="options">
                    <NumberField limits=limits label="Depth" value=depth min=0 max=max_depth hint="Links followed from the start pages; 0 fetches only them"/>
                    <NumberField limits=limits label="Page budget" value=pages min=1 max=max_pages hint="Most URLs fetched, start pages included"/>
                    <label class="field" title="Which links are followed">
                        <span>"Scope"</span>
                        <select aria-label="Scope" on:change=move |ev| {
                            if let Some(s) = CrawlScope::from_wire(&event_target_value(&ev)) { scope.set(s) }
                        }>
                            {SCOPES.iter().map(|(s, label)| view! {
                                <option value=s.as_str() selected=move || scope.get() == *s>{*label}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <NumberField limits=limits label="Concurrency" value=concurrency min=1 max=max_conc hint="Fetches in flight at once"/>
                    <NumberField limits=limits label="Per host" value=per_host min=1 max=max_conc hint="Fetches in flight at once to one host"/>
                    <NumberField limits=limits label="Host interval (ms)" value=interval min=0 max=max_interval hint="Spacing of request starts on each host (0.5–1.5×); a robots.txt Crawl-delay is a floor"/>
                    <label class="field check" title="Fetch each site's robots.txt first and follow it (RFC 9309), with its Crawl-delay">
                        <input type="checkbox" prop:checked=move || robots.get() on:change=move |ev| robots.set(event_target_checked(&ev))/>
                        <span>"Obey robots.txt"</span></label>
                    <label class="field check"><input type="checkbox" prop:checked=move || extract.get()
                        on:change=move |ev| extract.set(event_target_checked(&ev))/><span>"Extract products"</span></label>
                    <label class="field check"><input type="checkbox" prop:checked=move || save.get()
                        on:change=move |ev| save.set(event_target_checked(&ev))/><span>"Save to history"</span></label>
                </div>
                <div class="patterns">
                    <label class="field"><span>"Only URLs matching (globs, one per line)"</span>
                        <textarea rows="2" spellcheck="false" placeholder="**/products/*" prop:value=move || include.get()
                            on:input=move |ev| include.set(event_target_value(&ev))></textarea></label>
                    <label class="field"><span>"Never URLs matching"</span>
                        <textarea rows="2" spellcheck="false" placeholder="**/cart*" prop:value=move || exclude.get()
                            on:input=move |ev| exclude.set(event_target_value(&ev))></textarea></label>
                </div>
                <div class="actions">
                    <button class="primary" on:click=run disabled=move || store.running.get()>"Crawl"</button>
                    <button on:click=move |_| {
                        let f = form();
                        if !f.starts().is_empty()
                            && let Err(e) = start_in_background(&f.request())
                        {
                            store.error.set(Some(e));
                        }
                    } disabled=move || store.running.get() title="Crawl at the edge as a job: it goes on without this page (Jobs tab)">"Run in background"</button>
                    <button on:click=move |_| store.cancel() disabled=move || !store.running.get()>"Cancel"</button>
                </div>
                <p class="error" role="alert">{move || invalid.get().or(store.error.get()).unwrap_or_default()}</p>
            </section>

            <Progress store=store/>
            <CrawlPanel store=store report=report/>
            <Waterfall store=store/>
            <HostsPanel store=store/>

            <section class="panel exports" aria-label="Downloads">
                <span>"Download the results: "</span>
                <button on:click=move |_| {
                    if let Err(e) = download("fanout-crawl.csv", "text/csv", &to_csv(&store.snapshot())) {
                        store.error.set(Some(e));
                    }
                } disabled=move || store.rows.with(Vec::is_empty)>"CSV"</button>
                <button on:click=move |_| {
                    if let Err(e) = to_json(&store.snapshot()).and_then(|json| download("fanout-crawl.json", "application/json", &json)) {
                        store.error.set(Some(e));
                    }
                } disabled=move || store.rows.with(Vec::is_empty)>"JSON"</button>
            </section>

            <TaskTable store=store/>
        </main>
    }
}
