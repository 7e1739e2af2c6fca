//! Why a URL failed: one error type for the whole fan-out, and its wire kind.
//!
//! `Display` is written by hand rather than derived with `thiserror`: the enum
//! is small, and `shared` keeps its dependency list to what the wasm bundles
//! need.

use core::fmt;

use serde::{Deserialize, Serialize};

/// The machine-readable kind of a failure, as it appears in `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Connection refused, reset, DNS failure: the request never got an answer.
    Network,
    /// The attempt's deadline passed before headers and body were in.
    Timeout,
    /// The upstream answered with a status that is not a success.
    HttpStatus,
    /// The URL cannot be fetched as written.
    InvalidUrl,
    /// The target is not allowed by the deployment's configuration.
    BlockedTarget,
    /// The body passed the configured byte cap.
    BodyTooLarge,
    /// Too many redirects, or a redirect loop.
    TooManyRedirects,
    /// The run's own deadline passed before the URL finished.
    DeadlineExceeded,
    /// The upstream asked to be retried later than Fanout is willing to wait.
    RetryAfterTooLong,
    /// The site's robots.txt disallows the URL (a crawl's start page given
    /// explicitly; discovered ones are only counted).
    RobotsDisallowed,
    /// A background job handed the URL out several times and no consumer
    /// ever reported it.
    LeaseExpired,
    /// A kind this build does not know (sent by a newer edge).
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// The wire name, for labels and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::HttpStatus => "http_status",
            Self::InvalidUrl => "invalid_url",
            Self::BlockedTarget => "blocked_target",
            Self::BodyTooLarge => "body_too_large",
            Self::TooManyRedirects => "too_many_redirects",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::RetryAfterTooLong => "retry_after_too_long",
            Self::RobotsDisallowed => "robots_disallowed",
            Self::LeaseExpired => "lease_expired",
            Self::Other => "other",
        }
    }
}

impl ErrorKind {
    /// Every kind, `Other` last.
    pub const ALL: [ErrorKind; 12] = [
        Self::Network,
        Self::Timeout,
        Self::HttpStatus,
        Self::InvalidUrl,
        Self::BlockedTarget,
        Self::BodyTooLarge,
        Self::TooManyRedirects,
        Self::DeadlineExceeded,
        Self::RetryAfterTooLong,
        Self::RobotsDisallowed,
        Self::LeaseExpired,
        Self::Other,
    ];

    /// The kind with this wire name; a name this build does not know is
    /// [`ErrorKind::Other`] (as in the serde impl).
    pub fn from_wire(name: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.as_str() == name).unwrap_or(Self::Other)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one attempt at one URL did not produce a response.
///
/// Shells (the edge's fetcher, the test fakes) produce these; the scheduler
/// asks [`FetchError::is_retryable`] and never inspects the variants itself, so
/// classification lives in one place (the lychee model). Serialisable, for
/// a shard that fetched on another invocation's behalf
/// (`crate::engine::lanes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum FetchError {
    /// The connection failed or was reset.
    Network(String),
    /// The attempt ran past its deadline and was aborted.
    Timeout {
        /// The deadline that passed.
        after_ms: u64,
    },
    /// The URL could not be parsed or is not http(s).
    InvalidUrl(String),
    /// The target (or a redirect hop) is not allowed.
    BlockedTarget(String),
    /// The body passed the cap, so the fetch was aborted.
    BodyTooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// The redirect chain was too long or looped.
    TooManyRedirects {
        /// Hops followed before giving up.
        hops: u32,
        /// Whether a URL came round again.
        looped: bool,
    },
}

impl FetchError {
    /// The wire kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Network(_) => ErrorKind::Network,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::InvalidUrl(_) => ErrorKind::InvalidUrl,
            Self::BlockedTarget(_) => ErrorKind::BlockedTarget,
            Self::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            Self::TooManyRedirects { .. } => ErrorKind::TooManyRedirects,
        }
    }

    /// Whether another attempt could succeed. Only transient transport
    /// failures are retried; anything the same request would hit again is not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Timeout { .. })
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(msg) => write!(f, "network error: {msg}"),
            Self::Timeout { after_ms } => write!(f, "no complete answer within {after_ms} ms"),
            Self::InvalidUrl(msg) => write!(f, "invalid URL: {msg}"),
            Self::BlockedTarget(msg) => write!(f, "target not allowed: {msg}"),
            Self::BodyTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::TooManyRedirects { hops, looped: true } => write!(f, "redirect loop after {hops} redirects"),
            Self::TooManyRedirects { hops, looped: false } => write!(f, "gave up after {hops} redirects"),
        }
    }
}

impl std::error::Error for FetchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_errors_are_retryable() {
        assert!(FetchError::Network("reset".into()).is_retryable());
        assert!(FetchError::Timeout { after_ms: 5 }.is_retryable());
        assert!(!FetchError::InvalidUrl("x".into()).is_retryable());
        assert!(!FetchError::BlockedTarget("x".into()).is_retryable());
        assert!(!FetchError::BodyTooLarge { limit: 1 }.is_retryable());
        assert!(!FetchError::TooManyRedirects { hops: 10, looped: false }.is_retryable());
    }

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_tolerated() {
        let json = serde_json::to_string(&ErrorKind::BodyTooLarge).unwrap_or_default();
        assert_eq!(json, "\"body_too_large\"");
        let other: ErrorKind = serde_json::from_str("\"from_the_future\"").unwrap_or(ErrorKind::Network);
        assert_eq!(other, ErrorKind::Other);
        assert_eq!(ErrorKind::DeadlineExceeded.as_str(), "deadline_exceeded");
    }
}
