//! The bounds the OpenAPI document (`edge/openapi.json`) states on request
//! values: ranges, list and string lengths, URL and decimal shapes. Some
//! come from a deployment's [`Limits`], so the edge serves the document
//! with its own ([`with_limits`]) and the committed file states the
//! defaults: a request the served document allows is one the edge takes,
//! or refuses with a `403`/`422` that names a rule no schema can state
//! ([`crate::wire::protocol::refusal_status`]).
//!
//! The generator (`shared/tests/openapi.rs`) applies these to the schemas
//! schemars derives, so this list is the one place they are written down.

use serde_json::{Value, json};

use crate::watch::check::{MAX_CHANNELS, MAX_EVERY_MINUTES, MAX_NAME_CHARS, MAX_RULES, SECRET_CHARS};
use crate::wire::config::{Limits, MAX_CRAWL_DEPTH, MAX_CRAWL_PATTERN_LEN, MAX_CRAWL_PATTERNS};

/// An `http(s)` URL that parses: a host of letters, digits, `-` and `_` whose
/// last label starts with a letter (a numeric last label is read as an
/// IPv4 address), or a dotted IPv4 address; an optional port; anything but
/// white space after. Stricter than the edge, which takes any URL the
/// WHATWG parser takes.
pub const URL_PATTERN: &str = concat!(
    r"^https?://(([A-Za-z0-9_-]+\.)*[A-Za-z][A-Za-z0-9_-]*\.?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?",
    r"([/?#]\S*)?$"
);

/// A decimal of at most six places, not negative (`price_at_or_below`'s
/// `target`).
pub const DECIMAL_PATTERN: &str = r"^[0-9]{1,24}(\.[0-9]{1,6})?$";

/// A decimal of at most six places above zero (`price_drop`'s `amount`).
pub const POSITIVE_DECIMAL_PATTERN: &str = concat!(
    r"^(0*[1-9][0-9]{0,23}(\.[0-9]{1,6})?",
    r"|0*\.(0{0,5}[1-9]|0{0,4}[1-9][0-9]|0{0,3}[1-9][0-9]{2}|0{0,2}[1-9][0-9]{3}|0?[1-9][0-9]{4}|[1-9][0-9]{5}))$"
);

/// A run id: what the edge makes, or 1 to 64 of `[A-Za-z0-9_-]`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// One bound: the schema (under `#/components/schemas/`), the JSON pointer
/// of the value within it, the keyword, and its value.
pub type Bound = (&'static str, &'static str, &'static str, Value);

/// Every bound, with `limits` for those a deployment sets.
pub fn bounds(limits: &Limits) -> Vec<Bound> {
    let l = limits;
    let url = || json!({ "type": "string", "pattern": URL_PATTERN });
    let mut b: Vec<Bound> = Vec::new();
    for (schema, max_urls) in [("RunRequest", l.max_urls_per_request), ("JobRequest", l.max_job_urls)] {
        b.extend([
            (schema, "/properties/urls", "maxItems", json!(max_urls)),
            (schema, "/properties/urls", "items", url()),
            (schema, "/properties/concurrency", "minimum", json!(1)),
            (schema, "/properties/concurrency", "maximum", json!(l.max_concurrency)),
            (schema, "/properties/per_host", "minimum", json!(1)),
            (schema, "/properties/per_host", "maximum", json!(l.max_concurrency)),
            (schema, "/properties/timeout_ms", "minimum", json!(1)),
            (schema, "/properties/timeout_ms", "maximum", json!(l.max_timeout_ms)),
            (schema, "/properties/deadline_ms", "minimum", json!(1)),
            (schema, "/properties/deadline_ms", "maximum", json!(l.max_deadline_ms)),
            (schema, "/properties/per_host_interval_ms", "maximum", json!(l.max_host_interval_ms)),
            (schema, "/properties/run_id", "pattern", json!(ID_PATTERN)),
        ]);
    }
    b.extend([
        // A list names at least one URL; a job may name a sitemap instead.
        ("RunRequest", "/properties/urls", "minItems", json!(1)),
        (
            "JobRequest",
            "",
            "anyOf",
            json!([{ "properties": { "urls": { "minItems": 1 } } },
                   { "required": ["sitemap"], "properties": { "sitemap": { "type": "string" } } }]),
        ),
        ("JobRequest", "/properties/sitemap", "pattern", json!(URL_PATTERN)),
        // A job's fields are a run's and `sitemap`; no others.
        ("JobRequest", "", "additionalProperties", json!(false)),
        ("RetryOptions", "/properties/max_attempts", "minimum", json!(1)),
        ("RetryOptions", "/properties/max_attempts", "maximum", json!(l.max_attempts)),
        ("RetryOptions", "/properties/max_ms", "maximum", json!(l.max_backoff_ms)),
        ("RetryOptions", "/properties/base_ms", "maximum", json!(l.max_backoff_ms)),
        ("CrawlRequest", "/properties/max_depth", "maximum", json!(MAX_CRAWL_DEPTH)),
        ("CrawlRequest", "/properties/max_pages", "minimum", json!(1)),
        ("CrawlRequest", "/properties/max_pages", "maximum", json!(l.max_crawl_pages)),
        ("LoadRequest", "/properties/url", "pattern", json!(URL_PATTERN)),
        ("LoadRequest", "/properties/requests", "minimum", json!(1)),
        ("LoadRequest", "/properties/requests", "maximum", json!(l.max_load_requests)),
        ("LoadRequest", "/properties/duration_ms", "minimum", json!(1)),
        ("LoadRequest", "/properties/duration_ms", "maximum", json!(l.max_load_duration_ms)),
        ("LoadRequest", "/properties/concurrency", "minimum", json!(1)),
        ("LoadRequest", "/properties/concurrency", "maximum", json!(l.max_load_concurrency)),
        ("LoadRequest", "/properties/timeout_ms", "minimum", json!(1)),
        ("LoadRequest", "/properties/timeout_ms", "maximum", json!(l.max_timeout_ms)),
        ("Schedule", "/properties/every_minutes", "minimum", json!(l.min_watch_minutes.max(1))),
        ("Schedule", "/properties/every_minutes", "maximum", json!(MAX_EVERY_MINUTES)),
        ("Schedule", "/properties/jitter_minutes", "maximum", json!(MAX_EVERY_MINUTES)),
        ("Webhook", "/properties/url", "pattern", json!(URL_PATTERN)),
        ("Webhook", "/properties/secret", "minLength", json!(SECRET_CHARS.0)),
        ("Webhook", "/properties/secret", "maxLength", json!(SECRET_CHARS.1)),
        ("Webhook", "/properties/secret", "pattern", json!(r"^[^\u0000-\u001f\u007f-\u009f]*$")),
        ("Channel", "/properties/url", "pattern", json!(URL_PATTERN)),
        ("TestRequest", "/properties/channel", "enum", json!(["webhook", "slack", "discord", null])),
        // price_drop takes `percent` or `amount`, one of them.
        (
            "Rule",
            "/oneOf/0",
            "oneOf",
            json!([{ "required": ["percent"], "properties": { "percent": { "type": "number" }, "amount": { "type": "null" } } },
                   { "required": ["amount"], "properties": { "amount": { "type": "string" }, "percent": { "type": "null" } } }]),
        ),
        ("Rule", "/oneOf/0/properties/percent", "exclusiveMinimum", json!(0)),
        ("Rule", "/oneOf/0/properties/percent", "maximum", json!(100)),
        ("Rule", "/oneOf/0/properties/amount", "pattern", json!(POSITIVE_DECIMAL_PATTERN)),
        ("Rule", "/oneOf/1/properties/target", "pattern", json!(DECIMAL_PATTERN)),
        ("Rule", "/oneOf/1/properties/currency", "pattern", json!("^[A-Za-z]{3}$")),
    ]);
    for p in ["/properties/include", "/properties/exclude"] {
        b.extend([
            ("CrawlRequest", p, "maxItems", json!(MAX_CRAWL_PATTERNS)),
            (
                "CrawlRequest",
                p,
                "items",
                json!({ "type": "string", "maxLength": MAX_CRAWL_PATTERN_LEN, "pattern": r"\S" }),
            ),
        ]);
    }
    for schema in ["WatchRequest", "WatchPatch"] {
        b.extend([
            (schema, "/properties/name", "maxLength", json!(MAX_NAME_CHARS)),
            (schema, "/properties/rules", "maxItems", json!(MAX_RULES)),
            (schema, "/properties/channels", "maxItems", json!(MAX_CHANNELS)),
        ]);
    }
    b
}

/// Set every bound of `limits` in `doc`, an OpenAPI document; the bounds
/// whose place `doc` lacks are returned (none for the generated document).
pub fn apply(doc: &mut Value, limits: &Limits) -> Vec<String> {
    let mut missing = Vec::new();
    for (schema, pointer, keyword, value) in bounds(limits) {
        let at = format!("/components/schemas/{schema}{pointer}");
        match doc.pointer_mut(&at).and_then(Value::as_object_mut) {
            Some(obj) => {
                obj.insert(keyword.to_owned(), value);
            }
            None => missing.push(format!("{at} ({keyword})")),
        }
    }
    missing
}

/// The document `committed` (the generated file) stating `limits`: what
/// the edge serves at `GET /api/v1/openapi.json`.
pub fn with_limits(committed: &str, limits: &Limits) -> Result<String, serde_json::Error> {
    let mut doc: Value = serde_json::from_str(committed)?;
    apply(&mut doc, limits);
    serde_json::to_string_pretty(&doc).map(|s| s + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::decimal::parse_decimal;
    use crate::input::target::check_url;

    /// A tiny regex check for the patterns' own examples: they are
    /// ECMA-262 regexes the document states; here only their intent is
    /// checked against the edge's parsers, through Rust's `url` crate.
    #[test]
    fn urls_the_pattern_describes_parse() {
        for u in [
            "http://127.0.0.1:8787/demo/products/1",
            "https://shop.example/p?id=3#x",
            "http://a/",
            "http://a-b_c.example.:65535",
            "http://255.255.255.255/",
            "https://x1.y2.z/ü",
        ] {
            assert!(check_url(u).is_ok(), "{u}");
        }
        assert!(parse_decimal("0.000001").is_some() && parse_decimal("123456789012345678901234.5").is_some());
    }

    #[test]
    fn served_limits_replace_the_defaults() {
        let mut doc = json!({ "components": { "schemas": {} } });
        let missing = apply(&mut doc, &Limits::default());
        assert!(!missing.is_empty(), "an empty document lacks every place");
        let small = Limits { max_concurrency: 7, ..Limits::default() };
        let bounds = bounds(&small);
        let c = bounds
            .iter()
            .find(|(s, p, k, _)| *s == "RunRequest" && *p == "/properties/concurrency" && *k == "maximum")
            .expect("a concurrency bound");
        assert_eq!(c.3, json!(7));
    }
}
