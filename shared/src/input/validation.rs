//! Turning a raw `POST /api/v1/runs` body into a run, or into a 4xx that says
//! what to fix.
//!
//! The rule for bad URLs: a request whose URL list contains anything that is
//! not an absolute `http`/`https` URL is rejected as a whole (`400
//! invalid_url`, naming the first offending index), because a script that
//! sends such a list has a bug worth hearing about before any fetch happens.
//! The same holds for targets the deployment refuses (`400 blocked_target`).
//! Problems only a fetch can reveal (refused connections, redirects into
//! forbidden targets) become that URL's own `failed` event instead.
//!
//! The edge's own demo shop is exempt from the private-target rule: its pages
//! are served in-process, so no network request is made for them.

use crate::input::pattern::UrlPatterns;
use crate::input::target::{TargetPolicy, check_url};
use crate::wire::config::DEMO_PATH_PREFIX;
use crate::wire::config::{DEFAULT_CRAWL_DEPTH, DEFAULT_CRAWL_PAGES, Limits, MAX_CRAWL_DEPTH};
use crate::wire::json::MAX_SAFE_INTEGER;
use crate::wire::protocol::{ApiError, CrawlOptions, CrawlRequest, RunOptions, RunRequest};

/// One URL to fetch. `id` is echoed in every event about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The caller's identifier (the index in the request).
    pub id: u32,
    /// The URL.
    pub url: String,
}

/// A checked run: jobs with their ids, and options with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRun {
    /// One job per URL; `id` is the URL's index in the request.
    pub jobs: Vec<Job>,
    /// Options, defaults applied.
    pub options: RunOptions,
    /// The run id to save under, when the client gave one (checked).
    pub run_id: Option<String>,
    /// Where this request's URLs start within the run (`run_offset`).
    pub run_offset: u32,
    /// Whether to save the results in the run history (`save`, default true).
    pub save: bool,
    /// Crawl from the jobs (the start pages), when asked.
    pub crawl: Option<CrawlOptions>,
    /// Spread the fetching over invocations (`fan_out`, default true).
    pub fan_out: bool,
}

pub(crate) fn in_range<T: PartialOrd + core::fmt::Display + Copy>(
    name: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, ApiError> {
    if v < lo || v > hi {
        return Err(ApiError::refused("option_out_of_range", format!("{name} must be between {lo} and {hi}, got {v}")));
    }
    Ok(v)
}

/// An option of a request: the value `given`, or when left out its
/// `default` lowered to the deployment's limit `hi` (so a deployment with
/// smaller limits than the defaults still takes a request that names no
/// option), checked to lie within `lo..=hi`.
pub(crate) fn option_in_range<T: Ord + core::fmt::Display + Copy>(
    name: &str,
    given: Option<T>,
    default: T,
    lo: T,
    hi: T,
) -> Result<T, ApiError> {
    in_range(name, given.unwrap_or(default.min(hi)), lo, hi)
}

/// Whether a `Content-Type` header names JSON (`application/json`, with or
/// without parameters such as `charset`).
pub fn is_json_content_type(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
    })
}

/// Whether `url` is served in-process by the edge at `own_origin`: a page of
/// its demo shop, or its own `/robots.txt` (which a crawl of the demo shop
/// reads first; a deployed Worker cannot fetch its own hostname).
pub fn is_own_demo_url(url: &url::Url, own_origin: Option<&url::Url>) -> bool {
    own_origin.is_some_and(|o| o.origin() == url.origin())
        && (url.path().starts_with(DEMO_PATH_PREFIX) || url.path() == "/robots.txt")
}

/// Check a run request's raw body against `limits`. `own_origin` is the
/// edge's own origin, whose demo pages are always allowed.
pub fn parse_run_request(
    content_type: Option<&str>,
    body: &[u8],
    limits: &Limits,
    own_origin: Option<&url::Url>,
) -> Result<ValidRun, ApiError> {
    let req: RunRequest = decode_json(content_type, body, limits, "a run request", r#"{"urls": ["https://…"], …}"#)?;
    validate(req, limits, own_origin)
}

/// Decode a JSON request body of the `/api/v1` API: size, content type and
/// shape, each refused with an error that says what to fix. `what` names the
/// expected body and `example` shows one.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
    limits: &Limits,
    what: &str,
    example: &str,
) -> Result<T, ApiError> {
    if body.len() as u64 > limits.max_request_bytes {
        return Err(ApiError::new(
            413,
            "body_too_large",
            format!(
                "the request body is {} bytes; the limit is {} bytes. Send fewer URLs per request",
                body.len(),
                limits.max_request_bytes
            ),
        ));
    }
    if !is_json_content_type(content_type) {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            format!(
                "send {what} as JSON with Content-Type: application/json (got {})",
                content_type.unwrap_or("no Content-Type")
            ),
        ));
    }
    decode_value(body, what, example)
}

/// Decode a JSON body (whatever its `Content-Type`): parsed, readied by
/// [`prepare_body`], then read as `T`; `malformed_json` naming `what` and an
/// `example` otherwise.
pub fn decode_value<T: serde::de::DeserializeOwned>(body: &[u8], what: &str, example: &str) -> Result<T, ApiError> {
    let malformed =
        |e: String| ApiError::refused("malformed_json", format!("the body is not {what}: {e}. Expected {example}"));
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    prepare_body(&mut value).map_err(malformed)?;
    serde_json::from_value(value).map_err(|e| malformed(e.to_string()))
}

/// The request fields whose value is an object, and those whose value is a
/// list of objects. serde also reads a struct from a list, field by field in
/// order (`"retry": [3, null]`); the API takes objects only, as its OpenAPI
/// document says.
const OBJECT_FIELDS: [&str; 5] = ["retry", "crawl", "job", "schedule", "webhook"];
const OBJECT_LIST_FIELDS: [&str; 2] = ["rules", "channels"];

/// Ready a parsed body for decoding: an object, whose objects (and items of
/// lists of objects) are not lists, with whole numbers as integers
/// ([`whole_numbers`]).
fn prepare_body(body: &mut serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    fn walk(fields: &serde_json::Map<String, Value>) -> Result<(), String> {
        for (key, v) in fields {
            let key = key.as_str();
            match v {
                Value::Array(_) if OBJECT_FIELDS.contains(&key) => {
                    return Err(format!("`{key}` is a list; it takes an object"));
                }
                Value::Array(items) if OBJECT_LIST_FIELDS.contains(&key) => {
                    for item in items {
                        match item {
                            Value::Array(_) => return Err(format!("`{key}` holds a list; it takes objects")),
                            Value::Object(inner) => walk(inner)?,
                            _ => {}
                        }
                    }
                }
                Value::Object(inner) if OBJECT_FIELDS.contains(&key) => walk(inner)?,
                _ => {}
            }
        }
        Ok(())
    }
    match body {
        Value::Object(fields) => walk(fields)?,
        _ => return Err("not a JSON object".into()),
    }
    whole_numbers(body);
    Ok(())
}

/// JSON Schema's `integer` is any number without a fraction, `744.0` as
/// much as `744`; serde's integer types take only the second. Whole numbers
/// up to 2⁵³ written with a fraction are rewritten as integers, so a body the
/// OpenAPI document allows is one the edge reads.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    #[allow(clippy::cast_precision_loss)] // 2^53 − 1 is exact in a double
    let exact = MAX_SAFE_INTEGER as f64;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= exact) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let whole: serde_json::Number = if f < 0.0 { (f as i64).into() } else { (f as u64).into() };
                *n = whole;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Check an already-decoded request against `limits`.
pub fn validate(req: RunRequest, limits: &Limits, own_origin: Option<&url::Url>) -> Result<ValidRun, ApiError> {
    if req.urls.is_empty() {
        return Err(ApiError::refused("no_urls", "`urls` is empty: give at least one http(s) URL"));
    }
    let max_urls = limits.max_urls_per_request as usize;
    if req.urls.len() > max_urls {
        return Err(ApiError::refused(
            "too_many_urls",
            format!(
                "{} URLs in one request; the limit is {max_urls}. Split the list into chunks \
                 (GET /api/v1/config tells the limit)",
                req.urls.len()
            ),
        ));
    }
    let policy = TargetPolicy::from_limits(limits);
    for (i, url) in req.urls.iter().enumerate() {
        let parsed = check_url(url).map_err(|e| {
            let shown: String = url.chars().take(200).collect();
            ApiError::refused("invalid_url", format!("urls[{i}] = {shown:?}: {e}"))
        })?;
        if !is_own_demo_url(&parsed, own_origin)
            && let Err(e) = policy.check(&parsed)
        {
            return Err(ApiError::refused(
                "blocked_target",
                format!(
                    "urls[{i}]: {e}. This deployment fetches only public hosts (ALLOW_PRIVATE_TARGETS) \
                     and, when set, only ALLOWED_HOSTS"
                ),
            ));
        }
    }
    let d = RunOptions::default();
    let concurrency = option_in_range("concurrency", req.concurrency, d.concurrency, 1, limits.max_concurrency)?;
    let per_host = in_range("per_host", req.per_host.unwrap_or(concurrency), 1, limits.max_concurrency)?;
    let timeout_ms = option_in_range("timeout_ms", req.timeout_ms, d.timeout_ms, 1, limits.max_timeout_ms)?;
    let retry = req.retry.unwrap_or_default();
    let max_attempts =
        option_in_range("retry.max_attempts", retry.max_attempts, d.max_attempts, 1, limits.max_attempts)?;
    let max_ms = option_in_range("retry.max_ms", retry.max_ms, d.max_ms, 0, limits.max_backoff_ms)?;
    let base_ms = option_in_range("retry.base_ms", retry.base_ms, d.base_ms.min(max_ms), 0, limits.max_backoff_ms)?;
    if base_ms > max_ms {
        return Err(ApiError::refused(
            "conflicting_options",
            format!(
                "retry.base_ms ({base_ms}) is above retry.max_ms ({max_ms}); the first wait cannot exceed the longest"
            ),
        ));
    }
    let deadline_ms = option_in_range("deadline_ms", req.deadline_ms, d.deadline_ms, 1, limits.max_deadline_ms)?;
    let per_host_interval_ms =
        option_in_range("per_host_interval_ms", req.per_host_interval_ms, 0, 0, limits.max_host_interval_ms)?;
    let revalidate = req.revalidate.unwrap_or(false);
    if revalidate && req.crawl.is_some() {
        return Err(ApiError::refused(
            "conflicting_options",
            "`revalidate` cannot be used with `crawl`: a page that answers 304 has no links to follow. \
             Revalidate a list of URLs instead",
        ));
    }
    let crawl = req.crawl.map(|c| validate_crawl(c, req.urls.len(), limits)).transpose()?;
    let jobs = req
        .urls
        .into_iter()
        .enumerate()
        .map(|(i, url)| Job { id: u32::try_from(i).unwrap_or(u32::MAX), url })
        .collect();
    let run_id = req.run_id.map(|id| check_run_id(&id).map(str::to_owned)).transpose()?;
    Ok(ValidRun {
        run_id,
        run_offset: req.run_offset.unwrap_or(0),
        save: req.save.unwrap_or(true),
        fan_out: req.fan_out.unwrap_or(true),
        crawl,
        jobs,
        options: RunOptions {
            concurrency,
            per_host,
            timeout_ms,
            max_attempts,
            base_ms,
            max_ms,
            extract: req.extract.unwrap_or(d.extract),
            deadline_ms,
            per_host_interval_ms,
            revalidate,
        },
    })
}

/// Check a `crawl` object; `starts` is the number of start pages.
fn validate_crawl(c: CrawlRequest, starts: usize, limits: &Limits) -> Result<CrawlOptions, ApiError> {
    let max_depth = in_range("crawl.max_depth", c.max_depth.unwrap_or(DEFAULT_CRAWL_DEPTH), 0, MAX_CRAWL_DEPTH)?;
    let max_pages = option_in_range("crawl.max_pages", c.max_pages, DEFAULT_CRAWL_PAGES, 1, limits.max_crawl_pages)?;
    if (max_pages as usize) < starts {
        return Err(ApiError::refused(
            "conflicting_options",
            format!("crawl.max_pages is {max_pages}, fewer than the {starts} start pages; it counts them too"),
        ));
    }
    let include = c.include.unwrap_or_default();
    let exclude = c.exclude.unwrap_or_default();
    for (field, list) in [("crawl.include", &include), ("crawl.exclude", &exclude)] {
        UrlPatterns::new(field, list).map_err(|e| ApiError::refused("invalid_pattern", e))?;
    }
    Ok(CrawlOptions {
        max_depth,
        max_pages,
        scope: c.scope.unwrap_or_default(),
        include: include.into_iter().map(|p| p.trim().to_owned()).collect(),
        exclude: exclude.into_iter().map(|p| p.trim().to_owned()).collect(),
        robots: c.robots.unwrap_or_default(),
    })
}

/// A run id from the time (Unix ms) and 32 random bits: `r` and 19 hex
/// digits, ordered by time.
pub fn make_run_id(unix_ms: u64, random: u32) -> String {
    format!("r{unix_ms:011x}{random:08x}")
}

/// Check a run id from a path: what the edge generates (`r` and hex), at most
/// 64 characters of `[A-Za-z0-9_-]`.
pub fn check_run_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        let shown: String = id.chars().take(80).collect();
        return Err(ApiError::refused(
            "invalid_run_id",
            format!("{shown:?} is not a run id (1 to 64 letters, digits, '-' or '_')"),
        ));
    }
    Ok(id)
}

/// Largest page of `GET /api/v1/runs`.
pub const MAX_PAGE: u32 = 100;
/// Default page size.
pub const DEFAULT_PAGE: u32 = 20;

/// `?limit=&offset=` of a list request, checked.
pub fn parse_page(query: &str) -> Result<(u32, u32), ApiError> {
    let (mut limit, mut offset) = (DEFAULT_PAGE, 0u32);
    for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
        let bad = |what: &str| {
            ApiError::refused("invalid_page", format!("`{k}` = {v:?}: {what}; use ?limit=1..{MAX_PAGE}&offset=0.."))
        };
        match k.as_ref() {
            "limit" => {
                limit = v.parse().map_err(|_| bad("not a whole number"))?;
                if !(1..=MAX_PAGE).contains(&limit) {
                    return Err(bad("out of range"));
                }
            }
            "offset" => offset = v.parse().map_err(|_| bad("not a whole number"))?,
            _ => {}
        }
    }
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::{CrawlScope, RobotsMode};

    const JSON: Option<&str> = Some("application/json");

    fn open() -> Limits {
        Limits { allow_private_targets: true, ..Limits::default() }
    }

    fn kind(body: &str) -> (u16, String) {
        match parse_run_request(JSON, body.as_bytes(), &open(), None) {
            Ok(_) => (200, String::new()),
            Err(e) => (e.status, e.kind),
        }
    }

    #[test]
    fn defaults_fill_missing_options() {
        let run =
            parse_run_request(JSON, br#"{"urls":["http://a.test/1","https://b.test/2"]}"#, &open(), None).unwrap();
        assert_eq!(run.options, RunOptions::default());
        assert_eq!(run.jobs[1], Job { id: 1, url: "https://b.test/2".into() });
    }

    #[test]
    fn left_out_options_take_defaults_lowered_to_the_deployment_limits() {
        let small = Limits {
            max_concurrency: 4,
            max_timeout_ms: 300,
            max_deadline_ms: 900,
            max_backoff_ms: 50,
            max_attempts: 1,
            ..open()
        };
        let run = parse_run_request(JSON, br#"{"urls":["http://a.test/"]}"#, &small, None).expect("defaults fit");
        let o = run.options;
        assert_eq!((o.concurrency, o.per_host, o.timeout_ms, o.deadline_ms), (4, 4, 300, 900));
        assert_eq!((o.max_attempts, o.base_ms, o.max_ms), (1, 50.min(RunOptions::default().base_ms), 50));
        // An option given above the limit is still refused.
        let e = parse_run_request(JSON, br#"{"urls":["http://a.test/"],"timeout_ms":301}"#, &small, None).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (400, "option_out_of_range"));
    }

    #[test]
    fn structs_are_objects_not_lists() {
        assert!(
            parse_run_request(JSON, br#"{"urls":["http://a.test/"],"retry":{"max_attempts":2}}"#, &open(), None)
                .is_ok()
        );
        for body in [
            r#"{"urls":["http://a/"],"retry":[null,null]}"#,
            r#"{"urls":["http://a/"],"retry":[3]}"#,
            r#"["http://a/"]"#,
            r#"{"urls":["http://a/"],"crawl":{"include":["x"],"scope":["all"]}}"#,
        ] {
            assert_eq!(kind(body), (400, "malformed_json".into()), "{body}");
        }
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        let run = parse_run_request(
            JSON,
            br#"{"urls":["http://a.test/"],"concurrency":7.0,"timeout_ms":2e3}"#,
            &open(),
            None,
        )
        .expect("7.0 is 7");
        assert_eq!((run.options.concurrency, run.options.timeout_ms), (7, 2000));
        assert_eq!(kind(r#"{"urls":["http://a/"],"concurrency":7.5}"#), (400, "malformed_json".into()));
        assert_eq!(kind(r#"{"urls":["http://a/"],"concurrency":1e300}"#), (400, "malformed_json".into()));
    }

    #[test]
    fn per_host_defaults_to_concurrency_and_base_to_at_most_max() {
        let run = parse_run_request(
            JSON,
            br#"{"urls":["http://a.test/"],"concurrency":7,"retry":{"max_ms":100}}"#,
            &open(),
            None,
        )
        .unwrap();
        assert_eq!(run.options.per_host, 7);
        assert_eq!(run.options.base_ms, 100);
    }

    #[test]
    fn every_bad_input_has_its_own_kind() {
        assert_eq!(kind("{"), (400, "malformed_json".into()));
        assert_eq!(kind(r#"{"urls":"http://a"}"#), (400, "malformed_json".into()));
        assert_eq!(kind(r#"{"urls":[],"extra":1}"#), (400, "malformed_json".into()));
        assert_eq!(kind(r#"{"urls":[]}"#), (400, "no_urls".into()));
        assert_eq!(kind(r#"{"urls":["http://a/"],"revalidate":true,"crawl":{}}"#), (422, "conflicting_options".into()));
        assert_eq!(kind(r#"{"urls":["ftp://a/x"]}"#), (400, "invalid_url".into()));
        assert_eq!(kind(r#"{"urls":["http://ok/","/relative"]}"#), (400, "invalid_url".into()));
        assert_eq!(kind(r#"{"urls":["http://a/"],"concurrency":0}"#), (400, "option_out_of_range".into()));
        assert_eq!(kind(r#"{"urls":["http://a/"],"timeout_ms":999999999}"#), (400, "option_out_of_range".into()));
        assert_eq!(kind(r#"{"urls":["http://a/"],"retry":{"max_attempts":0}}"#), (400, "option_out_of_range".into()));
        assert_eq!(
            kind(r#"{"urls":["http://a/"],"retry":{"base_ms":5000,"max_ms":100}}"#),
            (422, "conflicting_options".into())
        );
        let many = serde_json::json!({ "urls": vec!["http://a/"; 1001] }).to_string();
        assert_eq!(kind(&many), (400, "too_many_urls".into()));
        let limits = Limits { max_request_bytes: 10, ..Limits::default() };
        let e = parse_run_request(JSON, br#"{"urls":["http://a/"]}"#, &limits, None).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (413, "body_too_large"));
        let e = parse_run_request(Some("text/plain"), b"{}", &open(), None).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (415, "unsupported_media_type"));
        assert!(is_json_content_type(Some("Application/JSON; charset=utf-8")));
    }

    #[test]
    fn messages_say_what_to_fix() {
        let e = parse_run_request(JSON, br#"{"urls":["http://a/","mailto:x@y"]}"#, &open(), None).unwrap_err();
        assert!(e.message.contains("urls[1]"), "{}", e.message);
        let e = parse_run_request(JSON, br#"{"urls":["http://a/"],"concurrency":500}"#, &open(), None).unwrap_err();
        assert!(e.message.contains("between 1 and 200"), "{}", e.message);
    }

    #[test]
    fn private_targets_are_refused_unless_allowed_but_own_demo_pages_pass() {
        let body = br#"{"urls":["https://shop.example/p","http://127.0.0.1:9000/x"]}"#;
        let e = parse_run_request(JSON, body, &Limits::default(), None).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (403, "blocked_target"));
        assert!(e.message.contains("urls[1]"), "{}", e.message);
        assert!(parse_run_request(JSON, body, &open(), None).is_ok());
        let own = url::Url::parse("http://127.0.0.1:8787/").unwrap();
        let demo = br#"{"urls":["http://127.0.0.1:8787/demo/products/1"]}"#;
        assert!(parse_run_request(JSON, demo, &Limits::default(), Some(&own)).is_ok());
        let other_port = br#"{"urls":["http://127.0.0.1:8788/demo/products/1"]}"#;
        assert!(parse_run_request(JSON, other_port, &Limits::default(), Some(&own)).is_err());
    }

    #[test]
    fn crawl_options_get_defaults_and_limits() {
        let ok = |body: &str| parse_run_request(JSON, body.as_bytes(), &open(), None);
        let run = ok(r#"{"urls":["http://a.test/"],"crawl":{}}"#).unwrap();
        let c = run.crawl.expect("a crawl");
        assert_eq!((c.max_depth, c.max_pages), (DEFAULT_CRAWL_DEPTH, DEFAULT_CRAWL_PAGES));
        assert_eq!((c.scope, c.robots), (CrawlScope::SameHostname, RobotsMode::Obey));
        assert_eq!(run.options.per_host_interval_ms, 0);
        let run = ok(r#"{"urls":["http://a.test/"],"per_host_interval_ms":250,
            "crawl":{"max_depth":0,"max_pages":5,"scope":"same-domain","robots":"ignore","include":[" http://a.test/p/* "]}}"#)
        .unwrap();
        let c = run.crawl.unwrap();
        assert_eq!((c.max_depth, c.max_pages, c.scope, c.robots), (0, 5, CrawlScope::SameDomain, RobotsMode::Ignore));
        assert_eq!(c.include, vec!["http://a.test/p/*"]);
        assert_eq!(run.options.per_host_interval_ms, 250);
        assert!(ok(r#"{"urls":["http://a.test/"]}"#).unwrap().crawl.is_none(), "a list stays a list");
        let kind = |body: &str| ok(body).unwrap_err().kind;
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"max_depth":99}}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"max_pages":0}}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"max_pages":100000}}"#), "option_out_of_range");
        let two = r#"{"urls":["http://a.test/1","http://a.test/2"],"crawl":{"max_pages":1}}"#;
        let e = ok(two).unwrap_err();
        assert!(e.message.contains("start pages"));
        assert_eq!((e.status, e.kind.as_str()), (422, "conflicting_options"));
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"include":["[x"]}}"#), "invalid_pattern");
        assert_eq!(ok(r#"{"urls":["http://a.test/"],"crawl":{"include":["[x"]}}"#).unwrap_err().status, 422);
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"scope":"galaxy"}}"#), "malformed_json");
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"crawl":{"depth":2}}"#), "malformed_json");
        assert_eq!(kind(r#"{"urls":["http://a.test/"],"per_host_interval_ms":99999999}"#), "option_out_of_range");
    }

    #[test]
    fn ids_and_pages_are_checked() {
        assert!(check_run_id("r0123abcd").is_ok());
        let id = make_run_id(1_700_000_000_000, 7);
        assert!(check_run_id(&id).is_ok());
        assert!(make_run_id(1_700_000_000_001, 0) > id, "ids sort by time");
        for bad in ["", "a/b", "x y", "'; drop table runs; --", &"a".repeat(65)] {
            assert_eq!(check_run_id(bad).unwrap_err().kind, "invalid_run_id", "{bad}");
        }
        assert_eq!(parse_page(""), Ok((DEFAULT_PAGE, 0)));
        assert_eq!(parse_page("?limit=5&offset=10"), Ok((5, 10)));
        for bad in ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=1.5"] {
            assert_eq!(parse_page(bad).unwrap_err().kind, "invalid_page", "{bad}");
        }
    }
}
