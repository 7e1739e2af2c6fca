//! Delivering a run's alerts: the payload, and its attempts. An attempt
//! that gets a 2xx delivers it; a 5xx, a 429, a 408 or no answer is retried
//! with the same full-jitter backoff as fetches (a `Retry-After` honoured as
//! a floor), at most [`DELIVERY_BACKOFF`]`.max_attempts` times in all; any
//! other answer fails it at once (the receiver refused it; sending it again
//! would not help). Every attempt leaves a [`DeliveryAttempt`] for the log.

use serde::{Deserialize, Serialize};

use crate::engine::retry::{Backoff, Decision, Rng, is_retryable_status};
use crate::watch::notify::render;
use crate::wire::watches::{Alert, AlertPayload, Channel, DeliveryAttempt, PayloadRun, PayloadWatch};

/// The signed JSON webhook's channel name.
pub const WEBHOOK: &str = "webhook";

fn webhook() -> String {
    WEBHOOK.into()
}

/// Attempts and their backoff: five in all, waits from up to 1 s doubling
/// to at most 60 s (about two minutes in the worst case).
pub const DELIVERY_BACKOFF: Backoff = Backoff { max_attempts: 5, base_ms: 1_000, max_ms: 60_000 };

/// A receiver took it: a 2xx (a redirect is not followed, so it is not).
fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// How long one attempt may take.
pub const DELIVERY_TIMEOUT_MS: u64 = 10_000;

/// The payload of a run's alerts to watch `watch`.
pub fn payload(watch: PayloadWatch, run: PayloadRun, alerts: Vec<Alert>) -> AlertPayload {
    AlertPayload {
        event: "watch.alerts".into(),
        delivery_id: format!("{}.{}", watch.watch_id, run.run_id),
        watch,
        run,
        alerts,
    }
}

/// A made-up alert for a channel's "send a test": one product of the demo
/// shop whose price fell, as a real run would report it. Its run is `test`.
pub fn sample(watch: PayloadWatch, now: u64) -> AlertPayload {
    let alert = Alert {
        rule: 0,
        rule_label: "price_drop ≥ 10%".into(),
        url: "https://fanout.example/demo/products/1".into(),
        name: Some("Aero Kettle 101 (a test alert)".into()),
        old_price: Some("104.92".into()),
        new_price: Some("89.99".into()),
        old_currency: Some("GBP".into()),
        currency: Some("GBP".into()),
        change: Some("-14.93".into()),
        percent: Some(-14.23),
        old_availability: Some("in_stock".into()),
        new_availability: Some("in_stock".into()),
    };
    AlertPayload {
        event: "watch.test".into(),
        delivery_id: format!("{}.test-{now}", watch.watch_id),
        watch,
        run: PayloadRun {
            run_id: "test".into(),
            compared_with: "test".into(),
            started_at: now,
            finished_at: now,
            urls: 1,
        },
        alerts: vec![alert],
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered this status (and maybe `Retry-After`, in ms).
    Status {
        /// The status.
        status: u16,
        /// Its `Retry-After`, parsed.
        retry_after_ms: Option<u64>,
    },
    /// No answer: connection refused, reset, timed out, or refused by the
    /// target rules.
    Error(String),
}

/// A delivery between attempts, as its job's object keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The payload's `delivery_id` (with the channel's name after it, for a
    /// chat channel).
    pub delivery_id: String,
    /// `webhook` (signed JSON), `slack` or `discord`.
    #[serde(default = "webhook")]
    pub channel: String,
    /// The watch.
    pub watch_id: String,
    /// The run.
    pub run_id: String,
    /// The webhook.
    pub url: String,
    /// The payload, as sent (every attempt sends the same bytes).
    pub body: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (Unix ms); `None` once it ended.
    pub next_at: Option<u64>,
}

impl Delivery {
    /// A delivery of `p` to the chat channel `c`, due at `now`, rendered
    /// in its format (`link`: the watch's page).
    pub fn to_channel(p: &AlertPayload, c: &Channel, link: Option<&str>, now: u64) -> Self {
        Self {
            delivery_id: format!("{}.{}", p.delivery_id, c.kind.as_str()),
            channel: c.kind.as_str().into(),
            url: c.url.clone(),
            body: render(c.kind, p, link),
            ..Self::new(p, &c.url, now)
        }
    }

    /// Whether it goes to the signed webhook (signed with the watch's secret).
    pub fn signed(&self) -> bool {
        self.channel == WEBHOOK
    }

    /// A delivery of `p` to the signed webhook `url`, due at `now`.
    pub fn new(p: &AlertPayload, url: &str, now: u64) -> Self {
        Self {
            channel: webhook(),
            delivery_id: p.delivery_id.clone(),
            watch_id: p.watch.watch_id.clone(),
            run_id: p.run.run_id.clone(),
            url: url.to_owned(),
            body: serde_json::to_string(p).unwrap_or_default(),
            attempts: 0,
            next_at: Some(now),
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.next_at.is_some_and(|t| t <= now)
    }

    /// Record an attempt that started at `started` and ended at `now` with
    /// `answer`: when (and whether) the next goes, and the log line.
    pub fn record(&mut self, started: u64, now: u64, answer: &Answer, rng: &mut dyn Rng) -> DeliveryAttempt {
        self.attempts += 1;
        let (status, error, retry_after) = match answer {
            Answer::Status { status, retry_after_ms } => (Some(*status), None, *retry_after_ms),
            Answer::Error(e) => (None, Some(e.clone()), None),
        };
        let retryable = match status {
            Some(s) => is_retryable_status(s),
            None => true,
        };
        let (outcome, next_at) = if status.is_some_and(delivered) {
            ("delivered", None)
        } else if !retryable {
            ("failed", None)
        } else {
            match DELIVERY_BACKOFF.decide(self.attempts, retry_after, rng) {
                Decision::RetryAfter(wait) => ("retrying", Some(now + wait)),
                Decision::GiveUp | Decision::WaitTooLong { .. } => ("failed", None),
            }
        };
        self.next_at = next_at;
        DeliveryAttempt {
            delivery_id: self.delivery_id.clone(),
            channel: self.channel.clone(),
            run_id: self.run_id.clone(),
            attempt: self.attempts,
            at: started,
            status,
            error: error.or_else(|| status.filter(|s| !delivered(*s)).map(|s| format!("the receiver answered {s}"))),
            ms: now.saturating_sub(started),
            outcome: outcome.into(),
            next_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::retry::tests::{MaxRng, ZeroRng};

    fn delivery() -> Delivery {
        let p = payload(
            PayloadWatch { watch_id: "w1".into(), name: Some("Shoes".into()) },
            PayloadRun { run_id: "r9".into(), compared_with: "r8".into(), started_at: 1, finished_at: 2, urls: 3 },
            vec![Alert { url: "https://shop.example/p/1".into(), ..Alert::default() }],
        );
        Delivery::new(&p, "https://hooks.example/x", 1_000)
    }

    fn status(s: u16) -> Answer {
        Answer::Status { status: s, retry_after_ms: None }
    }

    #[test]
    fn the_payload_names_the_watch_and_the_run_and_is_sent_as_is() {
        let d = delivery();
        assert_eq!(d.delivery_id, "w1.r9");
        let p: AlertPayload = serde_json::from_str(&d.body).expect("the body is the payload");
        assert_eq!(
            (p.event.as_str(), p.watch.name.as_deref(), p.run.compared_with.as_str()),
            ("watch.alerts", Some("Shoes"), "r8")
        );
        assert!(d.due(1_000) && !d.due(999));
    }

    #[test]
    fn a_chat_channel_gets_its_own_format_and_delivery_id_with_the_same_retries() {
        use crate::wire::watches::ChannelKind;
        let p: AlertPayload = serde_json::from_str(&delivery().body).expect("payload");
        let c = Channel { kind: ChannelKind::Discord, url: "https://discord.example/api/webhooks/1/x".into() };
        let mut d = Delivery::to_channel(&p, &c, None, 5);
        assert_eq!((d.delivery_id.as_str(), d.channel.as_str(), d.signed()), ("w1.r9.discord", "discord", false));
        let body: serde_json::Value = serde_json::from_str(&d.body).expect("json");
        assert_eq!(body["content"], "Shoes: 1 alert");
        assert!(delivery().signed());
        let a = d.record(5, 6, &Answer::Status { status: 429, retry_after_ms: Some(2_000) }, &mut ZeroRng);
        assert_eq!((a.channel.as_str(), a.outcome.as_str(), a.next_at), ("discord", "retrying", Some(2_006)));
        assert_eq!(d.record(2_006, 2_010, &status(204), &mut ZeroRng).outcome, "delivered", "Discord answers 204");
    }

    #[test]
    fn a_503_then_a_200_is_delivered_on_the_second_attempt() {
        let mut d = delivery();
        let first = d.record(1_000, 1_020, &status(503), &mut MaxRng);
        assert_eq!((first.attempt, first.outcome.as_str(), first.status, first.ms), (1, "retrying", Some(503), 20));
        assert_eq!(first.next_at, Some(1_020 + 1_000), "full jitter up to the base");
        assert_eq!(first.error.as_deref(), Some("the receiver answered 503"));
        assert!(!d.due(2_019) && d.due(2_020));
        let second = d.record(2_020, 2_030, &status(200), &mut MaxRng);
        assert_eq!((second.attempt, second.outcome.as_str(), second.error), (2, "delivered", None));
        assert_eq!(d.next_at, None);
    }

    #[test]
    fn network_errors_and_429_retry_until_the_attempts_run_out() {
        let mut d = delivery();
        let mut outcomes = Vec::new();
        let mut now = 1_000;
        for i in 0..DELIVERY_BACKOFF.max_attempts {
            let answer = if i % 2 == 0 { Answer::Error("connection refused".into()) } else { status(429) };
            let a = d.record(now, now, &answer, &mut MaxRng);
            outcomes.push(a.outcome.clone());
            now = a.next_at.unwrap_or(now);
        }
        assert_eq!(outcomes, ["retrying", "retrying", "retrying", "retrying", "failed"]);
        assert_eq!(d.next_at, None);
        // The waits doubled: 1, 2, 4, 8 s at most.
        assert_eq!(now, 1_000 + 1_000 + 2_000 + 4_000 + 8_000);
    }

    #[test]
    fn a_refusal_fails_at_once_and_retry_after_is_a_floor() {
        let mut d = delivery();
        assert_eq!(d.record(1_000, 1_000, &status(400), &mut ZeroRng).outcome, "failed");
        let mut d = delivery();
        assert_eq!(d.record(1_000, 1_000, &status(301), &mut ZeroRng).outcome, "failed", "redirects are not followed");
        let mut d = delivery();
        let a = d.record(1_000, 1_000, &Answer::Status { status: 503, retry_after_ms: Some(7_000) }, &mut ZeroRng);
        assert_eq!(a.next_at, Some(8_000));
        let a = d.record(8_000, 8_000, &Answer::Status { status: 503, retry_after_ms: Some(600_000) }, &mut ZeroRng);
        assert_eq!(a.outcome, "failed", "a Retry-After beyond the cap ends it");
    }
}
