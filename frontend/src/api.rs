//! HTTP helpers: the edge's config, and one chunk request's event stream.

use fanout_shared::config::Limits;
use fanout_shared::load::{LoadEvent, LoadRequest};
use fanout_shared::ndjson::LineDecoder;
use fanout_shared::protocol::{Event, RunRequest};
use futures::StreamExt;
use gloo_net::http::Request;
use wasm_bindgen::JsCast;

use crate::json::Json;

/// `GET path` and parse its JSON answer in the browser (see [`crate::json`]);
/// errors name `what` was asked for and, for a refusal, the edge's own error
/// kind and message.
async fn get_parsed(path: &str, what: &str) -> Result<Json, String> {
    let resp = Request::get(path).send().await.map_err(|e| format!("cannot reach the edge: {e}"))?;
    if !resp.ok() {
        return Err(format!("{what}: {}", refusal(resp).await));
    }
    let text = resp.text().await.map_err(|e| format!("{what}: the answer broke off: {e}"))?;
    Json::parse(&text).map_err(|e| format!("unexpected {what} answer: {e}"))
}

/// The limits of `GET /api/v1/config`.
pub async fn fetch_limits() -> Result<Limits, String> {
    let config = get_parsed("/api/v1/config", "config").await?;
    let l = config.get("limits");
    let read = || -> Result<Limits, String> {
        Ok(Limits {
            max_urls_per_request: l.whole32("max_urls_per_request")?,
            max_concurrency: l.whole32("max_concurrency")?,
            max_attempts: l.whole32("max_attempts")?,
            max_timeout_ms: l.whole("max_timeout_ms")?,
            max_deadline_ms: l.whole("max_deadline_ms")?,
            max_backoff_ms: l.whole("max_backoff_ms")?,
            max_request_bytes: l.whole("max_request_bytes")?,
            max_body_bytes: l.whole("max_body_bytes")?,
            max_load_requests: l.whole("max_load_requests")?,
            max_load_duration_ms: l.whole("max_load_duration_ms")?,
            max_load_concurrency: l.whole32("max_load_concurrency")?,
            allow_private_targets: l.flag("allow_private_targets")?,
            allowed_hosts: l.texts("allowed_hosts").unwrap_or_default(),
        })
    };
    read().map_err(|e| format!("unexpected config: limits: {e}"))
}

/// The answer of `GET /api/v1/sitemap`.
#[derive(Debug, Clone)]
pub struct SitemapUrls {
    /// Page URLs found.
    pub urls: Vec<String>,
    /// Sitemap files read (indexes included).
    pub sitemaps: u32,
    /// Whether a limit cut the list short.
    pub truncated: bool,
    /// Files that could not be read.
    pub errors: Vec<String>,
}

/// `GET /api/v1/sitemap?url=…`: the edge fetches the sitemap (and the
/// sitemaps an index points at) and answers with the page URLs.
pub async fn fetch_sitemap(url: &str) -> Result<SitemapUrls, String> {
    let query = String::from(js_sys::encode_uri_component(url));
    let found = get_parsed(&format!("/api/v1/sitemap?url={query}"), "sitemap").await?;
    let read = || -> Result<SitemapUrls, String> {
        Ok(SitemapUrls {
            urls: found.texts("urls")?,
            sitemaps: found.whole32("sitemaps")?,
            truncated: found.flag("truncated")?,
            errors: found.texts("errors")?,
        })
    };
    read().map_err(|e| format!("unexpected sitemap answer: {e}"))
}

/// `GET path` and decode its JSON answer with serde; errors name `what` was
/// asked for and, for a refusal, the edge's own error kind and message.
pub async fn get_json<T: serde::de::DeserializeOwned>(path: &str, what: &str) -> Result<T, String> {
    let resp = Request::get(path).send().await.map_err(|e| format!("cannot reach the edge: {e}"))?;
    if !resp.ok() {
        return Err(format!("{what}: {}", refusal(resp).await));
    }
    resp.json().await.map_err(|e| format!("unexpected {what} answer: {e}"))
}

/// A non-2xx answer for people: status, and the edge's error kind and
/// message when the body is the API's error JSON (`{"error": {"kind", "message"}}`).
async fn refusal(resp: gloo_net::http::Response) -> String {
    let status = resp.status();
    let body = resp.text().await.ok().and_then(|t| Json::parse(&t).ok());
    let error = body.as_ref().map(|b| b.get("error"));
    match error.map(|e| (e.text("kind"), e.text("message"))) {
        Some((Ok(kind), Ok(message))) => format!("{status} ({kind}): {message}"),
        _ => format!("the edge answered {status}"),
    }
}

/// Why a chunk request ended early.
pub enum ChunkError {
    /// The edge refused the request (4xx/5xx with the JSON error body).
    Rejected(String),
    /// The connection failed or the stream broke.
    Broken(String),
}

/// Post one chunk and call `on_event` for every event as its line arrives.
/// The request is aborted through `signal`: dropping the future alone would
/// leave the fetch running.
pub async fn run_chunk(
    req: &RunRequest,
    signal: &web_sys::AbortSignal,
    on_event: impl FnMut(Event),
) -> Result<(), ChunkError> {
    post_ndjson("/api/v1/runs", req, signal, on_event).await
}

/// Post one load-test segment and call `on_event` for every snapshot.
pub async fn run_load(
    req: &LoadRequest,
    signal: &web_sys::AbortSignal,
    on_event: impl FnMut(LoadEvent),
) -> Result<(), ChunkError> {
    post_ndjson("/api/v1/load", req, signal, on_event).await
}

/// Post `body` as JSON to `path` and decode the NDJSON answer line by line.
async fn post_ndjson<T: serde::de::DeserializeOwned>(
    path: &str,
    body: &impl serde::Serialize,
    signal: &web_sys::AbortSignal,
    mut on_event: impl FnMut(T),
) -> Result<(), ChunkError> {
    let resp = Request::post(path)
        .abort_signal(Some(signal))
        .json(body)
        .map_err(|e| ChunkError::Broken(e.to_string()))?
        .send()
        .await
        .map_err(|e| ChunkError::Broken(e.to_string()))?;
    if !resp.ok() {
        return Err(ChunkError::Rejected(refusal(resp).await));
    }
    let Some(body) = resp.body() else {
        return Err(ChunkError::Broken("empty response".into()));
    };
    let mut stream = wasm_streams::ReadableStream::from_raw(body.unchecked_into()).into_stream();
    let mut lines = LineDecoder::new();
    let decode = |line: String, on_event: &mut dyn FnMut(T)| match serde_json::from_str::<T>(&line) {
        Ok(ev) => on_event(ev),
        Err(e) => web_sys::console::warn_1(&format!("skipping an undecodable line: {e}").into()),
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ChunkError::Broken(format!("{e:?}")))?;
        let bytes = js_sys::Uint8Array::new(&chunk).to_vec();
        for line in lines.push(&bytes) {
            decode(line, &mut on_event);
        }
    }
    if let Some(line) = lines.finish() {
        decode(line, &mut on_event);
    }
    Ok(())
}
