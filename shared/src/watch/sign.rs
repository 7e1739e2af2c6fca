//! The signature of a webhook delivery, as Stripe and GitHub sign theirs:
//! `Fanout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//!
//! The timestamp is inside the signed text, so a receiver that checks the
//! signature and refuses a `t` older than a few minutes refuses replays. The
//! RustCrypto `hmac` and `sha2` crates do the hashing; the comparison takes
//! the same time wherever the first difference is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Fanout-Signature";

/// How old a signature a receiver should accept, by default: five minutes.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

fn mac(secret: &str, t: u64, body: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The header value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &str, t: u64, body: &str) -> String {
    format!("t={t},v1={}", hex(&mac(secret, t, body).finalize().into_bytes()))
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not `t=…,v1=…`.
    Malformed,
    /// `t` is further from `now` than the tolerance.
    Stale,
    /// The HMAC does not match.
    Mismatch,
}

/// Check a header value as a receiver would: `now` in Unix seconds, a
/// signature older (or newer) than `tolerance_s` refused.
pub fn verify(secret: &str, header: &str, body: &str, now: u64, tolerance_s: u64) -> Result<(), Refused> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => sigs.push(unhex(v).ok_or(Refused::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(Refused::Malformed)?;
    if sigs.is_empty() {
        return Err(Refused::Malformed);
    }
    if now.abs_diff(t) > tolerance_s {
        return Err(Refused::Stale);
    }
    // `verify_slice` compares in constant time.
    if sigs.iter().any(|s| mac(secret, t, body).verify_slice(s).is_ok()) { Ok(()) } else { Err(Refused::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("Jefe", 0, "what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }

    #[test]
    fn a_receiver_accepts_it_and_refuses_tampering_replays_and_garbage() {
        let body = r#"{"event":"watch.alerts"}"#;
        let t = 1_764_547_200;
        let h = signature("s3cret-s3cret-s3cret", t, body);
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, body, t + 10, DEFAULT_TOLERANCE_S), Ok(()));
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, body, t - 10, DEFAULT_TOLERANCE_S), Ok(()), "clock skew");
        assert_eq!(verify("another-secret-here", &h, body, t, 300), Err(Refused::Mismatch));
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, r#"{"event":"watch.alertz"}"#, t, 300), Err(Refused::Mismatch));
        assert_eq!(verify("s3cret-s3cret-s3cret", &h, body, t + 301, 300), Err(Refused::Stale), "a replay");
        // The timestamp is signed: moving it breaks the signature.
        let moved = h.replacen(&format!("t={t}"), &format!("t={}", t + 100), 1);
        assert_eq!(verify("s3cret-s3cret-s3cret", &moved, body, t + 100, 300), Err(Refused::Mismatch));
        assert_eq!(verify("k", "v1=00", body, t, 300), Err(Refused::Malformed));
        assert_eq!(verify("k", &format!("t={t}"), body, t, 300), Err(Refused::Malformed));
        assert_eq!(verify("k", &format!("t={t},v1=zz"), body, t, 300), Err(Refused::Malformed));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let body = "{}";
        let good = signature("new-secret-0123456", 5, body);
        let header = format!("t=5,v1={},{}", "00".repeat(32), good.trim_start_matches("t=5,"));
        assert_eq!(verify("new-secret-0123456", &header, body, 5, 300), Ok(()));
    }
}
