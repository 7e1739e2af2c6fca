//! A watch's run finished: its rules evaluated against the watch's previous
//! run, and the alerts delivered to its webhook (signed) and to its Slack
//! and Discord channels (each in its own format), every one retried alike.
//! The job's Durable Object calls these and keeps the deliveries between
//! attempts (its alarm wakes for each), so a delivery survives a restart of
//! the edge. A channel's "send a test" makes one attempt with a sample alert.

use fanout_shared::engine::retry::{Rng, parse_retry_after};
use fanout_shared::input::target::{TargetPolicy, check_url};
use fanout_shared::watch::delivery::{Answer, DELIVERY_TIMEOUT_MS, Delivery, payload, sample};
use fanout_shared::watch::rules::{compare, evaluate};
use fanout_shared::watch::sign::{SIGNATURE_HEADER, signature};
use fanout_shared::wire::jobs::{JobState, JobStatus};
use fanout_shared::wire::watches::{AlertPayload, DeliveryAttempt, PayloadRun, PayloadWatch};
use futures::FutureExt;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, console_error};

use crate::context::Settings;
use crate::platform::clock::{Sleep, unix_ms};
use crate::store::history::Store;
use crate::store::watches::{Found, StoredWatch};

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = "Fanout-Webhook/1";

/// The watch's page on its edge, for the chat messages' link.
fn link(w: &StoredWatch) -> String {
    format!("{}/?mode=watches&watch={}", w.own_origin, w.watch.watch_id)
}

/// `p`'s deliveries to every channel of `w`, due at `now`: its webhook
/// first, then its chat channels.
fn deliveries_of(w: &StoredWatch, p: &AlertPayload, now: u64) -> Vec<Delivery> {
    let link = link(w);
    let mut out: Vec<Delivery> = w.watch.webhook_url.iter().map(|url| Delivery::new(p, url, now)).collect();
    out.extend(w.watch.channels.iter().map(|c| Delivery::to_channel(p, c, Some(&link), now)));
    out
}

/// Evaluate run `job` of watch `watch` (its job's final `status`): record
/// what its rules matched, and return the deliveries to make: one per
/// channel (webhook, Slack, Discord), only when something matched.
pub async fn evaluate_run(
    env: &Env,
    settings: &Settings,
    watch: &str,
    job: &str,
    status: &JobStatus,
    now: u64,
) -> Result<Vec<Delivery>, String> {
    let store = Store::open(env, settings).ok_or("no D1 database (DB)")?;
    let Some(w) = store.watch(watch).await? else {
        return Ok(Vec::new()); // deleted meanwhile
    };
    // Only a run that finished is compared; a cancelled one is recorded.
    let previous = match status.state {
        JobState::Done => store.previous_watch_run(watch, job).await?,
        _ => None,
    };
    let (alerts, counts) = match &previous {
        Some(prev) => {
            let old = store.results(prev, false).await?;
            let new = store.results(job, false).await?;
            (evaluate(&w.watch.rules, &old, &new), Some(compare(&old, &new)))
        }
        None => (Vec::new(), None),
    };
    let finished = status.finished_at.unwrap_or(now);
    let found = Found { compared_with: previous.as_deref(), alerts: &alerts, counts };
    store.finish_watch_run(watch, job, finished, status.state, &found).await?;
    let (Some(prev), false) = (previous, alerts.is_empty()) else {
        return Ok(Vec::new());
    };
    let p = payload(
        PayloadWatch { watch_id: watch.to_owned(), name: w.watch.name.clone() },
        PayloadRun {
            run_id: job.to_owned(),
            compared_with: prev,
            started_at: status.started_at.unwrap_or(status.created_at),
            finished_at: finished,
            urls: status.counts.total,
        },
        alerts,
    );
    Ok(deliveries_of(&w, &p, now))
}

/// One attempt of `d`: sign it with the watch's current secret, `POST` it,
/// log the attempt, and leave `d` ready for the next (or ended).
pub async fn attempt(env: &Env, settings: &Settings, d: &mut Delivery, rng: &mut dyn Rng) -> Result<(), String> {
    let store = Store::open(env, settings).ok_or("no D1 database (DB)")?;
    let Some(w) = store.watch(&d.watch_id).await? else {
        d.next_at = None; // the watch is gone: nobody to tell
        return Ok(());
    };
    let started = unix_ms();
    let answer = send(d, w.secret.as_deref(), settings).await;
    let log = d.record(started, unix_ms(), &answer, rng);
    store.log_attempt(&d.watch_id, &log).await
}

/// "Send a test": one attempt of a sample alert to each of `w`'s channels
/// (or only `only`: `webhook`, `slack` or `discord`), logged like any other.
pub async fn test_send(
    env: &Env,
    settings: &Settings,
    w: &StoredWatch,
    only: Option<&str>,
    rng: &mut dyn Rng,
) -> Result<Vec<DeliveryAttempt>, String> {
    let store = Store::open(env, settings).ok_or("no D1 database (DB)")?;
    let now = unix_ms();
    let p = sample(PayloadWatch { watch_id: w.watch.watch_id.clone(), name: w.watch.name.clone() }, now);
    let mut out = Vec::new();
    for mut d in deliveries_of(w, &p, now).into_iter().filter(|d| only.is_none_or(|c| c == d.channel)) {
        let started = unix_ms();
        let answer = send(&d, w.secret.as_deref(), settings).await;
        let mut log = d.record(started, unix_ms(), &answer, rng);
        // One attempt: a test is not retried.
        if log.outcome == "retrying" {
            log.outcome = "failed".into();
            log.next_at = None;
        }
        store.log_attempt(&d.watch_id, &log).await?;
        out.push(log);
    }
    Ok(out)
}

/// `POST` `d`'s body, signed with the watch's `secret` when it goes to the
/// webhook (which without one is not sent); a chat channel's is not signed.
async fn send(d: &Delivery, secret: Option<&str>, settings: &Settings) -> Answer {
    let secret = match (d.signed(), secret) {
        (true, None) => return Answer::Error("the watch has no webhook secret".into()),
        (true, s) => s,
        (false, _) => None,
    };
    // The target rules again: the deployment's rules may have changed.
    let url = match check_url(&d.url) {
        Ok(u) => u,
        Err(e) => return Answer::Error(e.to_string()),
    };
    if let Err(e) = TargetPolicy::from_limits(&settings.limits).check(&url) {
        return Answer::Error(e.to_string());
    }
    let t = unix_ms() / 1000;
    let build = || -> worker::Result<Request> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("user-agent", USER_AGENT)?;
        if let Some(secret) = secret {
            headers.set(SIGNATURE_HEADER, &signature(secret, t, &d.body))?;
            headers.set("fanout-delivery", &d.delivery_id)?;
            headers.set("fanout-event", if d.run_id == "test" { "watch.test" } else { "watch.alerts" })?;
            headers.set("fanout-attempt", &(d.attempts + 1).to_string())?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(d.body.clone().into()));
        Request::new_with_init(url.as_str(), &init)
    };
    let request = match build() {
        Ok(r) => r,
        Err(e) => return Answer::Error(e.to_string()),
    };
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(|c| worker::AbortSignal::from(c.signal()));
    let fetch = Fetch::Request(request);
    // One of the invocation's connections, from here until the answer's
    // headers: the timeout counts from when the request goes out.
    let held = std::cell::Cell::new(Some(settings.gate.acquire().await));
    let send = async {
        let r = match &signal {
            Some(s) => fetch.send_with_signal(s).await,
            None => fetch.send().await,
        };
        held.take();
        r
    };
    futures::select! {
        r = send.fuse() => match r {
            Ok(mut resp) => {
                let status = resp.status_code();
                let retry_after_ms =
                    resp.headers().get("retry-after").ok().flatten().and_then(|v| parse_retry_after(&v, unix_ms()));
                // Read (and drop) the body, so the connection is released.
                let _ = resp.bytes().await;
                Answer::Status { status, retry_after_ms }
            }
            Err(e) => Answer::Error(e.to_string()),
        },
        () = Sleep::new(DELIVERY_TIMEOUT_MS).fuse() => {
            if let Some(c) = &controller {
                c.abort();
            }
            console_error!("delivery {}: no answer within {DELIVERY_TIMEOUT_MS} ms", d.delivery_id);
            Answer::Error(format!("no answer within {DELIVERY_TIMEOUT_MS} ms"))
        },
    }
}
