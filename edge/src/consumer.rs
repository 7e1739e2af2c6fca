//! The queue consumer: each message is one batch of a job's URLs. It claims
//! the batch from the job (a message delivered twice runs once), runs it on
//! the shared runner with the same fetcher as a streamed run, asks the job
//! every second whether to go on (cancel reaches it within a second), and
//! reports everything back in one request. Messages are always acked: the
//! job's lease, not the queue's retry, hands out again what went missing.

use std::rc::Rc;

use fanout_shared::engine::retry::SplitMix64;
use fanout_shared::engine::runner::Runner;
use fanout_shared::input::target::TargetPolicy;
use fanout_shared::jobs::consumer::BatchRun;
use fanout_shared::jobs::protocol::{BatchMessage, ClaimAnswer};
use futures::StreamExt;
use worker::{Env, MessageBatch, Method, console_error};

use crate::clock::{EdgeClock, Sleep, unix_ms};
use crate::context::Settings;
use crate::fetch::{EdgeFetcher, InFlight};
use crate::jobs::ask;

/// How often a running batch asks whether to go on.
const ALIVE_EVERY_MS: u64 = 1000;

/// Run every message of `batch`, side by side, then ack them all.
pub async fn consume(batch: MessageBatch<BatchMessage>, env: Env) -> worker::Result<()> {
    let settings = Settings::from_env(&env);
    let messages = batch.messages()?;
    let runs = messages.iter().map(|m| run_batch(m.body().clone(), &env, &settings));
    futures::future::join_all(runs).await;
    batch.ack_all();
    Ok(())
}

async fn claim(env: &Env, msg: &BatchMessage, path: &str, method: Method) -> Option<ClaimAnswer> {
    let mut resp = ask(env, &msg.job_id, method, &format!("{path}?batch={}", msg.batch), None).await.ok()?;
    resp.json::<ClaimAnswer>().await.ok()
}

async fn run_batch(msg: BatchMessage, env: &Env, settings: &Settings) {
    let Some(answer) = claim(env, &msg, "/claim", Method::Post).await else {
        console_error!("job {}: batch {} could not be claimed", msg.job_id, msg.batch);
        return;
    };
    if !answer.go {
        return;
    }
    let own_origin = msg.own_origin.as_deref().and_then(|o| url::Url::parse(o).ok());
    let Some(own_origin) = own_origin else { return };
    let fetcher = EdgeFetcher {
        own_origin,
        max_body_bytes: settings.limits.max_body_bytes,
        in_flight: Rc::new(InFlight::default()),
        extract: msg.options.extract,
        policy: TargetPolicy::from_limits(&settings.limits),
        demo_robots_status: settings.demo_robots_status,
    };
    let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
    let started = unix_ms();
    let mut runner = Runner::new(BatchRun::new(&msg, Box::new(SplitMix64::new(seed))), fetcher, EdgeClock::start());
    let mut cancel = runner.cancel_handle();
    {
        let drive = async { while runner.next().await.is_some() {} };
        let watch = async {
            loop {
                Sleep::new(ALIVE_EVERY_MS).await;
                match claim(env, &msg, "/alive", Method::Get).await {
                    Some(a) if !a.go => {
                        cancel.cancel();
                        break;
                    }
                    _ => {}
                }
            }
        };
        futures::pin_mut!(drive, watch);
        if let futures::future::Either::Right(((), drive)) = futures::future::select(drive, watch).await {
            // Told to stop: the run cancels and ends by itself.
            drive.await;
        }
    }
    let report = runner.machine_mut().take_report(started);
    let body = match serde_json::to_string(&report) {
        Ok(b) => b,
        Err(e) => {
            console_error!("job {}: encoding a report: {e}", msg.job_id);
            return;
        }
    };
    if let Err(e) = ask(env, &msg.job_id, Method::Post, "/report", Some(body)).await {
        console_error!("job {}: batch {} report failed: {}", msg.job_id, msg.batch, e.message);
    }
}
