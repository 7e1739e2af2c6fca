//! The jobs page (`?mode=jobs`, or a job's own link `/?job=ID`): background
//! jobs that run at the edge by themselves. One job followed live from its
//! event log (the same table, waterfall and statistics as a run; reloading
//! the page reattaches), and the list of jobs with their progress.

use fanout_shared::view::report::{fixed, secs};
use fanout_shared::wire::jobs::JobStatus;
use fanout_shared::wire::protocol::{CrawlReport, RunRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::page::{hand_over, page_param, set_page_query, take_handed};
use crate::run::{RunStore, sleep_ms};
use crate::stats::{CrawlPanel, HostsPanel, Progress};
use crate::table::TaskTable;
use crate::waterfall::Waterfall;

/// Jobs the list shows.
const LIST_SIZE: u32 = 20;

/// Where "Run in background" leaves the run request for the jobs page.
const NEW_JOB_KEY: &str = "fanout-new-job";

/// Hand `req` to the jobs page, which starts it as a background job (the
/// dashboard's and the crawl page's "Run in background").
pub fn start_in_background(req: &RunRequest) -> Result<(), String> {
    hand_over(req, NEW_JOB_KEY, "/?mode=jobs&new=1")
}

/// Follow job `id`: its status every second until it ends, its events into
/// the store.
fn follow(
    id: String,
    store: RunStore,
    job: RwSignal<Option<JobStatus>>,
    report: RwSignal<Option<CrawlReport>>,
    error: RwSignal<Option<String>>,
) {
    spawn_local(async move {
        match api::fetch_job(&id).await {
            Ok(s) => {
                store.follow_job(id.clone(), s.created_at, report);
                job.set(Some(s));
            }
            Err(e) => {
                error.set(Some(e));
                return;
            }
        }
        for _ in 0..100_000 {
            sleep_ms(1000).await;
            match api::fetch_job(&id).await {
                Ok(s) => {
                    let over = s.state.is_final();
                    job.set(Some(s));
                    if over {
                        break;
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        }
    });
}

fn progress(s: &JobStatus) -> f64 {
    let c = s.counts;
    if c.total == 0 { 0.0 } else { f64::from(c.finished()) * 100.0 / f64::from(c.total) }
}

/// The jobs page.
#[component]
pub fn JobsPage() -> impl IntoView {
    let store = RunStore::new();
    let report = RwSignal::new(None);
    let job = RwSignal::new(None::<JobStatus>);
    let list = RwSignal::new(Vec::<JobStatus>::new());
    let error = RwSignal::new(None::<String>);
    let followed = RwSignal::new(page_param("job"));
    // A run handed over by "Run in background": start it, then follow it.
    if page_param("new").is_some() {
        if let Some(json) = take_handed(NEW_JOB_KEY) {
            spawn_local(async move {
                let Ok(req) = serde_json::from_str::<RunRequest>(&json) else {
                    error.set(Some("the handed-over run could not be read".into()));
                    return;
                };
                match api::create_job(&req).await {
                    Ok(id) => {
                        set_page_query(&format!("mode=jobs&job={id}"));
                        followed.set(Some(id.clone()));
                        follow(id, store, job, report, error);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        } else {
            set_page_query("mode=jobs");
        }
    }

    if let Some(id) = followed.get_untracked() {
        set_page_query(&format!("mode=jobs&job={id}"));
        follow(id, store, job, report, error);
    }
    // The list, every two seconds while any job is active.
    spawn_local(async move {
        for round in 0..100_000 {
            match api::fetch_jobs(LIST_SIZE).await {
                Ok(l) => {
                    let active = l.jobs.iter().any(|j| !j.state.is_final());
                    list.set(l.jobs);
                    if !active && round > 0 {
                        break;
                    }
                }
                Err(e) => {
                    error.set(Some(e));
                    break;
                }
            }
            sleep_ms(2000).await;
        }
    });
    let end = move |id: String, delete: bool| {
        spawn_local(async move {
            if let Err(e) = api::end_job(&id, delete).await {
                error.set(Some(e));
            }
            if let Ok(l) = api::fetch_jobs(LIST_SIZE).await {
                list.set(l.jobs);
            }
        });
    };

    view! {
        <main>
            {move || job.get().map(|s| {
                let id = s.job_id.clone();
                let cancel_id = id.clone();
                view! {
                    <section class="panel job" aria-label="Job">
                        <h2>{format!("Job {id}")}</h2>
                        <p data-testid="job-state">
                            <b>{s.state.as_str()}</b>
                            {format!(" · {} · {} of {} URLs finished ({} done, {} failed, {} cancelled) · {} pending · {} out with consumers · {} URLs/s",
                                s.kind, s.counts.finished(), s.counts.total, s.counts.done, s.counts.failed, s.counts.cancelled,
                                s.counts.pending, s.counts.in_flight, fixed(s.throughput, 1))}
                        </p>
                        <p class="note">"The job runs at the edge by itself: close this page and open its link again later, and it picks up where the job is."</p>
                        <div class="actions">
                            <button on:click=move |_| end(cancel_id.clone(), false) disabled=s.state.is_final()>"Cancel job"</button>
                            <a href=format!("/?mode=history&run={id}")>"Its results in the history"</a>
                        </div>
                    </section>
                }
            })}
            {move || followed.get().is_some().then(|| view! {
                <Progress store=store/>
                <CrawlPanel store=store report=report/>
                <Waterfall store=store/>
                <HostsPanel store=store/>
                <TaskTable store=store/>
            })}
            <section class="panel jobs" aria-label="Jobs">
                <h2>"Jobs"</h2>
                <p class="note">"Start one with “Run in background” on the fan-out or crawl page, or through POST /api/v1/jobs."</p>
                <p class="error" role="alert">{move || error.get().or(store.error.get()).unwrap_or_default()}</p>
                <table aria-label="Background jobs">
                    <thead><tr><th>"Job"</th><th>"kind"</th><th>"state"</th><th>"progress"</th><th>"URLs"</th><th>"URLs/s"</th><th>"took"</th><th></th></tr></thead>
                    <tbody>
                        {move || list.get().into_iter().map(|s| {
                            let id = s.job_id.clone();
                            let (a, b) = (id.clone(), id.clone());
                            let took = match (s.started_at, s.finished_at) {
                                (Some(a), Some(b)) => secs(b.saturating_sub(a)),
                                _ => "–".into(),
                            };
                            let active = !s.state.is_final();
                            view! {
                                <tr data-state=s.state.as_str()>
                                    <td><a href=format!("/?mode=jobs&job={id}")>{id.clone()}</a></td>
                                    <td>{s.kind.clone()}</td>
                                    <td>{s.state.as_str()}</td>
                                    <td><div class="bar small" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=fixed(progress(&s), 0)>
                                        <span class="seg done" style:width=format!("{}%", fixed(progress(&s), 1))></span></div></td>
                                    <td class="num">{format!("{} / {}", s.counts.finished(), s.counts.total)}</td>
                                    <td class="num">{fixed(s.throughput, 1)}</td>
                                    <td class="num">{took}</td>
                                    <td>{if active {
                                        view! { <button on:click=move |_| end(a.clone(), false)>"Cancel"</button> }.into_any()
                                    } else {
                                        view! { <button on:click=move |_| end(b.clone(), true)>"Delete"</button> }.into_any()
                                    }}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                {move || (list.with(Vec::is_empty) && error.get().is_none()).then(|| view! { <p>"No jobs yet."</p> })}
            </section>
        </main>
    }
}
