//! Watches: a saved job that runs on a schedule, alert rules over what each
//! run changed, and signed, retried webhook deliveries of what they matched.
//! Sans-IO like the rest: the edge's scheduler (a Durable Object alarm) passes the time in, the
//! job's Durable Object passes in the saved results and each delivery
//! attempt's answer.
//!
//! - [`check`]: a watch request (schedule, rules, webhook) checked, or a 4xx.
//! - [`schedule`]: when a watch is due next, with its jitter.
//! - [`rules`]: the rules evaluated on two runs' saved results.
//! - [`delivery`]: one run's alerts as a payload, and its attempts with the
//!   fetches' full-jitter backoff.
//! - [`sign`]: the HMAC-SHA256 signature of a delivery and its check.
//! - [`notify`]: the same alerts as Slack and Discord messages.

pub mod check;
pub mod delivery;
pub mod notify;
pub mod rules;
pub mod schedule;
pub mod sign;
