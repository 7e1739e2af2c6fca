//! A load request checked into a plan, within the deployment's limits and
//! under the same target rules as runs.

use crate::input::target::{TargetPolicy, check_url};
use crate::input::validation::{decode_json, in_range, is_own_demo_url, option_in_range};
use crate::load::protocol::{DEFAULT_LOAD_CONCURRENCY, DEFAULT_LOAD_REQUESTS, LoadMethod, LoadRequest};
use crate::wire::config::{DEFAULT_TIMEOUT_MS, Limits};
use crate::wire::protocol::ApiError;

/// A checked load test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    /// The target.
    pub url: url::Url,
    /// The method.
    pub method: LoadMethod,
    /// Most requests to send: `requests`, or in duration mode the limit.
    pub max_requests: u64,
    /// Duration mode: stop starting requests (and abort those in flight) here.
    pub duration_ms: Option<u64>,
    /// In-flight cap.
    pub concurrency: u32,
    /// Per-request deadline.
    pub timeout_ms: u64,
    /// Spread the requests over invocations (`fan_out`, default true).
    pub fan_out: bool,
}

/// Check a load request's raw body against `limits`.
pub fn parse_load_request(
    content_type: Option<&str>,
    body: &[u8],
    limits: &Limits,
    own_origin: Option<&url::Url>,
) -> Result<LoadPlan, ApiError> {
    let req = decode_json(
        content_type,
        body,
        limits,
        "a load test",
        r#"{"url": "https://…", "requests": 500, "concurrency": 20}"#,
    )?;
    validate_load(req, limits, own_origin)
}

/// Check a decoded load request against `limits`. `own_origin`'s demo pages
/// are always allowed.
pub fn validate_load(req: LoadRequest, limits: &Limits, own_origin: Option<&url::Url>) -> Result<LoadPlan, ApiError> {
    let shown: String = req.url.chars().take(200).collect();
    let url = check_url(&req.url).map_err(|e| ApiError::refused("invalid_url", format!("url = {shown:?}: {e}")))?;
    if !is_own_demo_url(&url, own_origin)
        && let Err(e) = TargetPolicy::from_limits(limits).check(&url)
    {
        return Err(ApiError::refused(
            "blocked_target",
            format!(
                "{e}. This deployment loads only public hosts (ALLOW_PRIVATE_TARGETS) and, when set, only ALLOWED_HOSTS"
            ),
        ));
    }
    let (max_requests, duration_ms) = match (req.requests, req.duration_ms) {
        (Some(_), Some(_)) => {
            return Err(ApiError::refused(
                "conflicting_options",
                "give either `requests` (a count) or `duration_ms` (a time), not both",
            ));
        }
        (None, Some(d)) => {
            (limits.max_load_requests, Some(in_range("duration_ms", d, 1, limits.max_load_duration_ms)?))
        }
        (n, None) => (option_in_range("requests", n, DEFAULT_LOAD_REQUESTS, 1, limits.max_load_requests)?, None),
    };
    let concurrency =
        option_in_range("concurrency", req.concurrency, DEFAULT_LOAD_CONCURRENCY, 1, limits.max_load_concurrency)?;
    let timeout_ms = option_in_range("timeout_ms", req.timeout_ms, DEFAULT_TIMEOUT_MS, 1, limits.max_timeout_ms)?;
    Ok(LoadPlan {
        url,
        method: req.method.unwrap_or_default(),
        max_requests,
        duration_ms,
        concurrency,
        timeout_ms,
        fan_out: req.fan_out.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { allow_private_targets: true, ..Limits::default() }
    }

    fn req(json: &str) -> Result<LoadPlan, ApiError> {
        let r: LoadRequest =
            serde_json::from_str(json).map_err(|e| ApiError::refused("malformed_json", e.to_string()))?;
        validate_load(r, &limits(), None)
    }

    #[test]
    fn requests_are_validated() {
        let p = req(r#"{"url":"http://127.0.0.1:9/x"}"#).unwrap();
        assert_eq!(
            (p.max_requests, p.concurrency, p.method),
            (DEFAULT_LOAD_REQUESTS, DEFAULT_LOAD_CONCURRENCY, LoadMethod::Get)
        );
        let p = req(r#"{"url":"http://a.test/","duration_ms":5000,"method":"HEAD","concurrency":3}"#).unwrap();
        assert_eq!(
            (p.max_requests, p.duration_ms, p.method),
            (limits().max_load_requests, Some(5000), LoadMethod::Head)
        );
        let kind = |j: &str| req(j).unwrap_err().kind;
        assert_eq!(kind(r#"{"url":"http://a.test/","requests":5,"duration_ms":5}"#), "conflicting_options");
        assert_eq!(kind(r#"{"url":"http://a.test/","requests":0}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"url":"http://a.test/","requests":100000000}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"url":"http://a.test/","concurrency":100000}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"url":"http://a.test/","duration_ms":999999999}"#), "option_out_of_range");
        assert_eq!(kind(r#"{"url":"ftp://a.test/"}"#), "invalid_url");
        assert_eq!(kind(r#"{"url":"http://a.test/","method":"POST"}"#), "malformed_json");
        assert_eq!(kind(r#"{"url":"http://a.test/","n":3}"#), "malformed_json");
        let locked = Limits::default();
        let r: LoadRequest = serde_json::from_str(r#"{"url":"http://127.0.0.1:8080/"}"#).unwrap();
        assert_eq!(validate_load(r, &locked, None).unwrap_err().kind, "blocked_target");
        // Defaults are lowered to a deployment's smaller limits.
        let small = Limits { max_load_requests: 7, max_load_concurrency: 2, max_timeout_ms: 100, ..limits() };
        let r: LoadRequest = serde_json::from_str(r#"{"url":"http://a.test/"}"#).unwrap();
        let p = validate_load(r, &small, None).expect("the defaults fit");
        assert_eq!((p.max_requests, p.concurrency, p.timeout_ms), (7, 2, 100));
    }
}
