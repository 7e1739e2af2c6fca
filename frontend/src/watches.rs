//! The watches page (`?mode=watches`, one watch: `&watch=ID`): jobs that
//! run on a schedule at the edge and say when prices or stock change. The
//! list with schedules, last and next runs and last alerts; a form to make
//! one (prefilled by "Watch these URLs" on the dashboard); and one watch's
//! runs, the changes each found, its webhook deliveries and a price chart
//! per product over all its runs.

use fanout_shared::wire::jobs::JobState;
use fanout_shared::wire::protocol::RunRequest;
use fanout_shared::wire::watches::{
    DeliveryAttempt, DeliveryLog, PriceSeries, TestSent, Watch, WatchCreated, WatchDetail, WatchList, WatchPrices,
};
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use crate::api::{authed, get_json};
use crate::page::{hand_over, origin, page_param, set_page_query, take_handed};
use crate::run::sleep_ms;

/// Where "Watch these URLs" leaves the run request for this page.
const NEW_WATCH_KEY: &str = "fanout-new-watch";

/// Hand `req` to the watches page, which offers to watch its URLs (the
/// dashboard's "Watch these URLs").
pub fn watch_in_background(req: &RunRequest) -> Result<(), String> {
    hand_over(req, NEW_WATCH_KEY, "/?mode=watches&new=1")
}

fn when(ms: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    String::from(d.to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}

/// How long until `at` (Unix ms) from `now`, as a countdown: `4:05`, `1 h 02 min`, or `due`.
fn countdown(at: u64, now: f64) -> String {
    let left = (at as f64 - now) / 1000.0;
    if left <= 0.0 {
        return "due now".into();
    }
    let s = left.ceil() as u64;
    if s >= 3600 {
        format!("in {} h {:02} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("in {}:{:02}", s / 60, s % 60)
    }
}

fn schedule_text(w: &Watch) -> String {
    let s = w.schedule;
    let every = if s.every_minutes.is_multiple_of(60) && s.every_minutes >= 60 {
        format!("every {} h", s.every_minutes / 60)
    } else {
        format!("every {} min", s.every_minutes)
    };
    let jitter = if s.jitter_minutes > 0 { format!(" (+ up to {} min)", s.jitter_minutes) } else { String::new() };
    format!("{every}{jitter}{}", if s.paused { " · paused" } else { "" })
}

fn urls_text(w: &Watch) -> String {
    match (&w.job.sitemap, &w.job.run.crawl) {
        (Some(s), _) => format!("sitemap {s}"),
        (None, Some(_)) => format!("crawl from {} page(s)", w.job.run.urls.len()),
        (None, None) => format!("{} URLs", w.job.run.urls.len()),
    }
}

fn active(state: JobState) -> bool {
    matches!(state, JobState::Queued | JobState::Running)
}

/// What the form's rule choices make.
#[derive(Clone, Copy)]
struct RuleForm {
    drop: RwSignal<bool>,
    drop_pct: RwSignal<String>,
    target: RwSignal<bool>,
    target_price: RwSignal<String>,
    back: RwSignal<bool>,
    out: RwSignal<bool>,
    change: RwSignal<bool>,
    failing: RwSignal<bool>,
    recovered: RwSignal<bool>,
}

impl RuleForm {
    fn new() -> Self {
        Self {
            drop: RwSignal::new(true),
            drop_pct: RwSignal::new("10".into()),
            target: RwSignal::new(false),
            target_price: RwSignal::new(String::new()),
            back: RwSignal::new(true),
            out: RwSignal::new(false),
            change: RwSignal::new(false),
            failing: RwSignal::new(true),
            recovered: RwSignal::new(false),
        }
    }

    fn rules(&self) -> Result<Vec<serde_json::Value>, String> {
        let mut r = Vec::new();
        if self.drop.get_untracked() {
            let p: f64 =
                self.drop_pct.get_untracked().trim().parse().map_err(|_| "the price drop needs a percentage")?;
            r.push(json!({"kind": "price_drop", "percent": p}));
        }
        if self.target.get_untracked() {
            let t = self.target_price.get_untracked().trim().to_owned();
            if t.is_empty() {
                return Err("the target price is empty".into());
            }
            r.push(json!({"kind": "price_at_or_below", "target": t}));
        }
        for (on, kind) in [
            (self.back, "back_in_stock"),
            (self.out, "out_of_stock"),
            (self.change, "price_change"),
            (self.failing, "newly_failing"),
            (self.recovered, "recovered"),
        ] {
            if on.get_untracked() {
                r.push(json!({ "kind": kind }));
            }
        }
        Ok(r)
    }
}

fn check(label: &'static str, on: RwSignal<bool>) -> impl IntoView {
    view! {
        <label class="field check"><input type="checkbox" prop:checked=move || on.get()
            on:change=move |ev| on.set(event_target_checked(&ev))/><span>{label}</span></label>
    }
}

async fn send(req: Request) -> Result<serde_json::Value, String> {
    let resp = req.send().await.map_err(|e| format!("cannot reach the edge: {e}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        let kind = body["error"]["kind"].as_str().unwrap_or("error");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        Err(format!("{status} ({kind}): {msg}"))
    }
}

async fn post_json(url: &str, method: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let req = match method {
        "PATCH" => authed(Request::patch(url)),
        _ => authed(Request::post(url)),
    };
    send(req.json(body).map_err(|e| e.to_string())?).await
}

/// The watches page.
#[component]
pub fn WatchesPage() -> impl IntoView {
    let list = RwSignal::new(Vec::<Watch>::new());
    let detail = RwSignal::new(None::<WatchDetail>);
    let deliveries = RwSignal::new(Vec::<DeliveryAttempt>::new());
    let prices = RwSignal::new(Vec::<PriceSeries>::new());
    let error = RwSignal::new(None::<String>);
    let secret = RwSignal::new(None::<String>);
    let opened = RwSignal::new(page_param("watch"));
    let creating = RwSignal::new(false);
    // The clock the countdowns read, once a second (for a day at most).
    let now = RwSignal::new(js_sys::Date::now());
    spawn_local(async move {
        for _ in 0..86_400 {
            sleep_ms(1000).await;
            now.set(js_sys::Date::now());
        }
    });

    // The form.
    let name = RwSignal::new(String::new());
    let urls = RwSignal::new(String::new());
    let every = RwSignal::new("60".to_owned());
    let jitter = RwSignal::new("0".to_owned());
    let hook = RwSignal::new(String::new());
    let slack = RwSignal::new(String::new());
    let discord = RwSignal::new(String::new());
    // A test send's answer, per channel: (channel, text, delivered).
    let tested = RwSignal::new(Vec::<(String, String, bool)>::new());
    let rules = RuleForm::new();
    let handed = RwSignal::new(None::<RunRequest>);
    if page_param("new").is_some() {
        if let Some(req) = take_handed(NEW_WATCH_KEY).and_then(|j| serde_json::from_str::<RunRequest>(&j).ok()) {
            urls.set(req.urls.join("\n"));
            handed.set(Some(req));
        }
        set_page_query("mode=watches");
    }
    if urls.get_untracked().is_empty() {
        // The demo shop, with prices that change every minute.
        let o = origin();
        urls.set((1..=12).map(|i| format!("{o}/demo/products/{i}?day_s=60")).collect::<Vec<_>>().join("\n"));
    }

    let load_list = move || {
        spawn_local(async move {
            match get_json::<WatchList>("/api/v1/watches?limit=100", "watch list").await {
                Ok(l) => list.set(l.watches),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // One watch, and again every 1.5 s while a run of it is going on, or is
    // due within ten minutes (the scheduler starts it by itself: the page
    // shows it when it does).
    let load_one = move |id: String| {
        spawn_local(async move {
            for _ in 0..2_000 {
                if opened.get_untracked().as_deref() != Some(id.as_str()) {
                    return;
                }
                let d = match get_json::<WatchDetail>(&format!("/api/v1/watches/{id}"), "watch").await {
                    Ok(d) => d,
                    Err(e) => {
                        error.set(Some(e));
                        return;
                    }
                };
                let busy = d.runs.first().is_some_and(|r| active(r.state) || !r.evaluated);
                let next_in = d.watch.next_run_at.map(|t| t as f64 - js_sys::Date::now());
                let hook = d.watch.webhook_url.is_some();
                // The newest run that found something, and when it ended.
                let newest = d
                    .runs
                    .first()
                    .filter(|r| r.evaluated && !r.alerts.is_empty())
                    .map(|r| (r.job_id.clone(), r.finished_at.unwrap_or(r.started_at) as f64));
                detail.set(Some(d));
                if let Ok(l) = get_json::<DeliveryLog>(&format!("/api/v1/watches/{id}/deliveries"), "deliveries").await
                {
                    deliveries.set(l.deliveries);
                }
                if let Ok(p) = get_json::<WatchPrices>(&format!("/api/v1/watches/{id}/prices"), "prices").await {
                    prices.set(p.series);
                }
                // A run with alerts is delivered by the job's alarm just after
                // it ends: keep looking until its attempt is logged and over
                // (for at most ten minutes after the run).
                let expect = hook && newest.as_ref().is_some_and(|(_, f)| js_sys::Date::now() < *f + 600_000.0);
                let delivering = deliveries.with_untracked(|l| match (l.first(), &newest) {
                    (Some(a), Some((run, _))) if a.run_id == *run => a.outcome == "retrying",
                    _ => expect,
                });
                if busy || delivering {
                    sleep_ms(1500).await;
                    continue;
                }
                load_list(); // the list's last run, now ended
                match next_in {
                    // Due (the scheduler is about to start it): look again soon.
                    Some(ms) if ms <= 0.0 => sleep_ms(1500).await,
                    // Due within ten minutes: look again just after.
                    Some(ms) if ms <= 600_000.0 => sleep_ms((ms as u32).saturating_add(1000)).await,
                    _ => return,
                }
            }
        });
    };
    let open = move |id: String| {
        error.set(None);
        set_page_query(&format!("mode=watches&watch={id}"));
        opened.set(Some(id.clone()));
        load_one(id);
    };
    load_list();
    if let Some(id) = opened.get_untracked() {
        load_one(id);
    }

    let create = move |_| {
        error.set(None);
        secret.set(None);
        let list_urls: Vec<String> =
            urls.get_untracked().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if list_urls.is_empty() {
            error.set(Some("give at least one URL to watch".into()));
            return;
        }
        let rules = match rules.rules() {
            Ok(r) => r,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let (Ok(every), Ok(jitter)) =
            (every.get_untracked().trim().parse::<u32>(), jitter.get_untracked().trim().parse::<u32>())
        else {
            error.set(Some("the interval and jitter are whole minutes".into()));
            return;
        };
        // The dashboard's options come along; the list is the form's.
        let run = RunRequest {
            urls: list_urls,
            save: None,
            run_id: None,
            run_offset: None,
            ..handed.get_untracked().unwrap_or_default()
        };
        let mut body = json!({
            "job": run,
            "schedule": {"every_minutes": every, "jitter_minutes": jitter},
            "rules": rules,
        });
        let n = name.get_untracked();
        if !n.trim().is_empty() {
            body["name"] = json!(n.trim());
        }
        let h = hook.get_untracked();
        if !h.trim().is_empty() {
            body["webhook"] = json!({"url": h.trim()});
        }
        let channels: Vec<serde_json::Value> = [("slack", slack.get_untracked()), ("discord", discord.get_untracked())]
            .into_iter()
            .filter(|(_, u)| !u.trim().is_empty())
            .map(|(kind, u)| json!({"kind": kind, "url": u.trim()}))
            .collect();
        if !channels.is_empty() {
            body["channels"] = json!(channels);
        }
        creating.set(true);
        spawn_local(async move {
            let got = post_json("/api/v1/watches", "POST", &body).await;
            creating.set(false);
            match got.and_then(|v| serde_json::from_value::<WatchCreated>(v).map_err(|e| e.to_string())) {
                Ok(c) => {
                    secret.set(c.secret);
                    load_list();
                    open(c.watch.watch_id);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // "Send a test" to one channel: one attempt of a sample alert; its
    // answer is shown beside the channel, and the log reloads.
    let test_channel = move |id: String, channel: String| {
        error.set(None);
        tested.update(|t| t.retain(|(c, _, _)| *c != channel));
        spawn_local(async move {
            let got = post_json(&format!("/api/v1/watches/{id}/test"), "POST", &json!({ "channel": channel })).await;
            let shown = match got.and_then(|v| serde_json::from_value::<TestSent>(v).map_err(|e| e.to_string())) {
                Ok(t) => match t.attempts.first() {
                    Some(a) => {
                        let status = a.status.map_or("no answer".to_owned(), |s| format!("answered {s}"));
                        let text = match &a.error {
                            Some(e) if a.outcome != "delivered" => format!("{status}: {e} ({} ms)", a.ms),
                            _ => format!("{status}, {} ({} ms)", a.outcome, a.ms),
                        };
                        (channel, text, a.outcome == "delivered")
                    }
                    None => (channel, "nothing was sent".into(), false),
                },
                Err(e) => (channel, e, false),
            };
            tested.update(|t| t.push(shown));
            load_one(id);
        });
    };
    let act = move |id: String, what: &'static str| {
        error.set(None);
        spawn_local(async move {
            let r = match what {
                "run" => post_json(&format!("/api/v1/watches/{id}/run"), "POST", &json!({})).await,
                "delete" => match authed(Request::delete(&format!("/api/v1/watches/{id}"))).build() {
                    Ok(r) => send(r).await,
                    Err(e) => Err(e.to_string()),
                },
                pause => {
                    let Some(mut s) = detail.get_untracked().map(|d| d.watch.schedule) else { return };
                    s.paused = pause == "pause";
                    post_json(&format!("/api/v1/watches/{id}"), "PATCH", &json!({ "schedule": s })).await
                }
            };
            match r {
                Ok(_) if what == "delete" => {
                    opened.set(None);
                    detail.set(None);
                    set_page_query("mode=watches");
                }
                Ok(_) => load_one(id),
                Err(e) => error.set(Some(e)),
            }
            load_list();
        });
    };

    view! {
        <main>
            <section class="panel" aria-label="New watch">
                <h2>"Watch pages for changes"</h2>
                <p class="note">"A watch runs its URLs as a background job on a schedule (by itself: the edge's scheduler, a Durable Object alarm), compares each run with the one before, and tells a webhook (signed with HMAC-SHA256), Slack or Discord what your rules found."</p>
                <label class="urls"><span>"URLs to watch, one per line"</span>
                    <textarea rows="4" spellcheck="false" aria-label="URLs to watch" prop:value=move || urls.get()
                        on:input=move |ev| urls.set(event_target_value(&ev))></textarea></label>
                <div class="options">
                    <label class="field"><span>"Name"</span><input type="text" aria-label="Name" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/></label>
                    <label class="field"><span>"Every (minutes)"</span><input type="number" min="1" aria-label="Every (minutes)" prop:value=move || every.get()
                        on:input=move |ev| every.set(event_target_value(&ev))/></label>
                    <label class="field"><span>"Jitter (minutes)"</span><input type="number" min="0" aria-label="Jitter (minutes)" prop:value=move || jitter.get()
                        on:input=move |ev| jitter.set(event_target_value(&ev))/></label>
                    <label class="field wide"><span>"Webhook URL (optional)"</span><input type="url" aria-label="Webhook URL" placeholder="https://…" prop:value=move || hook.get()
                        on:input=move |ev| hook.set(event_target_value(&ev))/></label>
                    <label class="field wide"><span>"Slack webhook (optional)"</span><input type="url" aria-label="Slack webhook URL" placeholder="https://hooks.slack.com/services/…" prop:value=move || slack.get()
                        on:input=move |ev| slack.set(event_target_value(&ev))/></label>
                    <label class="field wide"><span>"Discord webhook (optional)"</span><input type="url" aria-label="Discord webhook URL" placeholder="https://discord.com/api/webhooks/…" prop:value=move || discord.get()
                        on:input=move |ev| discord.set(event_target_value(&ev))/></label>
                </div>
                <fieldset class="rules">
                    <legend>"Alert when"</legend>
                    <label class="field check"><input type="checkbox" prop:checked=move || rules.drop.get()
                        on:change=move |ev| rules.drop.set(event_target_checked(&ev))/><span>"the price drops by at least"</span>
                        <input type="number" class="small" min="0.01" max="100" step="any" aria-label="Drop percent" prop:value=move || rules.drop_pct.get()
                            on:input=move |ev| rules.drop_pct.set(event_target_value(&ev))/><span>"%"</span></label>
                    <label class="field check"><input type="checkbox" prop:checked=move || rules.target.get()
                        on:change=move |ev| rules.target.set(event_target_checked(&ev))/><span>"the price reaches"</span>
                        <input type="text" class="small" placeholder="19.99" aria-label="Target price" prop:value=move || rules.target_price.get()
                            on:input=move |ev| rules.target_price.set(event_target_value(&ev))/><span>"or less"</span></label>
                    {check("back in stock", rules.back)}
                    {check("out of stock", rules.out)}
                    {check("any price change", rules.change)}
                    {check("a page starts failing", rules.failing)}
                    {check("a page recovers", rules.recovered)}
                </fieldset>
                <div class="actions">
                    <button class="primary" on:click=create disabled=move || creating.get()>"Create watch"</button>
                </div>
                {move || secret.get().map(|s| view! {
                    <p class="secret" data-testid="secret">"Webhook secret (shown once; verify the Fanout-Signature header with it): "<code>{s}</code></p>
                })}
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </section>

            <section class="panel" aria-label="Watches">
                <h2>"Watches"</h2>
                <div class="table-scroll">
                <table data-testid="watches">
                    <thead><tr><th>"Watch"</th><th>"What"</th><th>"Schedule"</th><th>"Next run"</th><th>"Last run"</th><th>"Alerts"</th><th></th></tr></thead>
                    <tbody>
                        {move || list.get().into_iter().map(|w| {
                            let id = w.watch_id.clone();
                            let run_id = id.clone();
                            let last = w.last_run.clone();
                            view! {
                                <tr data-watch=id.clone()>
                                    <td><button class="link" on:click={ let id = id.clone(); move |_| open(id.clone()) }>
                                        {w.name.clone().unwrap_or_else(|| id.clone())}</button></td>
                                    <td>{urls_text(&w)}</td>
                                    <td>{schedule_text(&w)}</td>
                                    <td>{w.next_run_at.map_or("—".into(), when)}
                                        {w.next_run_at.map(|t| view! { <span class="note">" · "{move || countdown(t, now.get())}</span> })}</td>
                                    <td>{last.as_ref().map_or("never".into(), |r| format!("{} · {}", when(r.started_at), r.state.as_str()))}
                                        {w.last_skip.as_ref().map(|s| view! { <span class="note skip" title=s.reason.clone()>" · skipped "{when(s.at)}</span> })}</td>
                                    <td class="num">{last.map_or(0, |r| r.alerts.len())}</td>
                                    <td class="actions"><button on:click=move |_| act(run_id.clone(), "run")>"Run now"</button></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
                {move || list.with(Vec::is_empty).then(|| view! { <p>"No watches yet."</p> })}
            </section>

            {move || detail.get().map(|d| {
                let w = d.watch.clone();
                let id = w.watch_id.clone();
                let (id1, id2, id3) = (id.clone(), id.clone(), id.clone());
                let paused = w.schedule.paused;
                let busy = d.runs.first().is_some_and(|r| active(r.state));
                view! {
                    <section class="panel watch" aria-label="Watch">
                        <h2>{w.name.clone().unwrap_or_else(|| format!("Watch {id}"))}</h2>
                        <p data-testid="watch-summary">{format!("{} · {} · {} rule(s) · {} run(s){}",
                            urls_text(&w), schedule_text(&w), w.rules.len(), w.runs,
                            w.next_run_at.map_or(String::new(), |t| format!(" · next {}", when(t))))}</p>
                        {w.next_run_at.map(|t| view! {
                            <p class="countdown" data-testid="countdown">"Next run "<strong>{move || countdown(t, now.get())}</strong></p>
                        })}
                        <p class="note">{match (w.webhook_url.is_some(), w.channels.len()) {
                            (false, 0) => "No webhook or channel: alerts are listed here only.".to_owned(),
                            (hook, n) => format!("Alerts go to {}{}", if hook { "a webhook" } else { "" },
                                if n > 0 { format!("{}{n} chat channel(s)", if hook { " and " } else { "" }) } else { String::new() }),
                        }}</p>
                        {w.last_skip.clone().map(|s| view! { <p class="note" data-testid="skip">{format!("Skipped {}: {}", when(s.at), s.reason)}</p> })}
                        <div class="actions">
                            <button class="primary" on:click=move |_| act(id1.clone(), "run") disabled=busy>"Run now"</button>
                            <button on:click=move |_| act(id2.clone(), if paused { "resume" } else { "pause" })>{if paused { "Resume" } else { "Pause" }}</button>
                            <button class="link" on:click=move |_| act(id3.clone(), "delete")>"delete"</button>
                        </div>
                        <h3>"Runs"</h3>
                        <div class="table-scroll">
                        <table data-testid="watch-runs">
                            <thead><tr><th>"Started"</th><th>"How"</th><th>"State"</th><th>"Compared with"</th><th title="URLs whose price, currency or stock moved (or new, or recovered)">"Changed"</th><th title="URLs fetched both times, and the same">"Unchanged"</th><th title="Unchanged URLs that answered 304 Not Modified to their last answer's validators, and the bytes they did not download">"Not re-downloaded"</th><th>"Failed"</th><th>"Alerts"</th><th></th></tr></thead>
                            <tbody>
                                {d.runs.iter().map(|r| view! {
                                    <tr data-state=r.state.as_str()>
                                        <td>{when(r.started_at)}</td>
                                        <td>{r.trigger.clone()}</td>
                                        <td>{if r.evaluated || !active(r.state) { r.state.as_str().to_owned() } else { format!("{}…", r.state.as_str()) }}</td>
                                        <td class="mono">{r.compared_with.clone().unwrap_or_else(|| "— (first run)".into())}</td>
                                        <td class="num" data-count="changed">{r.counts.map_or("—".into(), |c| c.changed.to_string())}</td>
                                        <td class="num" data-count="unchanged">{r.counts.map_or("—".into(), |c| c.unchanged.to_string())}</td>
                                        <td class="num" data-count="not-modified">{r.counts.map_or("—".into(), |c| {
                                            if c.not_modified == 0 { "0".to_owned() } else { format!("{} ({} saved)", c.not_modified, crate::table::fmt_bytes(c.bytes_saved)) }
                                        })}</td>
                                        <td class="num" data-count="failed">{r.counts.map_or("—".into(), |c| c.failed.to_string())}</td>
                                        <td class="num">{r.alerts.len()}</td>
                                        <td><a href=format!("/?mode=jobs&job={}", r.job_id)>"job"</a>" "<a href=format!("/?mode=history&run={}", r.job_id)>"results"</a></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                        {d.runs.iter().find(|r| !r.alerts.is_empty()).map(|r| view! {
                            <h3>{format!("Alerts of the run of {}", when(r.started_at))}</h3>
                            <div class="table-scroll">
                            <table data-testid="alerts">
                                <thead><tr><th>"Rule"</th><th>"Product"</th><th>"Before"</th><th>"Now"</th><th>"Change"</th><th>"Stock"</th></tr></thead>
                                <tbody>
                                    {r.alerts.iter().map(|a| {
                                        let class = match a.percent { Some(p) if p < 0.0 => "drop", Some(p) if p > 0.0 => "rise", _ => "" };
                                        let cur = a.currency.clone().unwrap_or_default();
                                        view! {
                                            <tr class=class>
                                                <td>{a.rule_label.clone()}</td>
                                                <td title=a.url.clone()>{a.name.clone().unwrap_or_else(|| a.url.clone())}</td>
                                                <td class="num">{a.old_price.clone().map(|p| format!("{p} {}", a.old_currency.clone().unwrap_or_default())).unwrap_or_default()}</td>
                                                <td class="num">{a.new_price.clone().map(|p| format!("{p} {cur}")).unwrap_or_default()}</td>
                                                <td class="num">{a.percent.map(|p| format!("{p:+.2}%")).unwrap_or_default()}</td>
                                                <td>{match (&a.old_availability, &a.new_availability) {
                                                    (Some(o), Some(n)) if o != n => format!("{o} → {n}"),
                                                    _ => String::new(),
                                                }}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        })}
                    </section>
                }
            })}

            {move || detail.get().map(|d| {
                let w = d.watch;
                let mut channels: Vec<(String, String)> =
                    w.webhook_url.iter().map(|u| ("webhook".to_owned(), u.clone())).collect();
                channels.extend(w.channels.iter().map(|c| (c.kind.as_str().to_owned(), c.url.clone())));
                let id = w.watch_id.clone();
                view! {
                    <section class="panel" aria-label="Channels">
                        <h2>"Where alerts go"</h2>
                        {channels.is_empty().then(|| view! { <p class="note">"No channel: alerts are listed here only. Add a webhook, Slack or Discord URL to a watch to be told."</p> })}
                        <ul class="channels" data-testid="channels">
                            {channels.into_iter().map(|(kind, url)| {
                                let (k1, k2, k3) = (kind.clone(), kind.clone(), kind.clone());
                                let id = id.clone();
                                let last = move || deliveries.with(|l| l.iter().find(|a| a.channel == k1).map(|a| format!("last: {} · {}{}", when(a.at), a.outcome, a.status.map(|s| format!(" ({s})")).unwrap_or_default())));
                                let answer = move || tested.with(|t| t.iter().find(|(c, _, _)| *c == k2).cloned());
                                view! {
                                    <li data-channel=kind.clone()>
                                        <b>{match kind.as_str() { "slack" => "Slack", "discord" => "Discord", _ => "Webhook (signed JSON)" }}</b>
                                        " "<span class="mono url">{url}</span>
                                        " "<span class="note">{move || last().unwrap_or_else(|| "never delivered".into())}</span>
                                        " "<button on:click=move |_| test_channel(id.clone(), k3.clone())>"Send a test"</button>
                                        {move || answer().map(|(_, text, ok)| view! {
                                            <span class={if ok { "test ok" } else { "test bad" }} data-testid="test-answer">{text}</span>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </section>
                }
            })}

            {move || opened.get().is_some().then(|| view! {
                <section class="panel" aria-label="Deliveries">
                    <h2>"Deliveries"</h2>
                    <div class="table-scroll">
                    <table data-testid="deliveries">
                        <thead><tr><th>"At"</th><th>"Channel"</th><th>"Run"</th><th>"Attempt"</th><th>"Status"</th><th>"Outcome"</th><th>"Took"</th><th>"Error"</th></tr></thead>
                        <tbody>
                            {move || deliveries.get().into_iter().map(|a| view! {
                                <tr data-outcome=a.outcome.clone() data-channel=a.channel.clone()>
                                    <td>{when(a.at)}</td>
                                    <td>{a.channel.clone()}</td>
                                    <td class="mono">{a.run_id.clone()}</td>
                                    <td class="num">{a.attempt}</td>
                                    <td class="num">{a.status.map_or("—".into(), |s| s.to_string())}</td>
                                    <td>{a.outcome.clone()}{a.next_at.map(|t| format!(" (next {})", when(t)))}</td>
                                    <td class="num">{format!("{} ms", a.ms)}</td>
                                    <td class="error">{a.error.clone().unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                    {move || deliveries.with(Vec::is_empty).then(|| view! { <p class="note">"Nothing delivered yet: a run with alerts sends one to each channel."</p> })}
                </section>
                <section class="panel" aria-label="Prices">
                    <h2>"Prices over the runs"</h2>
                    <div class="sparks" data-testid="price-charts">
                        {move || prices.get().into_iter().map(|s| spark(&s)).collect_view()}
                    </div>
                    {move || prices.with(Vec::is_empty).then(|| view! { <p class="note">"No prices yet: the first run records them."</p> })}
                </section>
            })}
        </main>
    }
}

/// One product's price over the runs, as a small chart.
fn spark(s: &PriceSeries) -> impl IntoView + use<> {
    let values: Vec<(usize, f64)> = s
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.price.as_deref()?.parse::<f64>().ok().map(|v| (i, v)))
        .collect();
    let name = s.name.clone().unwrap_or_else(|| s.url.clone());
    if values.is_empty() {
        return view! { <figure class="spark"><figcaption><b>{name}</b></figcaption><p class="note">"no price"</p></figure> }.into_any();
    }
    let cur = s.points.last().and_then(|p| p.currency.clone()).unwrap_or_default();
    let (w, h) = (220.0, 56.0);
    let lo = values.iter().map(|v| v.1).fold(f64::MAX, f64::min);
    let hi = values.iter().map(|v| v.1).fold(f64::MIN, f64::max);
    let span = (hi - lo).max(0.01);
    let n = s.points.len().max(2) - 1;
    let xy = |i: usize, v: f64| (i as f64 / n as f64 * (w - 12.0) + 6.0, h - 6.0 - (v - lo) / span * (h - 12.0));
    let line: String = values
        .iter()
        .map(|&(i, v)| {
            let (x, y) = xy(i, v);
            format!("{x:.1},{y:.1} ")
        })
        .collect();
    let trend = match values.as_slice() {
        [.., (_, a), (_, b)] if b < a => "drop",
        [.., (_, a), (_, b)] if b > a => "rise",
        _ => "",
    };
    let last = values.last().map_or("—".to_owned(), |v| format!("{:.2} {cur}", v.1));
    let stock = s.points.last().and_then(|p| p.availability.clone()).unwrap_or_default();
    view! {
        <figure class=format!("spark {trend}") title=s.url.clone()>
            <figcaption><b>{name}</b><span class="num">{last}</span></figcaption>
            <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" data-points=values.len()
                aria-label=format!("Price over {} runs, from {lo:.2} to {hi:.2}", s.points.len())>
                <polyline class="line" points=line></polyline>
                {values.iter().map(|&(i, v)| { let (x, y) = xy(i, v); view! { <circle cx=x cy=y r="2.5" class="dot"><title>{format!("{v:.2} {cur}")}</title></circle> } }).collect_view()}
            </svg>
            <span class="note">{format!("{lo:.2}–{hi:.2} · {stock}")}</span>
        </figure>
    }
    .into_any()
}
