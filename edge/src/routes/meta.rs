//! `GET /api/v1/health` and `GET /api/v1/config`.

use fanout_shared::wire::protocol::{ConfigResponse, RunOptions};
use worker::{Response, Result};

use crate::context::{Settings, json_response};

/// `GET /api/v1/health`.
pub fn health() -> Result<Response> {
    json_response(200, &serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /api/v1/config`: limits and defaults in force.
pub fn config(settings: &Settings) -> Result<Response> {
    let body = ConfigResponse {
        limits: settings.limits.clone(),
        defaults: RunOptions::default(),
        token_required: settings.token.is_some(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    json_response(200, &body)
}
