//! The wire contract: what scripts send to `POST /api/v1/runs` and the NDJSON
//! events they get back. The edge serialises these types and the frontend
//! deserialises the very same ones, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::wire::config::{
    DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_MS, DEFAULT_EXTRACT,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_MS, Limits,
};
use crate::wire::error::ErrorKind;
use crate::wire::stats::StatsReport;

/// Milliseconds since the run started: the unit of every time field.
pub type Millis = u64;

/// After this long without a line, a run's stream sends a `heartbeat` (see
/// [`Event::Heartbeat`]).
pub const HEARTBEAT_MS: Millis = 250;

/// The body of `POST /api/v1/runs`. Every option may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The URLs to fetch; each event's `id` is an index into this list.
    pub urls: Vec<String>,
    /// Global in-flight cap. Default [`DEFAULT_CONCURRENCY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Per-host in-flight cap. Default: the same as `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_host: Option<u32>,
    /// Per-attempt deadline. Default [`DEFAULT_TIMEOUT_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retry policy. Defaults as in [`RetryOptions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryOptions>,
    /// Extract product data from each page. Default [`DEFAULT_EXTRACT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Whole-run deadline. Default [`DEFAULT_DEADLINE_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Save the results under this run id (the browser gives every chunk
    /// request of one run the same id). Default: a new id for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The index of this request's first URL within run `run_id` (a chunk
    /// request's place in the browser's list), so a reopened run lists its
    /// URLs in the order given. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_offset: Option<u32>,
    /// Save the results in the run history. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<bool>,
    /// Spacing of request starts on each host, randomised 0.5–1.5×. Default
    /// 0 (none) for lists; a crawl uses the larger of it and the host's
    /// `Crawl-delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_host_interval_ms: Option<u64>,
    /// Crawl from `urls` (the start pages) instead of fetching only them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlRequest>,
    /// Spread the fetching over as many invocations as the concurrency
    /// needs (six connections each). Default true; false keeps the whole
    /// run in the one invocation that serves it, with its six.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<bool>,
    /// Ask each URL fetched before whether it changed: send the validators
    /// of its last saved answer (`If-None-Match`, `If-Modified-Since`), and
    /// take a `304` as `done` with `not_modified` and the saved product,
    /// with no download and no extraction. Default false (watch runs always
    /// revalidate). Not with `crawl`: an unchanged page yields no links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate: Option<bool>,
}

/// The `crawl` object of a run request: follow links from the start pages.
/// Every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CrawlRequest {
    /// How many links deep to follow; 0 fetches the start pages only.
    /// Default [`crate::wire::config::DEFAULT_CRAWL_DEPTH`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// Most URLs fetched, start pages included. Default
    /// [`crate::wire::config::DEFAULT_CRAWL_PAGES`] (within the limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u32>,
    /// Which links may be followed. Default `same-hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<CrawlScope>,
    /// URL globs a discovered URL must match one of (when any are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// URL globs a discovered URL must match none of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    /// Whether robots.txt is obeyed. Default `obey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robots: Option<RobotsMode>,
}

/// Which discovered links a crawl follows, compared with the start page
/// they descend from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CrawlScope {
    /// The same host name (`shop.example`, not `www.shop.example`).
    #[default]
    SameHostname,
    /// The same registrable domain (`*.shop.example`), by the public suffix list.
    SameDomain,
    /// The same scheme, host and port.
    SameOrigin,
    /// Any http(s) URL the deployment may fetch.
    All,
}

impl CrawlScope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameHostname => "same-hostname",
            Self::SameDomain => "same-domain",
            Self::SameOrigin => "same-origin",
            Self::All => "all",
        }
    }

    /// The scope with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        [Self::SameHostname, Self::SameDomain, Self::SameOrigin, Self::All].into_iter().find(|s| s.as_str() == name)
    }
}

/// Whether a crawl obeys robots.txt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RobotsMode {
    /// Fetch each origin's robots.txt first and follow it (RFC 9309), with
    /// its `Crawl-delay`.
    #[default]
    Obey,
    /// Fetch no robots.txt.
    Ignore,
}

/// A crawl request with every default filled in and every limit checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CrawlOptions {
    /// Links followed this deep; start pages are depth 0.
    pub max_depth: u32,
    /// Most URLs fetched, start pages included.
    pub max_pages: u32,
    /// Which links may be followed.
    pub scope: CrawlScope,
    /// Globs of which a followed URL must match one (none: all match).
    pub include: Vec<String>,
    /// Globs of which a followed URL must match none.
    pub exclude: Vec<String>,
    /// Whether robots.txt is obeyed.
    pub robots: RobotsMode,
}

/// The `retry` object of a run request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryOptions {
    /// Attempts per URL, counting the first. Default [`DEFAULT_MAX_ATTEMPTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Backoff base. Default [`DEFAULT_BACKOFF_BASE_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ms: Option<u64>,
    /// Backoff cap and the largest honoured `Retry-After`. Default [`DEFAULT_BACKOFF_MAX_MS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
}

/// A page's cache validators, as its answer gave them (RFC 9110 §8.8): sent
/// back as `If-None-Match` and `If-Modified-Since` to ask whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Validators {
    /// `ETag`, as sent (quotes and `W/` included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Last-Modified`, as sent (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    /// From the two header values; `None` when neither is there (or both are empty).
    pub fn from_headers(etag: Option<String>, last_modified: Option<String>) -> Option<Self> {
        let keep = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty() && v.len() <= 256);
        let (etag, last_modified) = (keep(etag), keep(last_modified));
        (etag.is_some() || last_modified.is_some()).then_some(Self { etag, last_modified })
    }
}

/// What is known of a URL's last full answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Prior {
    /// Its `ETag` and `Last-Modified`.
    pub validators: Validators,
    /// Its product (fields marked [`Source::Saved`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// Its body size: what a `304` saves.
    #[serde(default)]
    pub size: u64,
}

impl Prior {
    /// The conditional request headers: `If-None-Match` for an `ETag`,
    /// `If-Modified-Since` for a `Last-Modified` (a server that knows the
    /// first ignores the second, RFC 9110 §13.2.2).
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let v = &self.validators;
        let mut out = Vec::with_capacity(2);
        if let Some(etag) = &v.etag {
            out.push(("if-none-match", etag.as_str()));
        }
        if let Some(date) = &v.last_modified {
            out.push(("if-modified-since", date.as_str()));
        }
        out
    }
}

/// A run request with every default filled in and every limit checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunOptions {
    /// Global in-flight cap (≥ 1).
    pub concurrency: u32,
    /// Per-host in-flight cap (≥ 1).
    pub per_host: u32,
    /// Per-attempt deadline.
    pub timeout_ms: u64,
    /// Attempts per URL, counting the first (≥ 1).
    pub max_attempts: u32,
    /// Backoff base.
    pub base_ms: u64,
    /// Backoff cap.
    pub max_ms: u64,
    /// Whether to extract products.
    pub extract: bool,
    /// Whole-run deadline.
    pub deadline_ms: u64,
    /// Spacing of request starts per host (0: none).
    #[serde(default)]
    pub per_host_interval_ms: u64,
    /// Revalidate URLs fetched before (see [`RunRequest::revalidate`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revalidate: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            per_host: DEFAULT_CONCURRENCY,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_ms: DEFAULT_BACKOFF_BASE_MS,
            max_ms: DEFAULT_BACKOFF_MAX_MS,
            extract: DEFAULT_EXTRACT,
            deadline_ms: DEFAULT_DEADLINE_MS,
            per_host_interval_ms: 0,
            revalidate: false,
        }
    }
}

/// The body of every 4xx answer: `{"error": {"kind", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ApiErrorBody {
    /// The error itself.
    pub error: ApiError,
}

/// A rejected request: a stable `kind` for scripts and a `message` for people
/// that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ApiError {
    /// Stable machine-readable kind, e.g. `too_many_urls`.
    pub kind: String,
    /// What went wrong and how to fix it.
    pub message: String,
    /// The HTTP status this error is answered with (not serialised).
    #[serde(skip)]
    pub status: u16,
    /// With a `405`: the methods the path does serve, for its `Allow`
    /// header (RFC 9110 §15.5.6; not serialised).
    #[serde(skip)]
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// An error answered with `status`.
    pub fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        Self { kind: kind.to_owned(), message: message.into(), status, allow: None }
    }

    /// A `405 Method Not Allowed` for `method` on API path `path`, with the
    /// methods it does serve ([`allowed_methods`]).
    pub fn method_not_allowed(method: &impl core::fmt::Debug, path: &str) -> Self {
        let allow = allowed_methods(path);
        let message = format!("{method:?} is not allowed on {path}; it serves {allow}");
        Self { allow: Some(allow), ..Self::new(405, "method_not_allowed", message) }
    }

    /// A refused request, answered with its kind's status ([`refusal_status`]).
    pub fn refused(kind: &str, message: impl Into<String>) -> Self {
        Self::new(refusal_status(kind), kind, message)
    }

    /// The JSON body for this error.
    pub fn to_body(&self) -> ApiErrorBody {
        ApiErrorBody { error: self.clone() }
    }
}

impl core::fmt::Display for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The status of a refused request of `kind`, as the OpenAPI document
/// states it:
/// - `403` for `blocked_target`: the request is well formed, but this
///   deployment does not fetch (or send to) that target;
/// - `422` for `conflicting_options` and `invalid_pattern`: every value fits
///   the document's schema, but a rule it cannot state refuses them (two
///   options that do not go together, or one out of line with another; a
///   glob that does not compile);
/// - `400` for the rest: the request is not what the schema allows.
pub fn refusal_status(kind: &str) -> u16 {
    match kind {
        "blocked_target" => 403,
        "conflicting_options" | "invalid_pattern" => 422,
        _ => 400,
    }
}

/// The methods API path `path` serves: a 405's `Allow` header.
pub fn allowed_methods(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["load"] => "POST",
        ["runs" | "jobs" | "watches"] => "GET, POST",
        ["runs" | "jobs", _] => "GET, DELETE",
        ["watches", _] => "GET, PATCH, DELETE",
        ["jobs", _, "cancel"] | ["watches", _, "run" | "test"] => "POST",
        _ => "GET",
    }
}

/// The `error` object of a `failed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventError {
    /// Machine-readable kind.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}

/// A source a product field came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `<script type="application/ld+json">`.
    JsonLd,
    /// `itemscope` / `itemprop` attributes.
    Microdata,
    /// `og:` and `product:` meta tags.
    Opengraph,
    /// Not read from the page: carried forward from the URL's last saved
    /// answer, because the page answered `304 Not Modified`.
    Saved,
}

impl Source {
    /// The wire name (`json-ld`, `microdata`, `opengraph`, `saved`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonLd => "json-ld",
            Self::Microdata => "microdata",
            Self::Opengraph => "opengraph",
            Self::Saved => "saved",
        }
    }

    /// The source with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        [Self::JsonLd, Self::Microdata, Self::Opengraph, Self::Saved].into_iter().find(|s| s.as_str() == name)
    }
}

/// One extracted field and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// Its source.
    pub source: Source,
}

/// A price as the page wrote it, and as a plain decimal when that is certain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Price {
    /// The page's own text, e.g. `"1.299,00 €"` or `"17.99"`.
    pub raw: String,
    /// The normalised decimal (`"1299.00"`), when the format is unambiguous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Why `amount` is missing, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The top of a price range (`AggregateOffer.highPrice`), normalised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,
}

/// Product data extracted from a page. Every field is optional (pages
/// differ) and records the source it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Product {
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Field<String>>,
    /// Price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Field<Price>>,
    /// ISO 4217 currency code: as the page wrote it, or mapped from a
    /// symbol that names one currency only (`€`, `£`, `₹`, `US$`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Field<String>>,
    /// The page's own currency text when it was not a code: the symbol a
    /// code was mapped from, or one that names several currencies (`$`,
    /// `¥`, `kr`), which is left unmapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_text: Option<String>,
    /// Availability, normalised: `in_stock`, `out_of_stock`, `preorder`,
    /// `backorder`, `discontinued`, `limited` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Field<String>>,
    /// Brand name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Field<String>>,
    /// Stock-keeping unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Field<String>>,
    /// GTIN (EAN/UPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Field<String>>,
    /// Image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Field<String>>,
    /// Canonical URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Field<String>>,
    /// Products found on the page besides this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub others: u32,
    /// Whether some JSON-LD on the page was malformed (and repaired or skipped).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub malformed_json_ld: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero64(n: &u64) -> bool {
    *n == 0
}

/// One line of the NDJSON stream.
///
/// URL events carry `id` (the index in the request), `url` and `t`
/// (milliseconds since the run started).
///
/// Reading is done by [`Event::from_json`] (module [`crate::wire::json`]), on any
/// parsed JSON: the browser's `JSON.parse` in the dashboard, a
/// `serde_json::Value` in the `Deserialize` impl.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A crawl found a new URL (sent before its `queued`). Its `id` follows
    /// the ids already used, so ids stay dense indexes.
    Discovered {
        /// The new URL's id.
        id: u32,
        /// The URL as found (resolved against its page).
        url: String,
        /// The id of the page it was found on.
        parent: u32,
        /// Links from a start page (depth 0).
        depth: u32,
        /// Time of the event.
        t: Millis,
    },
    /// The URL is waiting for a slot.
    Queued {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// Time of the event.
        t: Millis,
    },
    /// An attempt started.
    Started {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// Time of the event.
        t: Millis,
    },
    /// An attempt failed and another will start after `wait_ms`.
    Retrying {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// The attempt that failed.
        attempt: u32,
        /// How long until the next attempt.
        wait_ms: u64,
        /// Why the attempt failed, for people.
        reason: String,
        /// The status that caused the retry, if it was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Time of the event (when the attempt ended).
        t: Millis,
    },
    /// Final: the URL was fetched.
    Done {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// HTTP status of the final response.
        status: u16,
        /// Body bytes read.
        bytes: u64,
        /// Latency of the final attempt.
        ms: u64,
        /// Attempts made.
        attempts: u32,
        /// Extracted product data, when asked for and found.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<Box<Product>>,
        /// The answer's `ETag` and `Last-Modified`, when it had them: what a
        /// later fetch of the URL can revalidate with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validators: Option<Validators>,
        /// The page had not changed: it answered 304 to the validators sent
        /// (`status` 304), no body was read, and `product` is the one saved
        /// from its last full answer, carried forward.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_modified: bool,
        /// With `not_modified`: the size of the body not downloaded (the
        /// last full answer's).
        #[serde(default, skip_serializing_if = "is_zero64")]
        bytes_saved: u64,
        /// Time of the event.
        t: Millis,
    },
    /// Final: the URL could not be fetched.
    Failed {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// What went wrong.
        error: EventError,
        /// Attempts made (0 when none started).
        attempts: u32,
        /// HTTP status of the last response, for `http_status` errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Time of the event.
        t: Millis,
    },
    /// Final: the run was cancelled before the URL finished.
    Cancelled {
        /// Index in the request.
        id: u32,
        /// The URL.
        url: String,
        /// Time of the event.
        t: Millis,
    },
    /// Saving results to the run history failed; the stream goes on and the
    /// summary repeats the error.
    SaveError {
        /// What went wrong.
        message: String,
        /// Time of the event.
        t: Millis,
    },
    /// Nothing else happened for a while: sent when the stream has been
    /// quiet for [`HEARTBEAT_MS`], so a client that went away is noticed
    /// (a closed connection only shows when something is written to it) and
    /// its run cancelled. Clients ignore it.
    Heartbeat {
        /// Time of the event.
        t: Millis,
    },
    /// The last line: counts, timing and statistics of the run.
    Summary(Box<Summary>),
}

impl Event {
    /// The URL index, for URL events.
    pub fn id(&self) -> Option<u32> {
        match self {
            Self::Discovered { id, .. }
            | Self::Queued { id, .. }
            | Self::Started { id, .. }
            | Self::Retrying { id, .. }
            | Self::Done { id, .. }
            | Self::Failed { id, .. }
            | Self::Cancelled { id, .. } => Some(*id),
            Self::Summary(_) | Self::SaveError { .. } | Self::Heartbeat { .. } => None,
        }
    }

    /// The URL index, for changing it (URL events only).
    fn id_mut(&mut self) -> Option<&mut u32> {
        match self {
            Self::Discovered { id, .. }
            | Self::Queued { id, .. }
            | Self::Started { id, .. }
            | Self::Retrying { id, .. }
            | Self::Done { id, .. }
            | Self::Failed { id, .. }
            | Self::Cancelled { id, .. } => Some(id),
            Self::Summary(_) | Self::SaveError { .. } | Self::Heartbeat { .. } => None,
        }
    }

    /// The same event with its `id` shifted by `offset`: a client that
    /// splits a run into chunk requests maps chunk ids onto run ids.
    pub fn with_id_offset(mut self, offset: u32) -> Self {
        if let Some(id) = self.id_mut() {
            *id += offset;
        }
        self
    }

    /// The same event about URL `new_id` instead (URL events only).
    pub fn with_id(mut self, new_id: u32) -> Self {
        if let Some(id) = self.id_mut() {
            *id = new_id;
        }
        self
    }

    /// Whether this event ends its URL.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done { .. } | Self::Failed { .. } | Self::Cancelled { .. })
    }

    /// The event as one NDJSON line, newline included.
    pub fn to_ndjson(&self) -> String {
        crate::wire::ndjson::encode_line(self)
    }
}

/// The final line of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Summary {
    /// URLs in the request.
    pub total: u32,
    /// URLs that ended `done`.
    pub done: u32,
    /// URLs that ended `failed`.
    pub failed: u32,
    /// URLs that ended `cancelled`.
    pub cancelled: u32,
    /// Retries scheduled (attempts beyond the first).
    pub retries: u32,
    /// Whether the run was cancelled.
    pub was_cancelled: bool,
    /// Run duration.
    pub elapsed_ms: Millis,
    /// Most attempts in flight at once.
    pub peak_in_flight: u32,
    /// Latency, throughput and error statistics.
    pub stats: StatsReport,
    /// Where the results were saved, and whether saving worked (absent when
    /// the deployment keeps no history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<SaveReport>,
    /// A crawl's discoveries and refusals (absent for a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlReport>,
    /// Invocations the run's fetching was spread over (shards opened;
    /// absent when it ran in the invocation that served it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocations: Option<u32>,
}

/// What a crawl found and what it left alone, in its summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CrawlReport {
    /// URLs discovered and fetched beyond the start pages (each had a
    /// `discovered` event).
    pub discovered: u32,
    /// Links not followed, by reason.
    pub refused: Refusals,
    /// Each origin's robots.txt and what it meant (empty with `robots: ignore`).
    pub robots: Vec<RobotsReport>,
}

/// Links a crawl did not follow, by reason. Counted, not streamed one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Refusals {
    /// Outside the scope, or not matching `include` / matching `exclude`, or
    /// not an http(s) URL.
    pub out_of_scope: u32,
    /// Disallowed by the site's robots.txt.
    pub robots_disallowed: u32,
    /// Found after `max_pages` URLs were already taken.
    pub over_budget: u32,
    /// Leading to a URL already found in this run (same canonical URL).
    pub duplicate: u32,
    /// A target the deployment refuses (private hosts, `ALLOWED_HOSTS`).
    pub blocked_target: u32,
}

/// One origin's robots.txt, as the crawl read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RobotsReport {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// `rules` (the file was read), `allow_all` (4xx: no file) or
    /// `disallow_all` (5xx or no answer: RFC 9309 says crawl nothing).
    pub outcome: String,
    /// The HTTP status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no answer, when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `Crawl-delay` that applies to Fanout, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl_delay_ms: Option<u64>,
}

/// How saving a run's results went, in the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SaveReport {
    /// The run the results were saved under.
    pub run_id: String,
    /// Result rows written by this request.
    pub rows: u64,
    /// Milliseconds during which this request had a D1 write in flight (the
    /// writes run beside the stream, so this is D1's time, not the client's
    /// wait), the final recount included.
    #[serde(default)]
    pub write_ms: u64,
    /// The first error, when saving failed (the stream itself is complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `GET /api/v1/config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConfigResponse {
    /// Limits in force.
    pub limits: Limits,
    /// Defaults applied to options left out.
    pub defaults: RunOptions,
    /// Whether the API (every route but health, config and the OpenAPI
    /// document) needs a bearer token: a token is set, or the deployment is
    /// closed (no token, and not opened with `OPEN_ACCESS`).
    pub token_required: bool,
    /// Opened to anyone on purpose (`OPEN_ACCESS = "true"`, no token), rate
    /// limited per client IP.
    #[serde(default)]
    pub open_access: bool,
    /// The edge's version.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_405_names_the_methods_its_path_serves() {
        for (path, allow) in [
            ("/api/v1/health", "GET"),
            ("/api/v1/load", "POST"),
            ("/api/v1/runs", "GET, POST"),
            ("/api/v1/runs/r1", "GET, DELETE"),
            ("/api/v1/runs/r1/diff", "GET"),
            ("/api/v1/jobs/j1/cancel", "POST"),
            ("/api/v1/jobs/j1/events", "GET"),
            ("/api/v1/watches/w1", "GET, PATCH, DELETE"),
            ("/api/v1/watches/w1/test", "POST"),
            ("/api/v1/watches/w1/prices", "GET"),
        ] {
            let e = ApiError::method_not_allowed(&"TRACE", path);
            assert_eq!((e.status, e.allow), (405, Some(allow)), "{path}");
        }
    }

    /// A line that lacks what its type needs, or has an unknown type, is an
    /// error that names the problem, not a half-filled event.
    #[test]
    fn a_line_missing_a_field_or_of_unknown_type_is_refused_by_name() {
        let err = |line: &str| serde_json::from_str::<Event>(line).unwrap_err().to_string();
        assert!(
            err(r#"{"type":"done","id":1,"url":"http://a/","bytes":3,"ms":4,"attempts":1,"t":5}"#)
                .contains("missing field `status`")
        );
        assert!(err(r#"{"type":"queued","id":1,"url":"http://a/"}"#).contains("missing field `t`"));
        assert!(err(r#"{"type":"teleported","t":1}"#).contains("unknown event type `teleported`"));
        assert!(err(r#"{"id":1,"t":1}"#).contains("missing field `type`"));
        assert!(err(r#"{"type":"heartbeat","t":"soon"}"#).contains("field `t` is not a whole number"));
        assert!(err(r#"{"type":"started","id":-1,"url":"http://a/","attempt":1,"t":1}"#).contains("field `id` is not"));
        assert!(
            err(r#"{"type":"done","id":1,"url":"http://a/","status":70000,"bytes":3,"ms":4,"attempts":1,"t":5}"#)
                .contains("field `status` is not a whole number in range")
        );
        // Inside nested objects the error names the whole path.
        assert!(
            err(r#"{"type":"done","id":1,"url":"u","status":200,"bytes":3,"ms":4,"attempts":1,"t":5,"product":{"name":{"value":"A"}}}"#)
                .contains("missing field `product.name.source`")
        );
        assert!(
            err(r#"{"type":"failed","id":1,"url":"u","error":{"kind":"timeout"},"attempts":1,"t":5}"#)
                .contains("missing field `error.message`")
        );
        // Fields of other types and unknown fields are ignored, as the
        // contract lets the edge add fields.
        let ok: Event =
            serde_json::from_str(r#"{"t":7,"type":"heartbeat","id":3,"new_field":[1,{"a":null}]}"#).unwrap();
        assert_eq!(ok, Event::Heartbeat { t: 7 });
    }

    #[test]
    fn events_use_the_contract_field_names() {
        let ev = Event::Retrying {
            id: 3,
            url: "http://a/".into(),
            attempt: 1,
            wait_ms: 250,
            reason: "HTTP 503".into(),
            status: Some(503),
            t: 12,
        };
        let v: serde_json::Value = serde_json::from_str(&ev.to_ndjson()).unwrap();
        assert_eq!(v["type"], "retrying");
        assert_eq!(v["id"], 3);
        assert_eq!(v["wait_ms"], 250);
        assert_eq!(v["reason"], "HTTP 503");
        assert!(ev.to_ndjson().ends_with('\n'));

        let failed = Event::Failed {
            id: 0,
            url: "u".into(),
            error: EventError { kind: ErrorKind::Timeout, message: "m".into() },
            attempts: 3,
            status: None,
            t: 1,
        };
        let v: serde_json::Value = serde_json::to_value(&failed).unwrap();
        assert_eq!(v["error"]["kind"], "timeout");
        assert!(v.get("status").is_none());
    }

    #[test]
    fn unknown_request_fields_are_rejected() {
        let r: Result<RunRequest, _> = serde_json::from_str(r#"{"urls":[],"concurency":3}"#);
        assert!(r.is_err());
        let r: RunRequest = serde_json::from_str(r#"{"urls":["http://x/"]}"#).unwrap();
        assert_eq!(r.concurrency, None);
    }
}
