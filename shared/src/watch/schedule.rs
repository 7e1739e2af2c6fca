//! When a watch runs. Its runs sit on a grid anchored at its creation,
//! `created_at + k·every`, each slot moved later by its own jitter (at most
//! `jitter_minutes`, a pure function of the watch and the slot, so many
//! watches of one interval spread over the minutes after their slot). The
//! Cron Trigger ticks every minute and starts what is due, so a run starts
//! within a minute of its time.
//!
//! After a tick has handled a slot (started it, or skipped it because the
//! previous run was still going), the next due time is the first slot after
//! that tick: a watch that missed many slots (paused, or the edge was down)
//! runs once, not once per missed slot.

use crate::engine::retry::{Rng, SplitMix64};
use crate::wire::watches::Schedule;

/// A minute in ms.
pub const MINUTE_MS: u64 = 60_000;

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Slot `k`'s jitter for watch `id`, in `0..=jitter_minutes` minutes.
pub fn jitter_ms(id: &str, k: u64, jitter_minutes: u32) -> u64 {
    let most = u64::from(jitter_minutes) * MINUTE_MS;
    if most == 0 {
        return 0;
    }
    SplitMix64::new(fnv1a(id) ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15)).up_to(most)
}

fn every_ms(s: &Schedule) -> u64 {
    u64::from(s.every_minutes.max(1)) * MINUTE_MS
}

/// Watch `id`'s first run, at its creation (with slot 0's jitter). `None`
/// while paused.
pub fn first_due(id: &str, created_at: u64, s: &Schedule) -> Option<u64> {
    (!s.paused).then(|| created_at + jitter_ms(id, 0, s.jitter_minutes))
}

/// The due time after `now`: the first slot whose base is after `now`, with
/// its jitter. A tick that handled a slot (started or skipped it) sets this,
/// and so does a change of schedule. `None` while paused.
pub fn next_due(id: &str, created_at: u64, s: &Schedule, now: u64) -> Option<u64> {
    if s.paused {
        return None;
    }
    let every = every_ms(s);
    let k = if now < created_at { 0 } else { (now - created_at) / every + 1 };
    Some(created_at + k * every + jitter_ms(id, k, s.jitter_minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_764_547_200_000;

    fn every(m: u32, j: u32) -> Schedule {
        Schedule { every_minutes: m, jitter_minutes: j, paused: false }
    }

    #[test]
    fn without_jitter_the_first_run_is_at_once_then_every_interval() {
        let s = every(60, 0);
        assert_eq!(first_due("w", T0, &s), Some(T0), "the first run at once");
        assert_eq!(next_due("w", T0, &s, T0), Some(T0 + 3_600_000));
        assert_eq!(next_due("w", T0, &s, T0 + 30_000), Some(T0 + 3_600_000));
        assert_eq!(next_due("w", T0, &s, T0 + 3_600_000 + 5), Some(T0 + 7_200_000));
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_differs_between_watches() {
        let s = every(60, 10);
        let mut seen = std::collections::BTreeSet::new();
        for w in 0..200 {
            let id = format!("watch-{w}");
            for k in 0..20 {
                let j = jitter_ms(&id, k, 10);
                let first = first_due(&id, T0, &s).expect("not paused");
                assert!((T0..=T0 + 10 * MINUTE_MS).contains(&first));
                assert!(j <= 10 * MINUTE_MS, "{j}");
                seen.insert(j / MINUTE_MS);
                let due = next_due(&id, T0, &s, T0 + k * 3_600_000).expect("not paused");
                let base = T0 + (k + 1) * 3_600_000;
                assert!((base..=base + 10 * MINUTE_MS).contains(&due), "slot {k}: {due} vs {base}");
            }
        }
        assert!(seen.len() >= 10, "jitter spreads watches over the minutes: {seen:?}");
        assert_eq!(jitter_ms("a", 3, 10), jitter_ms("a", 3, 10), "a pure function");
        assert_eq!(jitter_ms("a", 3, 0), 0);
    }

    #[test]
    fn the_next_due_time_is_never_in_the_past_and_missed_slots_run_once() {
        let s = every(5, 4);
        for now in (0..100).map(|i| T0 + i * 47_000) {
            let due = next_due("w", T0, &s, now).expect("not paused");
            assert!(due > now);
            assert!(due <= now + 5 * MINUTE_MS + 4 * MINUTE_MS, "at most one interval and its jitter ahead");
        }
        // Down for a day: one run, then back on the grid.
        let late = T0 + 86_400_000 + 1;
        let due = next_due("w", T0, &s, late).expect("not paused");
        assert!(due > late && due <= late + 9 * MINUTE_MS);
        assert_eq!((due - T0 - jitter_ms("w", (due - T0) / (5 * MINUTE_MS), 4)) % (5 * MINUTE_MS), 0);
    }

    #[test]
    fn a_paused_watch_is_never_due() {
        let s = Schedule { paused: true, ..every(5, 0) };
        assert_eq!(first_due("w", T0, &s), None);
        assert_eq!(next_due("w", T0, &s, T0), None);
    }
}
