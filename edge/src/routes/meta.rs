//! `GET /api/v1/health`, `GET /api/v1/config` and `GET /api/v1/openapi.json`.

use fanout_shared::wire::protocol::{ConfigResponse, RunOptions};
use wasm_bindgen::JsCast;
use worker::{Headers, Response, Result};

use crate::context::{Settings, json_response};

/// `GET /api/v1/health`.
pub fn health() -> Result<Response> {
    // The isolate's wasm memory (its Rust heap): what a deployment's
    // invocations hold in it can be watched against the 128 MB an isolate
    // gets (the job memory benchmark samples it).
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let wasm_bytes = js_sys::ArrayBuffer::from(memory.buffer()).byte_length();
    json_response(
        200,
        &serde_json::json!({"ok": true, "version": env!("CARGO_PKG_VERSION"), "wasm_memory_bytes": wasm_bytes}),
    )
}

/// `GET /api/v1/config`: limits and defaults in force.
pub fn config(settings: &Settings) -> Result<Response> {
    let body = ConfigResponse {
        limits: settings.limits.clone(),
        defaults: RunOptions::default(),
        token_required: settings.token.is_some() || !settings.open_access,
        open_access: settings.token.is_none() && settings.open_access,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    json_response(200, &body)
}

/// The OpenAPI 3.1 document of the API, generated from the wire types by
/// `shared/tests/openapi.rs` (which fails when this copy is out of date),
/// stating the default limits.
const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json`: the document with this deployment's own
/// limits in its bounds (`fanout_shared::contract`), so what it allows is
/// what this edge takes.
pub fn openapi(settings: &Settings) -> Result<Response> {
    let doc = fanout_shared::contract::with_limits(OPENAPI, &settings.limits).map_err(|e| e.to_string())?;
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=300")?;
    headers.set("access-control-allow-origin", "*")?;
    Ok(Response::ok(doc)?.with_headers(headers))
}
