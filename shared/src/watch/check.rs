//! A watch request checked before it is saved: its schedule within the
//! deployment's bounds, its rules well formed, its webhook a target the
//! deployment may reach, its job a job that could start now. Every refusal
//! is a 4xx that says what to fix.

use url::Url;

use crate::history::decimal::parse_decimal;
use crate::input::job::JobBody;
use crate::input::target::{TargetPolicy, check_url};
use crate::input::validation::{is_own_demo_url, validate};
use crate::wire::config::Limits;
use crate::wire::protocol::ApiError;
use crate::wire::watches::{Channel, Rule, Schedule, Webhook};

/// Longest interval between runs: 30 days.
pub const MAX_EVERY_MINUTES: u32 = 30 * 24 * 60;
/// Most rules per watch.
pub const MAX_RULES: usize = 20;
/// Longest name.
pub const MAX_NAME_CHARS: usize = 100;
/// Shortest and longest webhook secret a client may give.
pub const SECRET_CHARS: (usize, usize) = (16, 256);

fn bad(kind: &str, msg: impl Into<String>) -> ApiError {
    ApiError::refused(kind, msg)
}

/// The schedule within `min_minutes` and [`MAX_EVERY_MINUTES`], its jitter
/// at most its interval.
pub fn check_schedule(s: &Schedule, min_minutes: u32) -> Result<(), ApiError> {
    if s.every_minutes < min_minutes.max(1) || s.every_minutes > MAX_EVERY_MINUTES {
        return Err(bad(
            "option_out_of_range",
            format!(
                "schedule.every_minutes must be between {} (MIN_WATCH_MINUTES) and {MAX_EVERY_MINUTES}, got {}",
                min_minutes.max(1),
                s.every_minutes
            ),
        ));
    }
    if s.jitter_minutes > s.every_minutes {
        return Err(bad(
            "conflicting_options",
            format!(
                "schedule.jitter_minutes must be at most every_minutes ({}), got {}",
                s.every_minutes, s.jitter_minutes
            ),
        ));
    }
    Ok(())
}

fn decimal(field: &str, v: &str) -> Result<i128, ApiError> {
    parse_decimal(v).map(|(x, _)| x).ok_or_else(|| {
        bad("invalid_rule", format!("{field} = {v:?} is not a decimal number (like \"19.90\", a dot for decimals)"))
    })
}

/// The rules well formed; currencies upper-cased.
pub fn check_rules(rules: &mut [Rule]) -> Result<(), ApiError> {
    if rules.len() > MAX_RULES {
        return Err(bad("option_out_of_range", format!("{} rules; at most {MAX_RULES}", rules.len())));
    }
    for (i, rule) in rules.iter_mut().enumerate() {
        match rule {
            Rule::PriceDrop { percent, amount } => match (percent, amount) {
                (Some(p), None) if *p > 0.0 && *p <= 100.0 => {}
                (Some(p), None) => {
                    return Err(bad(
                        "invalid_rule",
                        format!("rules[{i}].percent must be above 0 and at most 100, got {p}"),
                    ));
                }
                (None, Some(a)) => {
                    if decimal(&format!("rules[{i}].amount"), a)? <= 0 {
                        return Err(bad("invalid_rule", format!("rules[{i}].amount must be above 0, got {a}")));
                    }
                }
                _ => {
                    return Err(bad(
                        "invalid_rule",
                        format!("rules[{i}] (price_drop) takes `percent` or `amount`, one of them"),
                    ));
                }
            },
            Rule::PriceAtOrBelow { target, currency } => {
                if decimal(&format!("rules[{i}].target"), target)? < 0 {
                    return Err(bad("invalid_rule", format!("rules[{i}].target must not be negative, got {target}")));
                }
                if let Some(c) = currency {
                    if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(bad(
                            "invalid_rule",
                            format!("rules[{i}].currency = {c:?} is not an ISO 4217 code (three letters, like EUR)"),
                        ));
                    }
                    *c = c.to_ascii_uppercase();
                }
            }
            Rule::BackInStock | Rule::OutOfStock | Rule::PriceChange | Rule::NewlyFailing | Rule::Recovered => {}
        }
    }
    Ok(())
}

/// The webhook's URL a target this deployment may reach, and its secret,
/// when given, of a sensible length.
pub fn check_webhook(w: &Webhook, policy: &TargetPolicy) -> Result<Url, ApiError> {
    let url = check_url(&w.url).map_err(|e| bad("invalid_webhook", format!("webhook.url = {:?}: {e}", w.url)))?;
    policy.check(&url).map_err(|e| {
        bad(
            "blocked_target",
            format!(
                "webhook.url: {e}. Webhooks obey the same target rules as fetched URLs \
                 (ALLOW_PRIVATE_TARGETS, ALLOWED_HOSTS)"
            ),
        )
    })?;
    if let Some(s) = &w.secret {
        let n = s.chars().count();
        if n < SECRET_CHARS.0 || n > SECRET_CHARS.1 || s.chars().any(char::is_control) {
            return Err(bad(
                "invalid_webhook",
                format!(
                    "webhook.secret must be {} to {} printable characters, got {n}; or leave it out and one is made",
                    SECRET_CHARS.0, SECRET_CHARS.1
                ),
            ));
        }
    }
    Ok(url)
}

/// Most chat channels a watch has.
pub const MAX_CHANNELS: usize = 5;

/// A watch's Slack and Discord channels: at most [`MAX_CHANNELS`], each an
/// `http(s)` URL the deployment's target rules allow, none twice.
pub fn check_channels(channels: &[Channel], policy: &TargetPolicy) -> Result<(), ApiError> {
    if channels.len() > MAX_CHANNELS {
        return Err(bad("invalid_channel", format!("{} channels; a watch has at most {MAX_CHANNELS}", channels.len())));
    }
    for (i, c) in channels.iter().enumerate() {
        let url =
            check_url(&c.url).map_err(|e| bad("invalid_channel", format!("channels[{i}].url = {:?}: {e}", c.url)))?;
        policy.check(&url).map_err(|e| {
            bad(
                "blocked_target",
                format!(
                    "channels[{i}].url: {e}. Channels obey the same target rules as fetched URLs \
                     (ALLOW_PRIVATE_TARGETS, ALLOWED_HOSTS)"
                ),
            )
        })?;
        if channels[..i].iter().any(|o| o.kind == c.kind && o.url == c.url) {
            return Err(bad("invalid_channel", format!("channels[{i}] is given twice")));
        }
    }
    Ok(())
}

/// A name of at most [`MAX_NAME_CHARS`].
pub fn check_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        Some(n) if n.chars().count() > MAX_NAME_CHARS => Err(bad(
            "option_out_of_range",
            format!("name is {} characters; at most {MAX_NAME_CHARS}", n.chars().count()),
        )),
        _ => Ok(()),
    }
}

/// The job could start: its options and URLs checked as a job's are
/// (`limits` are the job limits), a sitemap's URL a reachable target (its
/// URLs are read at each run).
pub fn check_job(job: &JobBody, limits: &Limits, own_origin: Option<&Url>) -> Result<(), ApiError> {
    let mut run = job.run.clone();
    if let Some(sitemap) = &job.sitemap {
        let url = check_url(sitemap).map_err(|e| bad("invalid_url", format!("sitemap = {sitemap:?}: {e}")))?;
        if !is_own_demo_url(&url, own_origin) {
            TargetPolicy::from_limits(limits)
                .check(&url)
                .map_err(|e| bad("blocked_target", format!("sitemap: {e}")))?;
        }
        // The options are checked as if the sitemap were the list.
        run.urls = vec![sitemap.clone()];
    }
    validate(run, limits, own_origin).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::job::read_job;
    use serde_json::json;

    fn sched(every: u32, jitter: u32) -> Schedule {
        Schedule { every_minutes: every, jitter_minutes: jitter, paused: false }
    }

    #[test]
    fn schedules_within_bounds() {
        assert!(check_schedule(&sched(5, 0), 5).is_ok());
        assert!(check_schedule(&sched(5, 5), 5).is_ok());
        assert_eq!(check_schedule(&sched(4, 0), 5).expect_err("too often").kind, "option_out_of_range");
        assert_eq!(check_schedule(&sched(0, 0), 0).expect_err("never zero").kind, "option_out_of_range");
        assert!(check_schedule(&sched(MAX_EVERY_MINUTES + 1, 0), 1).is_err());
        assert!(check_schedule(&sched(10, 11), 1).expect_err("jitter").message.contains("jitter_minutes"));
    }

    #[test]
    fn rules_well_formed() {
        let ok = |r: Rule| check_rules(&mut [r]).is_ok();
        assert!(ok(Rule::PriceDrop { percent: Some(10.0), amount: None }));
        assert!(ok(Rule::PriceDrop { percent: None, amount: Some("2.50".into()) }));
        assert!(!ok(Rule::PriceDrop { percent: None, amount: None }));
        assert!(!ok(Rule::PriceDrop { percent: Some(10.0), amount: Some("1".into()) }));
        assert!(!ok(Rule::PriceDrop { percent: Some(0.0), amount: None }));
        assert!(!ok(Rule::PriceDrop { percent: Some(120.0), amount: None }));
        assert!(!ok(Rule::PriceDrop { percent: None, amount: Some("1,50".into()) }));
        assert!(!ok(Rule::PriceAtOrBelow { target: "-1".into(), currency: None }));
        assert!(!ok(Rule::PriceAtOrBelow { target: "10".into(), currency: Some("euro".into()) }));
        let mut rules = [Rule::PriceAtOrBelow { target: "10".into(), currency: Some("eur".into()) }];
        check_rules(&mut rules).expect("fine");
        assert_eq!(rules[0], Rule::PriceAtOrBelow { target: "10".into(), currency: Some("EUR".into()) });
        let mut many = vec![Rule::BackInStock; MAX_RULES + 1];
        assert!(check_rules(&mut many).is_err());
    }

    #[test]
    fn webhooks_obey_the_target_rules() {
        let production = TargetPolicy::default();
        let hook = |url: &str| Webhook { url: url.into(), secret: None };
        assert!(check_webhook(&hook("https://hooks.example.com/fanout"), &production).is_ok());
        assert_eq!(
            check_webhook(&hook("http://127.0.0.1:9/x"), &production).expect_err("private").kind,
            "blocked_target"
        );
        assert_eq!(check_webhook(&hook("ftp://a.example/"), &production).expect_err("scheme").kind, "invalid_webhook");
        let short = Webhook { url: "https://a.example/".into(), secret: Some("short".into()) };
        assert_eq!(check_webhook(&short, &production).expect_err("secret").kind, "invalid_webhook");
        let dev = TargetPolicy { allow_private: true, ..TargetPolicy::default() };
        assert!(check_webhook(&hook("http://127.0.0.1:9/x"), &dev).is_ok());
    }

    #[test]
    fn jobs_are_checked_as_jobs() {
        let limits = Limits::default();
        let list = read_job(json!({"urls": ["https://shop.example/p/1"]})).expect("read");
        assert!(check_job(&list, &limits, None).is_ok());
        let private = read_job(json!({"urls": ["http://10.0.0.1/"]})).expect("read");
        assert_eq!(check_job(&private, &limits, None).expect_err("private").kind, "blocked_target");
        let sm = read_job(json!({"sitemap": "http://10.0.0.1/sitemap.xml"})).expect("read");
        assert_eq!(check_job(&sm, &limits, None).expect_err("private").kind, "blocked_target");
        let bad_opt = read_job(json!({"urls": ["https://shop.example/"], "concurrency": 0})).expect("read");
        assert_eq!(check_job(&bad_opt, &limits, None).expect_err("range").kind, "option_out_of_range");
        assert!(check_name(Some(&"x".repeat(101))).is_err());
        assert!(check_name(Some("Shoes")).is_ok());
    }
}
