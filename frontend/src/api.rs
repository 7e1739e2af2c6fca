//! HTTP helpers: the edge's config, one chunk request's event stream, and
//! background jobs (create, status, list, cancel, follow).

use fanout_shared::load::protocol::{LoadEvent, LoadRequest};
use fanout_shared::wire::config::Limits;
use fanout_shared::wire::jobs::{JobList, JobStatus};
use fanout_shared::wire::json::{JsonValue, Read, req_bool, req_strings, req_u32};
use fanout_shared::wire::ndjson::LineDecoder;
use fanout_shared::wire::protocol::{ApiError, Event, RunRequest};
use gloo_net::http::Request;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::json::{FullJson, Json, JsonWith};

/// A JavaScript exception for people: an `Error`'s name and message, or the
/// thrown value as a string. (Not `{:?}`, whose debug printer is code of
/// its own in the wasm and the JS glue.)
pub(crate) fn js_error(e: &wasm_bindgen::JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => format!("{}: {}", String::from(err.name()), String::from(err.message())),
        None => e.as_string().unwrap_or_else(|| "an unknown error".to_owned()),
    }
}

/// `b` with the API token this browser keeps, if any.
pub(crate) fn authed(b: gloo_net::http::RequestBuilder) -> gloo_net::http::RequestBuilder {
    match crate::page::api_token() {
        Some(t) => b.header("authorization", &format!("Bearer {t}")),
        None => b,
    }
}

/// A failed fetch for people, e.g. `TypeError: Failed to fetch`. (gloo's own
/// `Display` would also bring serde_json's error texts into the wasm.)
fn describe(e: gloo_net::Error) -> String {
    match e {
        gloo_net::Error::JsError(j) => format!("{}: {}", j.name, j.message),
        gloo_net::Error::SerdeError(_) => "the request could not be written as JSON".to_owned(),
        gloo_net::Error::GlooError(m) => m,
    }
}

/// `GET path`, for a 2xx answer; errors name `what` was asked for and, for
/// a refusal, the edge's own error kind and message.
async fn get_ok(path: &str, what: &str) -> Result<gloo_net::http::Response, String> {
    let resp =
        authed(Request::get(path)).send().await.map_err(|e| format!("cannot reach the edge: {}", describe(e)))?;
    if !resp.ok() {
        return Err(format!("{what}: {}", refusal(resp).await));
    }
    Ok(resp)
}

/// `GET path` and parse its JSON answer in the browser (see [`crate::json`]).
async fn get_parsed(path: &str, what: &str) -> Result<Json, String> {
    get_parsed_with(path, what).await
}

async fn get_parsed_with<const DETAIL: bool>(path: &str, what: &str) -> Result<JsonWith<DETAIL>, String> {
    let resp = get_ok(path, what).await?;
    let text = resp.text().await.map_err(|e| format!("{what}: the answer broke off: {}", describe(e)))?;
    JsonWith::<DETAIL>::parse(&text).map_err(|e| format!("unexpected {what} answer: {e}"))
}

/// The limits of `GET /api/v1/config`; `DETAIL`: the crawl and job limits
/// too (the dashboard leaves them out).
pub async fn fetch_limits<const DETAIL: bool>() -> Result<Limits, String> {
    let config = get_parsed_with::<DETAIL>("/api/v1/config", "config").await?;
    Limits::from_config(&config).map_err(|e| format!("unexpected config: {e}"))
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
    let read = || -> Read<SitemapUrls> {
        Ok(SitemapUrls {
            urls: req_strings(&found, "urls")?,
            sitemaps: req_u32(&found, "sitemaps")?,
            truncated: req_bool(&found, "truncated")?,
            errors: req_strings(&found, "errors")?,
        })
    };
    read().map_err(|e| format!("unexpected sitemap answer: {e}"))
}

/// `GET path` and decode its JSON answer with serde (the history page's
/// answer types).
pub async fn get_json<T: serde::de::DeserializeOwned>(path: &str, what: &str) -> Result<T, String> {
    get_ok(path, what).await?.json().await.map_err(|e| format!("unexpected {what} answer: {e}"))
}

/// A non-2xx answer for people: status, and the edge's error kind and
/// message when the body is the API's error JSON (`{"error": {"kind", "message"}}`).
async fn refusal(resp: gloo_net::http::Response) -> String {
    let status = resp.status();
    let body = resp.text().await.ok().and_then(|t| Json::parse(&t).ok());
    match body.map(|b| ApiError::from_body(&b)) {
        Some(Ok(e)) => format!("{status} ({}): {}", e.kind, e.message),
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
/// leave the fetch running. `DETAIL`: whether the summary's statistics and
/// crawl report are read (a page that folds its own skips them).
pub async fn run_chunk<const DETAIL: bool>(
    req: &RunRequest,
    signal: &web_sys::AbortSignal,
    on_event: impl FnMut(Event),
) -> Result<(), ChunkError> {
    let decode =
        |line: &str| JsonWith::<DETAIL>::parse(line).and_then(|j| Event::from_json(&j).map_err(|e| e.to_string()));
    post_ndjson("/api/v1/runs", req, signal, decode, on_event).await
}

/// Post one load-test segment and call `on_event` for every snapshot.
pub async fn run_load(
    req: &LoadRequest,
    signal: &web_sys::AbortSignal,
    on_event: impl FnMut(LoadEvent),
) -> Result<(), ChunkError> {
    let decode = |line: &str| Json::parse(line).and_then(|j| LoadEvent::from_json(&j).map_err(|e| e.to_string()));
    post_ndjson("/api/v1/load", req, signal, decode, on_event).await
}

/// Post `body` as JSON to `path` and read the NDJSON answer line by line,
/// each line read by `decode`.
async fn post_ndjson<T>(
    path: &str,
    body: &impl serde::Serialize,
    signal: &web_sys::AbortSignal,
    decode: impl Fn(&str) -> Result<T, String>,
    on_event: impl FnMut(T),
) -> Result<(), ChunkError> {
    let resp = authed(Request::post(path))
        .abort_signal(Some(signal))
        .json(body)
        .map_err(|e| ChunkError::Broken(describe(e)))?
        .send()
        .await
        .map_err(|e| ChunkError::Broken(describe(e)))?;
    read_ndjson(resp, decode, on_event).await
}

/// Read an NDJSON answer line by line, each line read by `decode`.
async fn read_ndjson<T>(
    resp: gloo_net::http::Response,
    decode: impl Fn(&str) -> Result<T, String>,
    mut on_event: impl FnMut(T),
) -> Result<(), ChunkError> {
    if !resp.ok() {
        return Err(ChunkError::Rejected(refusal(resp).await));
    }
    let Some(body) = resp.body() else {
        return Err(ChunkError::Broken("empty response".into()));
    };
    // The body's own reader: `read()` resolves to `{done, value}` with a
    // `Uint8Array` chunk, and rejects when the request is aborted.
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut lines = LineDecoder::new();
    let decode = |line: String, on_event: &mut dyn FnMut(T)| match decode(&line) {
        Ok(ev) => on_event(ev),
        Err(e) => web_sys::console::warn_1(&format!("skipping an undecodable line: {e}").into()),
    };
    loop {
        let read = JsFuture::from(reader.read()).await.map_err(|e| ChunkError::Broken(js_error(&e)))?;
        let read = Json::from(read);
        if read.member("done").and_then(|d| d.as_bool()) != Some(false) {
            break;
        }
        let Some(chunk) = read.member("value") else { break };
        let bytes = js_sys::Uint8Array::new(chunk.as_ref()).to_vec();
        for line in lines.push(&bytes) {
            decode(line, &mut on_event);
        }
    }
    if let Some(line) = lines.finish() {
        decode(line, &mut on_event);
    }
    Ok(())
}

/// `POST /api/v1/jobs` with the run `req`: the new job's id.
pub async fn create_job(req: &RunRequest) -> Result<String, String> {
    let resp = authed(Request::post("/api/v1/jobs"))
        .json(req)
        .map_err(describe)?
        .send()
        .await
        .map_err(|e| format!("cannot reach the edge: {}", describe(e)))?;
    if !resp.ok() {
        return Err(format!("the job was refused: {}", refusal(resp).await));
    }
    let text = resp.text().await.map_err(describe)?;
    let created = Json::parse(&text)?;
    fanout_shared::wire::json::req_str(&created, "job_id").map_err(|e| e.to_string())
}

/// `GET /api/v1/jobs/{id}`.
pub async fn fetch_job(id: &str) -> Result<JobStatus, String> {
    let status = get_parsed(&format!("/api/v1/jobs/{id}"), "job").await?;
    JobStatus::from_json(&status).map_err(|e| format!("unexpected job status: {e}"))
}

/// `GET /api/v1/jobs`: the newest jobs.
pub async fn fetch_jobs(limit: u32) -> Result<JobList, String> {
    let list = get_parsed(&format!("/api/v1/jobs?limit={limit}"), "job list").await?;
    JobList::from_json(&list).map_err(|e| format!("unexpected job list: {e}"))
}

/// `POST /api/v1/jobs/{id}/cancel` (or `DELETE /api/v1/jobs/{id}` with `delete`).
pub async fn end_job(id: &str, delete: bool) -> Result<(), String> {
    let req = if delete {
        authed(Request::delete(&format!("/api/v1/jobs/{id}")))
    } else {
        authed(Request::post(&format!("/api/v1/jobs/{id}/cancel")))
    };
    let resp = req.send().await.map_err(|e| format!("cannot reach the edge: {}", describe(e)))?;
    if resp.ok() { Ok(()) } else { Err(refusal(resp).await) }
}

/// Follow job `id`'s events from `after` (`GET …/events?after=`): each
/// line's `seq` and event. Aborted through `signal`.
pub async fn follow_job(
    id: &str,
    after: u64,
    signal: &web_sys::AbortSignal,
    on_line: impl FnMut((u64, Event)),
) -> Result<(), ChunkError> {
    let resp = authed(Request::get(&format!("/api/v1/jobs/{id}/events?after={after}")))
        .abort_signal(Some(signal))
        .send()
        .await
        .map_err(|e| ChunkError::Broken(describe(e)))?;
    // The jobs page reads a job's summary whole (a crawl job's report).
    let decode = |line: &str| {
        let j = FullJson::parse(line)?;
        let seq = j.member("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        Event::from_json(&j).map(|e| (seq, e)).map_err(|e| e.to_string())
    };
    read_ndjson(resp, decode, on_line).await
}
