//! Lanes: one run's requests spread over several invocations, each with its
//! own connections, CPU and subrequests.
//!
//! In production one Worker invocation keeps at most six subrequests
//! waiting for headers ([`crate::engine::gate`]). A run that asks for
//! concurrency C therefore fans out over `ceil(C / 6)` lanes, each a Durable
//! Object invocation of its own (a *shard*), while one scheduler in the
//! invocation that serves the client still decides every start: the global
//! and per-host caps, pacing, retries, the deadline and cancel stay whole,
//! because nothing else decides them.
//!
//! [`Lanes`] is that invocation's bookkeeping: which lane takes the next
//! request (the one with the fewest in flight, so none ever has more than
//! its connections while the total stays within C), when a lane's shard has
//! spent its budget and the lane moves on to a fresh invocation (a new
//! *generation*), and which lanes were lost. [`ToShard`] and [`FromShard`]
//! are what the entry and a shard say to each other, one JSON message each.

use serde::{Deserialize, Serialize};

use crate::engine::scheduler::AttemptResult;
use crate::wire::error::ErrorKind;
use crate::wire::protocol::Prior;

/// A lane whose shard was lost this often is given up: its requests fail
/// over to the other lanes.
pub const MAX_LOST_PER_LANE: u32 = 3;

/// Lanes a concurrency of `concurrency` needs at `per_lane` connections each
/// (at least one).
pub fn lanes_for(concurrency: u32, per_lane: u32) -> u32 {
    concurrency.max(1).div_ceil(per_lane.max(1))
}

#[derive(Debug, Clone, Default)]
struct Lane {
    in_flight: u32,
    /// Requests its current shard has been given.
    used: u32,
    generation: u32,
    lost: u32,
}

/// Where a request goes: a lane and the generation of its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The lane.
    pub lane: usize,
    /// Its shard's generation: a new one means a fresh invocation.
    pub generation: u32,
}

/// The lanes of one run. See the module docs.
#[derive(Debug, Clone)]
pub struct Lanes {
    lanes: Vec<Lane>,
    per_lane: u32,
    budget: u32,
    opened: u32,
}

impl Lanes {
    /// `count` lanes of `per_lane` connections; each shard takes at most
    /// `budget` requests (0: no limit) before its lane moves to a fresh one
    /// (the Free plan's 50 subrequests, or its 10 ms of CPU, per invocation).
    pub fn new(count: u32, per_lane: u32, budget: u32) -> Self {
        Self {
            lanes: vec![Lane::default(); count.max(1) as usize],
            per_lane: per_lane.max(1),
            budget: if budget == 0 { u32::MAX } else { budget },
            opened: 0,
        }
    }

    /// How many lanes there are.
    pub fn count(&self) -> usize {
        self.lanes.len()
    }

    /// Requests in flight on `lane`.
    pub fn in_flight(&self, lane: usize) -> u32 {
        self.lanes.get(lane).map_or(0, |l| l.in_flight)
    }

    /// Shards opened so far over all lanes (each generation is one).
    pub fn invocations(&self) -> u32 {
        self.opened
    }

    fn live(l: &Lane) -> bool {
        l.lost < MAX_LOST_PER_LANE
    }

    /// The lane for the next request: the live one with the fewest in
    /// flight (then the least used), if one has a free connection. The
    /// request counts on it until [`Lanes::done`].
    pub fn pick(&mut self) -> Option<Pick> {
        let per_lane = self.per_lane;
        let (lane, l) = self
            .lanes
            .iter_mut()
            .enumerate()
            .filter(|(_, l)| Self::live(l) && l.in_flight < per_lane)
            .min_by_key(|(_, l)| (l.in_flight, l.used))?;
        if l.used >= self.budget {
            l.generation += 1;
            l.used = 0;
        }
        if l.used == 0 {
            self.opened += 1;
        }
        l.used += 1;
        l.in_flight += 1;
        Some(Pick { lane, generation: l.generation })
    }

    /// A request on `lane` ended.
    pub fn done(&mut self, lane: usize) {
        if let Some(l) = self.lanes.get_mut(lane) {
            l.in_flight = l.in_flight.saturating_sub(1);
        }
    }

    /// The shard of `pick` went away (its connection closed, its invocation
    /// died): the lane's next request goes to a fresh one, unless this lane
    /// has lost [`MAX_LOST_PER_LANE`] shards. Reports about an older
    /// generation change nothing.
    pub fn lost(&mut self, pick: Pick) {
        let Some(l) = self.lanes.get_mut(pick.lane) else { return };
        if l.generation == pick.generation {
            l.generation += 1;
            l.used = 0;
            l.lost += 1;
        }
    }

    /// Whether every lane was given up.
    pub fn all_lost(&self) -> bool {
        !self.lanes.iter().any(Self::live)
    }
}

/// The entry to a shard: one message per WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToShard {
    /// Start attempt `attempt` of URL `id` (a run's page or robots.txt).
    Start {
        /// The URL's id in the run.
        id: u32,
        /// Its attempt number.
        attempt: u32,
        /// The URL.
        url: String,
        /// Read its links too.
        links: bool,
        /// Return its body as text (robots.txt).
        text: bool,
        /// Its last saved answer, to revalidate against.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prior: Option<Box<Prior>>,
    },
    /// Abort that attempt.
    Abort {
        /// The URL's id.
        id: u32,
        /// The attempt.
        attempt: u32,
    },
    /// Send load-test request `n` (to the target the shard was opened for).
    Probe {
        /// The request's number in the test.
        n: u64,
    },
    /// Abort load-test request `n`.
    AbortProbe {
        /// The request's number.
        n: u64,
    },
}

/// A shard to the entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FromShard {
    /// The attempt ended.
    Result {
        /// The URL's id.
        id: u32,
        /// The attempt.
        attempt: u32,
        /// What it got.
        result: Box<AttemptResult>,
    },
    /// Load-test request `n` ended.
    Probed {
        /// The request's number.
        n: u64,
        /// The answer's status, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Body bytes read.
        #[serde(default)]
        bytes: u64,
        /// From its request going out to the end of its body, timed in the
        /// shard (the hop to the entry is not the target's).
        latency_us: u64,
        /// Why there was no answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorKind>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scheduler::Response;
    use crate::wire::error::FetchError;

    #[test]
    fn lanes_cover_the_concurrency() {
        assert_eq!(lanes_for(50, 6), 9);
        assert_eq!(lanes_for(6, 6), 1);
        assert_eq!(lanes_for(7, 6), 2);
        assert_eq!(lanes_for(200, 6), 34);
        assert_eq!(lanes_for(0, 6), 1);
    }

    #[test]
    fn requests_spread_so_no_lane_exceeds_its_connections() {
        // C = 50 over 9 lanes of 6: every pick finds a lane, and none holds
        // more than 6; ends free room where they happen.
        let mut lanes = Lanes::new(lanes_for(50, 6), 6, 0);
        let picks: Vec<Pick> = (0..50).map(|_| lanes.pick().expect("room")).collect();
        for lane in 0..9 {
            assert!(lanes.in_flight(lane) <= 6);
        }
        assert_eq!((0..9).map(|l| lanes.in_flight(l)).sum::<u32>(), 50);
        // Spread evenly: 50 over 9 lanes is 5 or 6 each.
        assert!((0..9).all(|l| (5..=6).contains(&lanes.in_flight(l))));
        lanes.done(picks[0].lane);
        // 54 = 9 × 6 fill every connection; a 55th has nowhere to go.
        for _ in 0..5 {
            lanes.pick().expect("room");
        }
        assert!((0..9).all(|l| lanes.in_flight(l) == 6));
        assert_eq!(lanes.pick(), None);
        lanes.done(4);
        assert_eq!(lanes.pick().map(|p| p.lane), Some(4), "the freed lane takes the next");
    }

    #[test]
    fn a_shard_that_spent_its_budget_hands_its_lane_to_a_fresh_one() {
        let mut lanes = Lanes::new(1, 6, 3);
        let gens: Vec<u32> = (0..7)
            .map(|_| {
                let p = lanes.pick().expect("room");
                lanes.done(p.lane);
                p.generation
            })
            .collect();
        assert_eq!(gens, vec![0, 0, 0, 1, 1, 1, 2]);
        assert_eq!(lanes.invocations(), 3);
    }

    #[test]
    fn a_lost_shard_is_replaced_and_a_lane_that_keeps_losing_is_given_up() {
        let mut lanes = Lanes::new(2, 1, 0);
        let a = lanes.pick().expect("room");
        let b = lanes.pick().expect("room");
        assert_ne!(a.lane, b.lane);
        lanes.lost(a);
        lanes.lost(a); // a second report about the same shard counts once
        lanes.done(a.lane);
        let next = lanes.pick().expect("room");
        assert_eq!((next.lane, next.generation), (a.lane, 1));
        lanes.done(next.lane);
        for _ in 1..MAX_LOST_PER_LANE {
            let p = Pick { lane: a.lane, generation: lanes.lanes[a.lane].generation };
            lanes.lost(p);
        }
        lanes.done(b.lane);
        // Only the other lane is left.
        assert_eq!(lanes.pick().map(|p| p.lane), Some(b.lane));
        assert_eq!(lanes.pick(), None);
        assert!(!lanes.all_lost());
    }

    #[test]
    fn messages_read_back_as_written() {
        let msgs = vec![
            ToShard::Start { id: 3, attempt: 2, url: "http://a.test/".into(), links: true, text: false, prior: None },
            ToShard::Abort { id: 3, attempt: 2 },
            ToShard::Probe { n: 7 },
            ToShard::AbortProbe { n: 7 },
        ];
        for m in msgs {
            let s = serde_json::to_string(&m).expect("encode");
            assert_eq!(serde_json::from_str::<ToShard>(&s).expect("decode"), m);
        }
        let back = vec![
            FromShard::Result {
                id: 1,
                attempt: 1,
                result: Box::new(Ok(Response {
                    status: 200,
                    bytes: 10,
                    links: vec!["http://a.test/x".into()],
                    ..Response::default()
                })),
            },
            FromShard::Result { id: 2, attempt: 1, result: Box::new(Err(FetchError::Timeout { after_ms: 5 })) },
            FromShard::Probed { n: 9, status: Some(200), bytes: 2, latency_us: 20_000, error: None },
            FromShard::Probed { n: 10, status: None, bytes: 0, latency_us: 5, error: Some(ErrorKind::Network) },
        ];
        for m in back {
            let s = serde_json::to_string(&m).expect("encode");
            assert_eq!(serde_json::from_str::<FromShard>(&s).expect("decode"), m);
        }
    }
}
