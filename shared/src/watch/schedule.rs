//! When a watch runs. Its runs sit on a grid anchored at its creation,
//! `created_at + k·every`, each slot moved later by its own jitter (at most
//! `jitter_minutes`, a pure function of the watch and the slot, so many
//! watches of one interval spread over the minutes after their slot).
//!
//! One scheduler (a Durable Object) keeps an alarm at the earliest due time
//! of all watches ([`alarm_at`]); when it fires, it handles every watch that
//! is due ([`handle_due`]) and sets the alarm again. Alarms fire under
//! `wrangler dev` as deployed, so a watch runs on time wherever Fanout runs.
//!
//! After a slot is handled (started, or skipped because the previous run was
//! still going), the next due time is the first slot after that moment: a
//! watch that missed many slots (paused, or the edge was down) runs once,
//! not once per missed slot.

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

/// What the scheduler does with a watch that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotAction {
    /// Start a run now.
    Start,
    /// Do not: the previous run (this job) is still going.
    Skip {
        /// Why, for the watch's `last_skip`.
        reason: String,
    },
}

/// Watch `id`'s due slot, handled at `now`: start it, or skip it when
/// `running` (the previous run's job, still queued or running), and its due
/// time after that. A slot is handled once: the caller stores the returned
/// due time only if the stored one is still the one it read (a claim), so two
/// schedulers that raced (an alarm and a backstop) cannot both start it.
pub fn handle_due(
    id: &str,
    created_at: u64,
    s: &Schedule,
    now: u64,
    running: Option<&str>,
) -> (SlotAction, Option<u64>) {
    let next = next_due(id, created_at, s, now);
    match running {
        Some(job) => (SlotAction::Skip { reason: format!("the previous run (job {job}) was still going") }, next),
        None => (SlotAction::Start, next),
    }
}

/// When the scheduler's alarm should fire: at the earliest due time of all
/// watches, or at once if that is past. `None` when nothing is due ever
/// (no watches, or all paused).
pub fn alarm_at(earliest_due: Option<u64>, now: u64) -> Option<u64> {
    earliest_due.map(|d| d.max(now))
}

/// Whether an alarm already set at `current` does for a watch due at
/// `wanted`: one that fires no later. (Firing early costs a look at what is
/// due; firing late makes a run late.)
pub fn alarm_covers(current: Option<u64>, wanted: Option<u64>) -> bool {
    match (current, wanted) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(c), Some(w)) => c <= w,
    }
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

    /// The scheduler in virtual time: watches of several intervals and
    /// jitters, one alarm at the earliest due time, each firing handling
    /// what is due, as `objects/scheduler.rs` does. Every slot runs once, at
    /// its time; a busy watch's slot is skipped and not made up; an alarm
    /// lost (a restart) and set again by the next touch loses no watch, and
    /// the slots missed meanwhile run once.
    #[test]
    fn an_alarm_at_the_earliest_due_time_runs_each_slot_once_at_its_time() {
        struct W {
            id: String,
            created: u64,
            s: Schedule,
            next: Option<u64>,
            starts: Vec<u64>,
            skips: u32,
            busy_until: u64,
        }
        let mut ws: Vec<W> = (0..300u32)
            .map(|i| {
                let s = every(5 + (i % 4) * 5, i % 3);
                let created = T0 + u64::from(i) * 7_919;
                let id = format!("w{i}");
                W { next: first_due(&id, created, &s), id, created, s, starts: vec![], skips: 0, busy_until: 0 }
            })
            .collect();
        // w7's runs take 12 minutes: every other slot of its 5-minute grid is skipped.
        let slow = 7;
        let earliest = |ws: &[W]| ws.iter().filter_map(|w| w.next).min();
        let end = T0 + 6 * 3_600_000;
        let (lost_from, lost_to) = (T0 + 2 * 3_600_000, T0 + 3 * 3_600_000);
        let mut alarm = alarm_at(earliest(&ws), T0);
        let mut firings = 0;
        while let Some(now) = alarm.filter(|&a| a < end) {
            firings += 1;
            if (lost_from..lost_to).contains(&now) {
                // The alarm is lost; the next touch of the watches, an hour later, sets it again.
                alarm = alarm_at(earliest(&ws), lost_to);
                continue;
            }
            for (i, w) in ws.iter_mut().enumerate() {
                if w.next.is_none_or(|d| d > now) {
                    continue;
                }
                let running = (w.busy_until > now).then_some("j");
                let (action, next) = handle_due(&w.id, w.created, &w.s, now, running);
                match action {
                    SlotAction::Start => {
                        w.starts.push(now);
                        if i == slow {
                            w.busy_until = now + 12 * MINUTE_MS;
                        }
                    }
                    SlotAction::Skip { reason } => {
                        assert!(reason.contains("still going"));
                        w.skips += 1;
                    }
                }
                assert!(next.expect("not paused") > now);
                w.next = next;
            }
            alarm = alarm_at(earliest(&ws), now);
            assert!(alarm.is_none_or(|a| a > now), "handled slots are not due again");
        }
        assert!(firings < 20_000);
        for (i, w) in ws.iter().enumerate() {
            let every = every_ms(&w.s);
            // Each start is its slot's due time (base + jitter), or the
            // moment the alarm came back after being lost.
            let mut slots = std::collections::BTreeSet::new();
            for &at in &w.starts {
                let k = (at - w.created) / every;
                let due = w.created + k * every + jitter_ms(&w.id, k, w.s.jitter_minutes);
                if (lost_to..lost_to + 1).contains(&at) {
                    slots.insert(u64::MAX - k);
                    continue;
                }
                assert_eq!(at, due, "watch {i} started on time");
                assert!(slots.insert(k), "watch {i}: slot {k} started twice");
            }
            let during_loss = w.starts.iter().filter(|&&a| (lost_from..lost_to).contains(&a)).count();
            assert_eq!(during_loss, 0, "nothing runs while the alarm is lost");
            let after_loss = w.starts.iter().filter(|&&a| a == lost_to).count();
            if i != slow {
                assert_eq!(after_loss, 1, "watch {i}: the missed slots run once, when the alarm is set again");
                let expected = (end - w.created - (lost_to - lost_from)) / every - 1; // the time not lost, less a slot at either edge
                assert!(w.starts.len() as u64 >= expected, "watch {i}: {} runs", w.starts.len());
            }
        }
        assert!(ws[slow].skips > 0, "the slow watch's busy slots were skipped");
        assert!(ws[slow].starts.windows(2).all(|p| p[1] - p[0] >= 12 * MINUTE_MS), "and never overlapped");
    }

    #[test]
    fn an_alarm_is_kept_when_it_fires_no_later_than_needed() {
        assert!(alarm_covers(Some(10), Some(20)));
        assert!(alarm_covers(Some(10), Some(10)));
        assert!(!alarm_covers(Some(30), Some(20)), "a watch due earlier moves the alarm");
        assert!(!alarm_covers(None, Some(20)), "a lost alarm is set again");
        assert!(alarm_covers(None, None));
        assert_eq!(alarm_at(Some(5), 10), Some(10), "a past due time fires at once");
        assert_eq!(alarm_at(None, 10), None);
    }
}
