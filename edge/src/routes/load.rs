//! `POST /api/v1/load`: one URL requested over and over at a concurrency,
//! streamed as periodic snapshots (`fanout_shared::load`).

use std::rc::Rc;

use fanout_shared::engine::lanes::{Lanes, lanes_for};
use fanout_shared::load::engine::{LoadEngine, LoadRunner};
use fanout_shared::load::plan::parse_load_request;
use fanout_shared::wire::protocol::ApiError;
use futures::StreamExt;
use worker::{Env, Request, Response, Result};

use crate::context::{Posted, Settings, accept, answer, ndjson_response};
use crate::platform::clock::EdgeClock;
use crate::platform::fetch::{EdgeProbe, InFlight, watch_disconnect};
use crate::platform::lanes::{Either, Pool, ShardProbe};

/// `POST /api/v1/load`: validate, then stream the load test's snapshots as NDJSON.
pub async fn load(mut req: Request, env: &Env, settings: &Settings) -> Result<Response> {
    answer(start_load(&mut req, env, settings).await)
}

async fn start_load(req: &mut Request, env: &Env, settings: &Settings) -> std::result::Result<Response, ApiError> {
    let Posted { own_origin, content_type, body } = accept(req, settings).await?;
    let plan = parse_load_request(content_type.as_deref(), &body, &settings.limits, Some(&own_origin))?;
    let per_lane = settings.limits.connections_per_invocation;
    // As a run: the test's concurrency over as many shards as it needs, six
    // connections each, timed in the shards; or all from here, six at a time.
    let probe = if plan.fan_out && per_lane > 0 {
        let lanes =
            Lanes::new(lanes_for(plan.concurrency, per_lane), per_lane, settings.limits.subrequests_per_invocation);
        let path = format!(
            "/lane?own={}&probe={}&method={}",
            js_sys::encode_uri_component(own_origin.as_str()),
            js_sys::encode_uri_component(plan.url.as_str()),
            plan.method.as_str()
        );
        let pool = Pool::new(env.clone(), lanes, path, settings.gate.clone());
        let weak = pool.weak();
        watch_disconnect(req.inner().signal(), move || weak.close());
        Either::Shards(ShardProbe { pool })
    } else {
        let in_flight = Rc::new(InFlight::default());
        let weak = Rc::downgrade(&in_flight);
        watch_disconnect(req.inner().signal(), move || {
            if let Some(f) = weak.upgrade() {
                f.abort_all();
            }
        });
        Either::Here(EdgeProbe {
            url: plan.url.clone(),
            method: plan.method,
            own_origin,
            max_body_bytes: settings.limits.max_body_bytes,
            in_flight,
            demo_robots_status: settings.demo_robots_status,
            gate: settings.gate.clone(),
        })
    };
    let runner = LoadRunner::new(LoadEngine::new(plan), probe, EdgeClock::start());
    ndjson_response(runner.map(|ev| ev.to_ndjson()))
}
