//! `GET /api/v1/sitemap?url=…`: a sitemap's page URLs, read through the
//! edge under the deployment's target rules (sitemap indexes followed, to a
//! bounded depth and file count). Jobs read sitemaps the same way.

use std::collections::{HashSet, VecDeque};

use fanout_shared::engine::retry::is_success;
use fanout_shared::input::sitemap::{MAX_SITEMAP_DEPTH, MAX_SITEMAP_FILES, Sitemap, parse as parse_sitemap};
use fanout_shared::input::target::{TargetPolicy, check_url};
use fanout_shared::input::validation::is_own_demo_url;
use fanout_shared::wire::protocol::ApiError;
use worker::{Request, Response, Result};

use crate::context::{Settings, authorize, error_response, json_response};
use crate::platform::fetch::fetch_text;

/// Most page URLs `GET /api/v1/sitemap` returns.
const MAX_SITEMAP_URLS: usize = 10_000;

/// `GET /api/v1/sitemap?url=…`: the page URLs of a sitemap, following
/// sitemap indexes (nested ones too, to a bounded depth and file count).
pub async fn sitemap(req: &Request, settings: &Settings) -> Result<Response> {
    match sitemap_urls(req, settings).await {
        Ok(body) => json_response(200, &body),
        Err(e) => error_response(&e),
    }
}

async fn sitemap_urls(req: &Request, settings: &Settings) -> std::result::Result<serde_json::Value, ApiError> {
    authorize(req, settings)?;
    let own = req.url().map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let Some(target) = own.query_pairs().find(|(k, _)| k == "url").map(|(_, v)| v.into_owned()) else {
        return Err(ApiError::refused("no_url", "give the sitemap as ?url=https://…/sitemap.xml"));
    };
    let found = read_sitemap(&target, &own, settings, MAX_SITEMAP_URLS).await?;
    Ok(
        serde_json::json!({ "urls": found.urls, "sitemaps": found.files, "truncated": found.truncated, "errors": found.errors }),
    )
}

/// What reading a sitemap found.
pub struct SitemapUrls {
    /// Page URLs, each once, in order.
    pub urls: Vec<String>,
    /// Sitemap files read.
    pub files: usize,
    /// Whether a limit cut the list short.
    pub truncated: bool,
    /// Files that could not be read, and why.
    pub errors: Vec<String>,
}

/// Read the sitemap at `target` (indexes followed, to a bounded depth and
/// file count; at most `max_urls` URLs) under the deployment's target rules.
pub async fn read_sitemap(
    target: &str,
    own: &url::Url,
    settings: &Settings,
    max_urls: usize,
) -> std::result::Result<SitemapUrls, ApiError> {
    let start = check_url(target).map_err(|e| ApiError::refused("invalid_url", format!("{target:?}: {e}")))?;
    let policy = TargetPolicy::from_limits(&settings.limits);
    if !is_own_demo_url(&start, Some(own))
        && let Err(e) = policy.check(&start)
    {
        return Err(ApiError::refused("blocked_target", e.to_string()));
    }
    let mut queue = VecDeque::from([(start, 0usize)]);
    let (mut files, mut truncated) = (0usize, false);
    let mut seen = HashSet::new();
    let (mut urls, mut errors) = (Vec::new(), Vec::new());
    while let Some((url, depth)) = queue.pop_front() {
        if files >= MAX_SITEMAP_FILES {
            truncated = true;
            break;
        }
        files += 1;
        match fetch_text(
            url.clone(),
            own,
            &policy,
            settings.limits.max_body_bytes,
            settings.demo_robots_status,
            &settings.gate,
        )
        .await
        {
            Ok((status, body)) if is_success(status) => match parse_sitemap(&body) {
                Sitemap::Urls(list) => {
                    for u in list {
                        if urls.len() >= max_urls {
                            truncated = true;
                            break;
                        }
                        if seen.insert(u.clone()) {
                            urls.push(u);
                        }
                    }
                }
                Sitemap::Index(list) if depth < MAX_SITEMAP_DEPTH => {
                    for s in list {
                        match url.join(&s) {
                            Ok(next) => queue.push_back((next, depth + 1)),
                            Err(e) => errors.push(format!("{s}: {e}")),
                        }
                    }
                }
                Sitemap::Index(_) => {
                    errors.push(format!("{url}: sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH}"))
                }
            },
            Ok((status, _)) => errors.push(format!("{url}: HTTP {status}")),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    if urls.is_empty() && !errors.is_empty() {
        return Err(ApiError::new(502, "sitemap_unavailable", errors.join("; ")));
    }
    Ok(SitemapUrls { urls, files, truncated, errors })
}
