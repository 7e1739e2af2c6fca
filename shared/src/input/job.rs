//! A job request (`POST /api/v1/jobs`, a watch's `job`) read strictly from
//! parsed JSON: a run request with an optional `sitemap` instead of `urls`.

use crate::wire::config::Limits;
use crate::wire::protocol::{ApiError, RunRequest};

/// What a job request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobBody {
    /// The run (its `urls` empty when a sitemap gives them).
    pub run: RunRequest,
    /// The sitemap to read the URLs from.
    pub sitemap: Option<String>,
    /// `list`, `sitemap` or `crawl`.
    pub kind: &'static str,
}

/// What a job request looks like, for error messages.
pub const JOB_EXAMPLE: &str = r#"{"urls": ["https://…"], …} or {"sitemap": "https://…/sitemap.xml", …}"#;

/// Read `body` as a job request: `sitemap` is the job's own field; the rest
/// is a run request, read strictly (unknown fields refused), its `urls`
/// empty with a sitemap. `urls` with `sitemap`, or `sitemap` with `crawl`,
/// are `conflicting_options`.
pub fn read_job(mut body: serde_json::Value) -> Result<JobBody, ApiError> {
    let malformed = |e: String| {
        ApiError::refused("malformed_json", format!("the body is not a job request: {e}. Expected {JOB_EXAMPLE}"))
    };
    let obj = body.as_object_mut().ok_or_else(|| malformed("not a JSON object".into()))?;
    let sitemap = match obj.remove("sitemap") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(malformed("`sitemap` must be a URL string".into())),
    };
    if sitemap.is_some() && !obj.contains_key("urls") {
        obj.insert("urls".into(), serde_json::Value::Array(Vec::new()));
    }
    let run: RunRequest = serde_json::from_value(body).map_err(|e| malformed(e.to_string()))?;
    let kind = match (&sitemap, &run.crawl) {
        (Some(_), Some(_)) => {
            return Err(ApiError::refused("conflicting_options", "give `sitemap` or `crawl`, not both"));
        }
        (Some(_), None) if !run.urls.is_empty() => {
            return Err(ApiError::refused("conflicting_options", "give `urls` or `sitemap`, not both"));
        }
        (Some(_), None) => "sitemap",
        (None, Some(_)) => "crawl",
        (None, None) => "list",
    };
    Ok(JobBody { run, sitemap, kind })
}

/// The limits a job is checked with: a job's list, and a crawl job's page
/// budget, may be as long as `max_job_urls`; its body as big as
/// `max_job_request_bytes`.
pub fn job_limits(limits: &Limits, max_job_request_bytes: u64) -> Limits {
    Limits {
        max_request_bytes: max_job_request_bytes,
        max_urls_per_request: limits.max_job_urls,
        max_crawl_pages: limits.max_job_urls,
        ..limits.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_lists_sitemaps_and_crawls() {
        let list = read_job(json!({"urls": ["https://a.example/"], "concurrency": 5})).expect("a list");
        assert_eq!((list.kind, list.run.urls.len(), list.run.concurrency), ("list", 1, Some(5)));
        let sm = read_job(json!({"sitemap": "https://a.example/sitemap.xml"})).expect("a sitemap");
        assert_eq!((sm.kind, sm.sitemap.as_deref()), ("sitemap", Some("https://a.example/sitemap.xml")));
        assert!(sm.run.urls.is_empty());
        let crawl = read_job(json!({"urls": ["https://a.example/"], "crawl": {}})).expect("a crawl");
        assert_eq!(crawl.kind, "crawl");
    }

    #[test]
    fn refuses_unknown_fields_conflicts_and_non_objects() {
        let code = |v| read_job(v).expect_err("refused").kind;
        assert_eq!(code(json!({"urls": [], "concurency": 5})), "malformed_json");
        assert_eq!(code(json!({"urls": ["https://a/"], "sitemap": "https://a/s.xml"})), "conflicting_options");
        assert_eq!(code(json!({"sitemap": "https://a/s.xml", "crawl": {}})), "conflicting_options");
        assert_eq!(code(json!({"sitemap": 5})), "malformed_json");
        assert_eq!(code(json!(["https://a/"])), "malformed_json");
    }
}
