//! The shell's half of the fan-out: [`EdgeFetcher`] implements
//! `fanout_shared::engine::runner::Fetcher` with Workers primitives (the clock
//! is in `crate::clock`), and [`EdgeProbe`] the load test's probe.
//!
//! Each attempt gets its own `AbortController`; the runner calls
//! [`EdgeAbort::abort`] on timeout, deadline, cancel or client disconnect,
//! because dropping a `worker::Fetch` future does not stop the request.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::rc::Rc;

use fanout_shared::FetchError;
use fanout_shared::demo::ATTEMPT_HEADER;
use fanout_shared::engine::gate::Gate;
use fanout_shared::engine::retry::{is_success, parse_retry_after};
use fanout_shared::engine::revalidate;
use fanout_shared::engine::runner::{AbortAttempt, Fetcher, Progress};
use fanout_shared::engine::scheduler::{AttemptRequest, AttemptResult, Note, Response};
use fanout_shared::extract::Extractor;
use fanout_shared::input::target::TargetPolicy;
use fanout_shared::input::validation::is_own_demo_url;
use fanout_shared::load::engine::{Probe, ProbeOutcome};
use fanout_shared::load::protocol::LoadMethod;
use fanout_shared::wire::config::{MAX_LINKS_PER_PAGE, MAX_REDIRECTS};
use fanout_shared::wire::protocol::Validators;
use futures::future::LocalBoxFuture;
use futures::stream::LocalBoxStream;
use futures::{FutureExt, StreamExt};
use url::Url;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Method;

use crate::platform::clock::unix_ms;
use crate::routes::demo;

/// Sent with every upstream request, so site owners can see who is calling.
pub const USER_AGENT: &str = concat!("Fanout/", env!("CARGO_PKG_VERSION"), " (concurrent page fetcher)");

/// The abort controllers of a run's attempts still in flight.
///
/// The runner aborts attempts itself while it is polled. When the client
/// disconnects, nothing polls the response stream any more, so the
/// disconnect watcher (see `api::watch_disconnect`) aborts everything here
/// directly and marks the run gone, and no further attempt starts.
#[derive(Default)]
pub struct InFlight {
    controllers: RefCell<HashMap<u64, web_sys::AbortController>>,
    next: Cell<u64>,
    gone: Cell<bool>,
}

impl InFlight {
    fn register(&self, c: web_sys::AbortController) -> u64 {
        let key = self.next.get();
        self.next.set(key + 1);
        self.controllers.borrow_mut().insert(key, c);
        key
    }

    fn remove(&self, key: u64) -> Option<web_sys::AbortController> {
        self.controllers.borrow_mut().remove(&key)
    }

    /// The client went away: abort every request and start no more.
    pub fn abort_all(&self) {
        self.gone.set(true);
        let all: Vec<_> = self.controllers.borrow_mut().drain().map(|(_, c)| c).collect();
        for c in all {
            c.abort();
        }
    }
}

/// Call `on_gone` when the client of this request disconnects.
///
/// Dropping the response stream would stop a run through its runner, but
/// a disconnected client stops pulling the stream without it being dropped
/// promptly, so the request's own `AbortSignal` (compatibility flag
/// `enable_request_signal`) is watched instead. `on_gone` should hold only
/// weak handles: a finished run is not kept alive by its watcher.
pub fn watch_disconnect(signal: web_sys::AbortSignal, on_gone: impl FnOnce() + 'static) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = signal.add_event_listener_with_callback("abort", &resolve);
    });
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        on_gone();
    });
}

/// Aborts one attempt's upstream request.
pub struct EdgeAbort {
    key: Option<u64>,
    in_flight: Rc<InFlight>,
}

impl AbortAttempt for EdgeAbort {
    fn abort(self) {
        if let Some(c) = self.key.and_then(|k| self.in_flight.remove(k)) {
            c.abort();
        }
    }
}

/// Fetches attempts with `worker::Fetch`, or in-process for the edge's own
/// demo pages.
pub struct EdgeFetcher {
    /// The edge's own origin; its `/demo/` URLs are served in-process.
    pub own_origin: Url,
    /// Body cap in bytes.
    pub max_body_bytes: u64,
    /// Controllers of attempts in flight, shared with the disconnect watcher.
    pub in_flight: Rc<InFlight>,
    /// Extract product data from HTML bodies as they stream in.
    pub extract: bool,
    /// The target rules, checked again at every redirect hop.
    pub policy: TargetPolicy,
    /// What the demo shop's `/robots.txt` answers (`DEMO_ROBOTS_STATUS`).
    pub demo_robots_status: u16,
    /// The invocation's connections.
    pub gate: Gate,
}

/// Most of a text answer (robots.txt) read: RFC 9309 asks crawlers to
/// parse at least 500 KiB, and the parser stops there.
const MAX_TEXT_BYTES: u64 = 512 * 1024;

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// One response's parts, whichever way it was obtained.
struct Upstream {
    /// Where the body came from (after redirects): links resolve against it.
    url: Url,
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    /// `ETag` / `Last-Modified`, kept with a successful answer.
    validators: Option<Validators>,
    body: LocalBoxStream<'static, Result<Vec<u8>, FetchError>>,
}

/// Request `url` and wait for its headers, holding one of the invocation's
/// connections (`gate`) meanwhile; `sent` is called once the request has
/// its connection and goes out.
#[allow(clippy::too_many_arguments)]
async fn fetch_upstream(
    url: Url,
    method: Method,
    attempt: u32,
    signal: Option<web_sys::AbortSignal>,
    max_body: u64,
    gate: &Gate,
    conditional: &[(&str, &str)],
    sent: &dyn Fn(),
) -> Result<Upstream, FetchError> {
    let headers = web_sys::Headers::new().map_err(js_network)?;
    // Only these headers: no cookies, no Authorization, no client IP; and
    // a revalidation's validators.
    headers.set("user-agent", USER_AGENT).map_err(js_network)?;
    headers.set("accept", "text/html,application/xhtml+xml,*/*;q=0.8").map_err(js_network)?;
    headers.set(ATTEMPT_HEADER, &attempt.to_string()).map_err(js_network)?;
    for (name, value) in conditional {
        headers.set(name, value).map_err(js_network)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    init.set_headers(&headers);
    // Redirects are followed by the attempt loop, so every hop is checked.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(signal.as_ref());
    let request = web_sys::Request::new_with_str_and_init(url.as_str(), &init)
        .map_err(|e| FetchError::InvalidUrl(js_text(&e)))?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    // Held until the headers come: reading the body holds no connection.
    let permit = gate.acquire().await;
    sent();
    let resp: web_sys::Response =
        JsFuture::from(global.fetch_with_request(&request)).await.map_err(js_network)?.unchecked_into();
    permit.release();
    let status = resp.status();
    let h = resp.headers();
    let header = |name: &str| h.get(name).ok().flatten();
    let (retry_after, content_type, location) = (header("retry-after"), header("content-type"), header("location"));
    let validators = Validators::from_headers(header("etag"), header("last-modified"));
    let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let body = match declared {
        // No body to read.
        _ if method == Method::Head => futures::stream::empty().boxed_local(),
        // A body whose declared length is within the cap is read whole, in
        // one call: the runtime cannot deliver more than it declared, and
        // one `arrayBuffer()` costs the isolate far less than a stream
        // reader's `read()` per chunk (BENCHMARKS.md, the isolate's CPU).
        Some(len) if len <= max_body => {
            let whole = resp.array_buffer().map_err(js_network)?;
            futures::stream::once(async move {
                let buf = JsFuture::from(whole).await.map_err(js_network)?;
                Ok(js_sys::Uint8Array::new(&buf).to_vec())
            })
            .boxed_local()
        }
        // Unknown or too long: streamed, so the cap can stop the download.
        _ => match resp.body() {
            Some(b) => chunks(b),
            // No body at all (204): an empty stream.
            None => futures::stream::empty().boxed_local(),
        },
    };
    Ok(Upstream { url, status, retry_after, content_type, location, validators, body })
}

/// A body's chunks, read with one reader until it is done.
///
/// `worker`'s `ByteStream` (wasm-streams) does the same with more machinery
/// and releases its reader's lock when dropped; that `releaseLock` call was
/// among the largest costs in the isolate's profile. This reader is never
/// released: the body is read to its end, or the download is aborted
/// through the request's controller, and the reader goes with it.
fn chunks(body: web_sys::ReadableStream) -> LocalBoxStream<'static, Result<Vec<u8>, FetchError>> {
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    futures::stream::unfold(Some(reader), |reader| async move {
        let reader = reader?;
        match JsFuture::from(reader.read()).await {
            Err(e) => Some((Err(js_network(e)), None)),
            Ok(v) => {
                let read: web_sys::ReadableStreamReadResult = v.unchecked_into();
                if read.get_done().unwrap_or(true) {
                    return None;
                }
                Some((Ok(js_sys::Uint8Array::new(&read.get_value()).to_vec()), Some(reader)))
            }
        }
    })
    .boxed_local()
}

/// A JS exception's message, or its string form.
fn js_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn js_network(e: JsValue) -> FetchError {
    FetchError::Network(js_text(&e))
}

async fn fetch_demo(url: Url, attempt: u32, robots_status: u16, conditional: &[(&str, &str)]) -> Upstream {
    let if_none_match = conditional.iter().find(|(k, _)| *k == "if-none-match").map(|(_, v)| *v);
    let reply = demo::reply(&url, attempt, unix_ms(), robots_status, if_none_match).await;
    let header = |name: &str| reply.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let (retry_after, content_type, location) = (header("retry-after"), header("content-type"), header("location"));
    let validators = Validators::from_headers(header("etag"), header("last-modified"));
    let body = reply.body.map(Ok).boxed_local();
    Upstream { url, status: reply.status, retry_after, content_type, location, validators, body }
}

/// Where an upstream request goes and under which rules: the edge's own
/// origin (its demo pages are served in-process, exempt from the target
/// rules and holding no connection), the rules checked at every hop, the
/// invocation's connections, and what the demo shop's robots.txt answers.
struct Route<'a> {
    own: &'a Url,
    policy: &'a TargetPolicy,
    gate: &'a Gate,
    robots_status: u16,
}

/// Fetch `url`, following redirects here rather than in the runtime, so
/// that every hop is checked against the route's policy (the edge's own demo
/// pages are served in-process and exempt). A loop or more than
/// [`MAX_REDIRECTS`] hops is an error. `conditional` (a revalidation's
/// validators) goes with every hop: they belong to the page at the end of
/// the redirects. `sent` is called once, when the first request goes out.
async fn fetch_following(
    url: Url,
    attempt: u32,
    route: &Route<'_>,
    signal: Option<web_sys::AbortSignal>,
    max_body: u64,
    conditional: &[(&str, &str)],
    sent: &dyn Fn(),
) -> Result<Upstream, FetchError> {
    let (own, policy) = (route.own, route.policy);
    let mut current = url;
    let mut seen = HashSet::from([current.to_string()]);
    let mut hops = 0;
    let first = Cell::new(true);
    let once = || {
        if first.replace(false) {
            sent();
        }
    };
    loop {
        let up = if is_own_demo_url(&current, Some(own)) {
            once();
            fetch_demo(current.clone(), attempt, route.robots_status, conditional).await
        } else {
            fetch_upstream(
                current.clone(),
                Method::Get,
                attempt,
                signal.clone(),
                max_body,
                route.gate,
                conditional,
                &once,
            )
            .await?
        };
        let Some(location) = up.location.as_deref().filter(|_| is_redirect(up.status)) else { return Ok(up) };
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(FetchError::TooManyRedirects { hops: MAX_REDIRECTS, looped: false });
        }
        let next =
            current.join(location).map_err(|e| FetchError::InvalidUrl(format!("redirect to {location:?}: {e}")))?;
        if !seen.insert(next.to_string()) {
            return Err(FetchError::TooManyRedirects { hops, looped: true });
        }
        // Every hop is checked again: a public URL must not lead into a private one.
        if !is_own_demo_url(&next, Some(own)) {
            policy.check(&next)?;
        }
        current = next;
    }
}

impl Upstream {
    /// Read the body to its end, handing each chunk to `each`. Past
    /// `max` bytes the download itself is stopped through `controller` (not
    /// just our reading of it) and the answer is `body_too_large`.
    async fn read_body(
        &mut self,
        max: u64,
        controller: Option<&web_sys::AbortController>,
        mut each: impl FnMut(&[u8]),
    ) -> Result<u64, FetchError> {
        let mut bytes = 0u64;
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            if bytes > max {
                if let Some(c) = controller {
                    c.abort();
                }
                return Err(FetchError::BodyTooLarge { limit: max });
            }
            each(&chunk);
        }
        Ok(bytes)
    }

    /// Read at most `max` bytes of the body (then stop the download) and
    /// keep them: a text answer, whose rest is not needed.
    async fn read_prefix(
        &mut self,
        max: u64,
        controller: Option<&web_sys::AbortController>,
    ) -> Result<Vec<u8>, FetchError> {
        let mut kept = Vec::new();
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk?;
            let room = usize::try_from(max).unwrap_or(usize::MAX).saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if kept.len() as u64 >= max {
                if let Some(c) = controller {
                    c.abort();
                }
                break;
            }
        }
        Ok(kept)
    }
}

/// Fetch a small text document (a sitemap) under the same rules as a run's
/// pages: target checks on every hop and a byte cap.
pub async fn fetch_text(
    url: Url,
    own: &Url,
    policy: &TargetPolicy,
    max_bytes: u64,
    robots_status: u16,
    gate: &Gate,
) -> Result<(u16, String), FetchError> {
    if !is_own_demo_url(&url, Some(own)) {
        policy.check(&url)?;
    }
    let route = Route { own, policy, gate, robots_status };
    let mut up = fetch_following(url, 1, &route, None, max_bytes, &[], &|| ()).await?;
    let mut body = Vec::new();
    up.read_body(max_bytes, None, |c| body.extend_from_slice(c)).await?;
    Ok((up.status, String::from_utf8_lossy(&body).into_owned()))
}

impl Fetcher for EdgeFetcher {
    type Attempt = LocalBoxFuture<'static, AttemptResult>;
    type Abort = EdgeAbort;

    fn start(&self, req: &AttemptRequest, progress: Progress) -> (Self::Attempt, EdgeAbort) {
        let own = self.own_origin.clone();
        let policy = self.policy.clone();
        let gate = self.gate.clone();
        let max = self.max_body_bytes;
        let want_product = self.extract;
        let robots_status = self.demo_robots_status;
        let (url, attempt, want_links, want_text) = (req.url.clone(), req.attempt, req.links, req.text);
        let prior = req.prior.clone();
        tracked(&self.in_flight, move |ctl| async move {
            if ctl.gone {
                return Err(FetchError::Network("the client went away".into()));
            }
            let url = Url::parse(&url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
            // robots.txt: the text itself, its first 512 KiB at most; the
            // fetch is told the cap that will be read, so a longer body is
            // streamed and stopped there rather than downloaded whole.
            let cap = if want_text { MAX_TEXT_BYTES.min(max) } else { max };
            let route = Route { own: &own, policy: &policy, gate: &gate, robots_status };
            let sent = || progress.note(Note::Sent);
            let conditional = prior.as_ref().map(|p| p.headers()).unwrap_or_default();
            let mut up = fetch_following(url, attempt, &route, ctl.signal, cap, &conditional, &sent).await?;
            progress.note(Note::Headers);
            // Unchanged since its last saved answer: nothing to download
            // or extract, the saved product goes forward.
            if let Some(prior) = prior.as_deref().filter(|_| up.status == 304) {
                return Ok(revalidate::unchanged(prior, up.validators.take()));
            }
            if want_text {
                let text = up.read_prefix(cap, ctl.controller.as_ref()).await?;
                let bytes = text.len() as u64;
                let text = Some(String::from_utf8_lossy(&text).into_owned());
                return Ok(Response { status: up.status, bytes, text, ..Response::default() });
            }
            // Only successful HTML answers are worth parsing; the extractor
            // sees each chunk as it arrives and never the whole body at once.
            // Products and links come out of the same pass.
            let html = up.content_type.as_deref().is_none_or(|t| t.to_ascii_lowercase().contains("html"));
            let links = want_links.then_some(MAX_LINKS_PER_PAGE);
            let mut extractor = ((want_product || want_links) && is_success(up.status) && html)
                .then(|| Extractor::with(want_product, links));
            let bytes = up
                .read_body(max, ctl.controller.as_ref(), |c| {
                    if let Some(x) = extractor.as_mut() {
                        x.feed(c);
                    }
                })
                .await?;
            let retry_after_ms = up.retry_after.and_then(|v| parse_retry_after(&v, unix_ms()));
            let facts = extractor.map(|x| x.finish_page(Some(&up.url))).unwrap_or_default();
            Ok(Response {
                status: up.status,
                bytes,
                retry_after_ms,
                product: facts.product,
                links: facts.links,
                text: None,
                validators: up.validators.filter(|_| is_success(up.status)),
                ..Response::default()
            })
        })
    }
}

/// What a request started under an [`InFlight`] registry gets: its signal,
/// its controller, and whether the client had already gone.
struct RequestControl {
    signal: Option<web_sys::AbortSignal>,
    controller: Option<web_sys::AbortController>,
    gone: bool,
}

/// Start the request `make` builds with its own `AbortController`,
/// registered in `in_flight` (so a client disconnect aborts it) until it
/// ends; the returned handle aborts it early.
fn tracked<T: 'static, F: Future<Output = T> + 'static>(
    in_flight: &Rc<InFlight>,
    make: impl FnOnce(RequestControl) -> F,
) -> (LocalBoxFuture<'static, T>, EdgeAbort) {
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(web_sys::AbortController::signal);
    let gone = in_flight.gone.get();
    let key = controller.clone().map(|c| in_flight.register(c));
    let registry = in_flight.clone();
    let fut = make(RequestControl { signal, controller, gone }).map(move |result| {
        if let Some(k) = key {
            registry.remove(k);
        }
        result
    });
    (fut.boxed_local(), EdgeAbort { key, in_flight: in_flight.clone() })
}

/// Requests a load test's one URL (see `fanout_shared::load::engine`): no redirects
/// followed, no extraction, the body read to its end and counted.
pub struct EdgeProbe {
    /// The target, already checked against the target rules.
    pub url: Url,
    /// GET or HEAD.
    pub method: LoadMethod,
    /// The edge's own origin; its `/demo/` URLs are served in-process.
    pub own_origin: Url,
    /// Body cap in bytes.
    pub max_body_bytes: u64,
    /// Controllers of requests in flight, shared with the disconnect watcher.
    pub in_flight: Rc<InFlight>,
    /// What the demo shop's `/robots.txt` answers (`DEMO_ROBOTS_STATUS`).
    pub demo_robots_status: u16,
    /// The invocation's connections.
    pub gate: Gate,
}

impl Probe for EdgeProbe {
    type Fut = LocalBoxFuture<'static, Result<ProbeOutcome, FetchError>>;
    type Abort = EdgeAbort;

    fn start(&self, _id: u64) -> (Self::Fut, EdgeAbort) {
        let (url, method, max, robots) = (self.url.clone(), self.method, self.max_body_bytes, self.demo_robots_status);
        let demo = is_own_demo_url(&url, Some(&self.own_origin));
        let gate = self.gate.clone();
        tracked(&self.in_flight, move |ctl| async move {
            if ctl.gone {
                return Err(FetchError::Network("the client went away".into()));
            }
            // Timed from when the request goes out: a wait for one of the
            // invocation's connections is not the target's latency.
            let went_out = Cell::new(js_sys::Date::now());
            let sent = || went_out.set(js_sys::Date::now());
            let mut up = if demo {
                fetch_demo(url, 1, robots, &[]).await
            } else {
                let m = if method == LoadMethod::Head { Method::Head } else { Method::Get };
                fetch_upstream(url, m, 1, ctl.signal, max, &gate, &[], &sent).await?
            };
            let bytes =
                if method == LoadMethod::Get { up.read_body(max, ctl.controller.as_ref(), |_| {}).await? } else { 0 };
            let latency_us = ((js_sys::Date::now() - went_out.get()).max(0.0) * 1000.0) as u64;
            Ok(ProbeOutcome::Answered { status: up.status, bytes, latency_us: Some(latency_us) })
        })
    }
}
