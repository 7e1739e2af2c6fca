//! The retry policy: what is worth retrying, and how long to wait.
//!
//! Classification ([`is_retryable_status`], [`crate::FetchError::is_retryable`])
//! is kept apart from the retry *loop*, which lives in the scheduler: the loop
//! asks, the policy answers.

use std::time::{Duration, UNIX_EPOCH};

/// Statuses worth another attempt: timeouts, "too early", rate limiting and
/// the server errors that are usually transient. Nothing else is retried.
pub const RETRYABLE_STATUSES: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];

/// Whether a response with this status is final.
pub fn is_success(status: u16) -> bool {
    (200..400).contains(&status)
}

/// Whether a response with this status should be tried again.
pub fn is_retryable_status(status: u16) -> bool {
    RETRYABLE_STATUSES.contains(&status)
}

/// A source of randomness for jitter. Injected so tests can pin it.
pub trait Rng {
    /// A uniformly distributed 64-bit value.
    fn next_u64(&mut self) -> u64;

    /// A value in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        // The modulo bias is below 2^-40 for any wait a run can have; not
        // worth a rejection loop.
        self.next_u64() % (max + 1)
    }
}

/// SplitMix64: a tiny, well-studied generator. Jitter only needs to spread
/// retries apart, not to be unpredictable, so six lines beat a dependency and
/// seeding stays in the shell's hands (`Math.random` at the edge, a constant in
/// tests).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl Rng for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Backoff settings of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts per URL, counting the first.
    pub max_attempts: u32,
    /// Base of the exponential.
    pub base_ms: u64,
    /// Cap of the exponential, and of an honoured `Retry-After`.
    pub max_ms: u64,
}

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then start the next attempt.
    RetryAfter(u64),
    /// No attempts left.
    GiveUp,
    /// The upstream asked for a longer wait than `max_ms`.
    WaitTooLong {
        /// What the upstream asked for.
        asked_ms: u64,
    },
}

impl Backoff {
    /// The ceiling of the jittered wait after `retry_index` earlier retries:
    /// `min(max, base·2^n)`.
    pub fn ceiling(&self, retry_index: u32) -> u64 {
        let factor = 1u64.checked_shl(retry_index.min(63)).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// Full jitter: `random(0, min(max, base·2^n))`, where `n` counts the
    /// retries before this one (0 for the first).
    pub fn jittered(&self, retry_index: u32, rng: &mut dyn Rng) -> u64 {
        rng.up_to(self.ceiling(retry_index))
    }

    /// Decide after attempt number `failed_attempt` (from 1) failed in a
    /// retryable way. A `Retry-After` is honoured as `max(retry_after, backoff)`
    /// as long as it fits under `max_ms`; a longer one is refused rather than
    /// silently shortened, because retrying early would just be refused again.
    pub fn decide(&self, failed_attempt: u32, retry_after_ms: Option<u64>, rng: &mut dyn Rng) -> Decision {
        if failed_attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let backoff = self.jittered(failed_attempt.saturating_sub(1), rng);
        match retry_after_ms {
            Some(asked) if asked > self.max_ms => Decision::WaitTooLong { asked_ms: asked },
            Some(asked) => Decision::RetryAfter(asked.max(backoff)),
            None => Decision::RetryAfter(backoff),
        }
    }
}

/// Parse a `Retry-After` value into a wait in milliseconds.
///
/// Both forms of RFC 9110 §10.2.3: delta-seconds (`"120"`) and an HTTP-date.
/// `now_unix_ms` is the wall clock, passed in so that this stays pure; a date
/// in the past means "now" (0). Anything unparsable is ignored (`None`),
/// because a broken header must not turn a retryable failure into a hard one.
pub fn parse_retry_after(value: &str, now_unix_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse::<u64>().unwrap_or(u64::MAX / 1000).saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
    let at_ms = u64::try_from(at_ms).unwrap_or(u64::MAX);
    Some(at_ms.saturating_sub(now_unix_ms))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Always the top of the range: makes jitter deterministic and maximal.
    pub(crate) struct MaxRng;
    impl Rng for MaxRng {
        fn next_u64(&mut self) -> u64 {
            u64::MAX
        }
        fn up_to(&mut self, max: u64) -> u64 {
            max
        }
    }

    /// Always zero.
    pub(crate) struct ZeroRng;
    impl Rng for ZeroRng {
        fn next_u64(&mut self) -> u64 {
            0
        }
    }

    #[test]
    fn classification_matches_the_contract() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 410, 422, 501, 505, 599] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert!(is_success(200) && is_success(304) && !is_success(404) && !is_success(199));
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let b = Backoff { max_attempts: 10, base_ms: 1000, max_ms: 10_000 };
        let ceilings: Vec<u64> = (0..6).map(|n| b.ceiling(n)).collect();
        assert_eq!(ceilings, vec![1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.ceiling(200), 10_000, "no overflow for huge exponents");
        assert_eq!(b.jittered(2, &mut MaxRng), 4000);
        assert_eq!(b.jittered(2, &mut ZeroRng), 0);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let b = Backoff { max_attempts: 10, base_ms: 100, max_ms: 5_000 };
        let mut rng = SplitMix64::new(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for n in 0..8 {
            for _ in 0..500 {
                let w = b.jittered(n, &mut rng);
                assert!(w <= b.ceiling(n));
                seen_low |= w < b.ceiling(n) / 4;
                seen_high |= w > b.ceiling(n) * 3 / 4;
            }
        }
        assert!(seen_low && seen_high, "jitter spreads over the whole range");
    }

    #[test]
    fn decide_counts_the_first_attempt() {
        let b = Backoff { max_attempts: 3, base_ms: 1000, max_ms: 10_000 };
        assert_eq!(b.decide(1, None, &mut MaxRng), Decision::RetryAfter(1000));
        assert_eq!(b.decide(2, None, &mut MaxRng), Decision::RetryAfter(2000));
        assert_eq!(b.decide(3, None, &mut MaxRng), Decision::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_as_a_floor_and_capped() {
        let b = Backoff { max_attempts: 5, base_ms: 1000, max_ms: 10_000 };
        assert_eq!(b.decide(1, Some(3000), &mut MaxRng), Decision::RetryAfter(3000));
        assert_eq!(b.decide(3, Some(3000), &mut MaxRng), Decision::RetryAfter(4000), "backoff larger");
        assert_eq!(b.decide(1, Some(10_000), &mut ZeroRng), Decision::RetryAfter(10_000));
        assert_eq!(b.decide(1, Some(10_001), &mut ZeroRng), Decision::WaitTooLong { asked_ms: 10_001 });
    }

    #[test]
    fn retry_after_parses_both_forms() {
        // 2015-10-21T07:28:00Z
        let now = 1_445_412_480_000;
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now), Some(5_000));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(0), "past dates mean now");
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert!(parse_retry_after("99999999999999999999999", now).is_some(), "huge values saturate");
    }
}
