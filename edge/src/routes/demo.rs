//! The built-in demo shop, served under `/demo/`, and its `/robots.txt`.
//!
//! Pages and knobs come from `fanout_shared::demo`; this module only applies
//! them with Workers primitives (timers, streamed bodies). The same [`reply`]
//! serves both a browser's request and the fan-out's in-process fetch of a
//! demo URL: a deployed Worker cannot fetch its own hostname, and an
//! in-process call also spends no subrequest.

use fanout_shared::demo::site::{self, DEMO_CATEGORY_PATH, DEMO_PRIVATE_PATH};
use fanout_shared::demo::{self as catalogue, DEMO_PRODUCT_PATH, DemoKnobs};
use futures::StreamExt;
use futures::stream::{self, LocalBoxStream};
use url::Url;
use worker::{Headers, Response, Result};

use crate::platform::clock::Sleep;

/// How long a hanging page hangs: long enough to outlast any attempt timeout,
/// short enough that nothing lingers for ever.
const HANG_MS: u64 = 10 * 60 * 1000;
/// Pieces a dripping body is sent in.
const DRIP_PIECES: usize = 10;

/// A demo answer, before it becomes an HTTP response or an in-process body.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (content type included).
    pub headers: Vec<(&'static str, String)>,
    /// The body, in the pieces it is sent in.
    pub body: LocalBoxStream<'static, Vec<u8>>,
}

impl Reply {
    fn text(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: stream::once(async move { body.into_bytes() }).boxed_local(),
        }
    }

    fn json_error(status: u16, kind: &str, message: String) -> Self {
        let body = serde_json::json!({"error": {"kind": kind, "message": message}}).to_string();
        Self::text(status, "application/json", body)
    }

    /// As a Workers response, streamed.
    pub fn into_response(self) -> Result<Response> {
        let headers = Headers::new();
        for (k, v) in &self.headers {
            headers.set(k, v)?;
        }
        headers.set("cache-control", "no-store")?;
        // A 304 has no body, and the runtime refuses to make one with a stream.
        if self.status == 304 {
            return Ok(Response::empty()?.with_status(304).with_headers(headers));
        }
        let body = self.body.map(Ok::<Vec<u8>, worker::Error>);
        Ok(Response::from_stream(body)?.with_status(self.status).with_headers(headers))
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        Sleep::new(ms).await;
    }
}

/// Answer a demo URL. `attempt` comes from Fanout's attempt header (1 when
/// absent); `now_unix_ms` is the wall clock, for `Retry-After` dates;
/// `robots_status` is what `/robots.txt` answers (`DEMO_ROBOTS_STATUS`);
/// `if_none_match`, the request's, is answered `304` on a product page
/// whose `ETag` it names.
pub async fn reply(
    url: &Url,
    attempt: u32,
    now_unix_ms: u64,
    robots_status: u16,
    if_none_match: Option<&str>,
) -> Reply {
    let origin = url.origin().ascii_serialization();
    let path = url.path();
    let query = url.query().unwrap_or("");
    // The private pages take parameters of their own (`?add=7`), not knobs.
    if path.starts_with(DEMO_PRIVATE_PATH) {
        return Reply::text(200, "text/html; charset=utf-8", site::private_page(path));
    }
    let knobs = match DemoKnobs::parse(query) {
        Ok(k) => k,
        Err(msg) => return Reply::json_error(400, "bad_knob", msg),
    };
    const HTML: &str = "text/html; charset=utf-8";
    match path {
        "/robots.txt" if robots_status == 200 => {
            Reply::text(200, "text/plain; charset=utf-8", site::robots_txt(&origin))
        }
        "/robots.txt" => Reply::text(
            robots_status,
            "text/plain; charset=utf-8",
            format!("robots.txt answers {robots_status} (DEMO_ROBOTS_STATUS)\n"),
        ),
        "/demo/" | "/demo" => {
            sleep_ms(knobs.delay_ms(0, attempt)).await;
            Reply::text(200, HTML, site::home_page(&origin, query))
        }
        p if p.starts_with(DEMO_CATEGORY_PATH) => {
            sleep_ms(knobs.delay_ms(0, attempt)).await;
            let c = p.trim_start_matches(DEMO_CATEGORY_PATH).parse::<u32>().ok();
            let page = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1);
            match c.and_then(|c| site::category_page(c, page, query)) {
                Some(html) => Reply::text(200, HTML, html),
                None => Reply::json_error(404, "not_found", format!("no category page at {path}?{query}")),
            }
        }
        "/demo/sitemap.xml" => Reply::text(200, "application/xml", catalogue::sitemap(&origin)),
        // A sitemap index whose second entry is itself an index: nesting.
        "/demo/sitemap_index.xml" => Reply::text(
            200,
            "application/xml",
            catalogue::sitemap_index(&origin, &["/demo/sitemaps/1.xml", "/demo/sitemaps/more.xml"]),
        ),
        "/demo/sitemaps/more.xml" => {
            Reply::text(200, "application/xml", catalogue::sitemap_index(&origin, &["/demo/sitemaps/2.xml"]))
        }
        "/demo/sitemaps/1.xml" => Reply::text(200, "application/xml", catalogue::sitemap_range(&origin, 1, 120)),
        "/demo/sitemaps/2.xml" => Reply::text(200, "application/xml", catalogue::sitemap_range(&origin, 121, 240)),
        "/demo/api/ping" => {
            sleep_ms(knobs.delay_ms(0, attempt)).await;
            Reply::text(200, "application/json", "{\"ok\":true}".to_owned())
        }
        p if p.starts_with(DEMO_PRODUCT_PATH) => product(url, &knobs, attempt, now_unix_ms, if_none_match).await,
        _ => Reply::json_error(404, "not_found", format!("no demo page at {path}")),
    }
}

async fn product(url: &Url, knobs: &DemoKnobs, attempt: u32, now_unix_ms: u64, if_none_match: Option<&str>) -> Reply {
    let id_text = url.path().trim_start_matches(DEMO_PRODUCT_PATH);
    let Some(p) = id_text.parse::<u32>().ok().and_then(catalogue::product) else {
        return Reply::json_error(
            404,
            "not_found",
            format!("no product {id_text:?}: ids run from 1 to {}", catalogue::DEMO_PRODUCT_COUNT),
        );
    };
    if knobs.hang {
        sleep_ms(HANG_MS).await;
    }
    sleep_ms(knobs.delay_ms(p.id, attempt)).await;
    if let Some(location) = knobs.redirect_location(url) {
        let mut r = Reply::text(302, "text/plain; charset=utf-8", format!("redirecting to {location}\n"));
        r.headers.push(("location", location));
        return r;
    }
    if let Some(status) = knobs.failure(attempt) {
        let mut r = Reply::json_error(status, "demo_failure", format!("demo failure {status} on attempt {attempt}"));
        if let Some(v) = knobs.retry_after_value(now_unix_ms) {
            r.headers.push(("retry-after", v));
        }
        return r;
    }
    let page_url = format!("{}{DEMO_PRODUCT_PATH}{}", url.origin().ascii_serialization(), p.id);
    let p = p.on_day(knobs.day_at(now_unix_ms));
    let carry = site::carried_query(url.query().unwrap_or(""));
    let html = catalogue::page_with_knobs(&p, &page_url, knobs, &carry).into_bytes();
    // Tagged by its bytes: a page that did not change answers a
    // revalidation with 304 and no body, as a real shop's would.
    let tag = site::etag(&html);
    if if_none_match.is_some_and(|v| site::matches(v, &tag)) {
        return Reply { status: 304, headers: vec![("etag", tag)], body: stream::empty().boxed_local() };
    }
    let body = if knobs.drip_ms > 0 {
        let piece = html.len().div_ceil(DRIP_PIECES).max(1);
        let pieces: Vec<Vec<u8>> = html.chunks(piece).map(<[u8]>::to_vec).collect();
        let drip = knobs.drip_ms;
        stream::iter(pieces)
            .then(move |chunk| async move {
                sleep_ms(drip).await;
                chunk
            })
            .boxed_local()
    } else {
        stream::once(async move { html }).boxed_local()
    };
    Reply { status: 200, headers: vec![("content-type", "text/html; charset=utf-8".to_owned()), ("etag", tag)], body }
}
