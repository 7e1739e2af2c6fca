//! The deployment's configuration: limits from `wrangler.toml` `[vars]` and
//! the optional API token secret.

use fanout_shared::config::Limits;
use worker::Env;

/// Everything a request handler needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Limits in force.
    pub limits: Limits,
    /// When set, `/api/v1/runs` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Saved runs kept at most; the oldest go first.
    pub history_max_runs: u32,
    /// Saved runs older than this many days are deleted.
    pub history_max_age_days: u32,
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}

fn num<T: std::str::FromStr>(env: &Env, name: &str, fallback: T) -> T {
    // A malformed var falls back to the built-in default rather than taking
    // the whole API down; /api/v1/config shows what is in force.
    var(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(fallback)
}

impl Settings {
    /// Read the settings from the Worker's environment.
    pub fn from_env(env: &Env) -> Self {
        let d = Limits::default();
        let limits = Limits {
            max_urls_per_request: num(env, "MAX_URLS_PER_REQUEST", d.max_urls_per_request),
            max_concurrency: num(env, "MAX_CONCURRENCY", d.max_concurrency),
            max_attempts: num(env, "MAX_ATTEMPTS", d.max_attempts),
            max_timeout_ms: num(env, "MAX_TIMEOUT_MS", d.max_timeout_ms),
            max_deadline_ms: num(env, "MAX_DEADLINE_MS", d.max_deadline_ms),
            max_backoff_ms: num(env, "MAX_BACKOFF_MS", d.max_backoff_ms),
            max_request_bytes: num(env, "MAX_REQUEST_BYTES", d.max_request_bytes),
            max_body_bytes: num(env, "MAX_BODY_BYTES", d.max_body_bytes),
            max_load_requests: num(env, "MAX_LOAD_REQUESTS", d.max_load_requests),
            max_load_duration_ms: num(env, "MAX_LOAD_DURATION_MS", d.max_load_duration_ms),
            max_load_concurrency: num(env, "MAX_LOAD_CONCURRENCY", d.max_load_concurrency),
            allow_private_targets: var(env, "ALLOW_PRIVATE_TARGETS")
                .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes")),
            allowed_hosts: var(env, "ALLOWED_HOSTS")
                .map(|v| v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect())
                .unwrap_or_default(),
        };
        let token = env.secret("API_TOKEN").ok().map(|s| s.to_string()).filter(|s| !s.is_empty());
        Self {
            limits,
            token,
            // At least the run being saved, and at least a day.
            history_max_runs: num(env, "HISTORY_MAX_RUNS", 200).max(1),
            history_max_age_days: num(env, "HISTORY_MAX_AGE_DAYS", 90).max(1),
        }
    }
}
