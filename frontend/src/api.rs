//! HTTP helpers: the edge's config, and one chunk request's event stream.

use fanout_shared::load::{LoadEvent, LoadRequest};
use fanout_shared::ndjson::LineDecoder;
use fanout_shared::protocol::{ApiErrorBody, ConfigResponse, Event, RunRequest};
use futures::StreamExt;
use gloo_net::http::Request;
use wasm_bindgen::JsCast;

/// `GET /api/v1/config`.
pub async fn fetch_config() -> Result<ConfigResponse, String> {
    let resp = Request::get("/api/v1/config").send().await.map_err(|e| format!("cannot reach the edge: {e}"))?;
    if !resp.ok() {
        return Err(format!("GET /api/v1/config answered {}", resp.status()));
    }
    resp.json().await.map_err(|e| format!("unexpected config: {e}"))
}

/// The answer of `GET /api/v1/sitemap`.
#[derive(Debug, Clone, serde::Deserialize)]
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
    get_json(&format!("/api/v1/sitemap?url={query}"), "sitemap").await
}

/// `GET path` and decode its JSON answer; errors name `what` was asked for
/// and, for a refusal, the edge's own error kind and message.
pub async fn get_json<T: serde::de::DeserializeOwned>(path: &str, what: &str) -> Result<T, String> {
    let resp = Request::get(path).send().await.map_err(|e| format!("cannot reach the edge: {e}"))?;
    if !resp.ok() {
        return Err(format!("{what}: {}", refusal(resp).await));
    }
    resp.json().await.map_err(|e| format!("unexpected {what} answer: {e}"))
}

/// A non-2xx answer for people: status, and the edge's error kind and
/// message when the body is the API's error JSON.
async fn refusal(resp: gloo_net::http::Response) -> String {
    let status = resp.status();
    match resp.json::<ApiErrorBody>().await {
        Ok(b) => format!("{} ({}): {}", status, b.error.kind, b.error.message),
        Err(_) => format!("the edge answered {status}"),
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
