//! A shard's run of one batch: the same scheduler and runner as a streamed
//! run (caps, retries, timeouts, extraction, link discovery), within the
//! batch's grant (its concurrency, its share of each host's cap, the
//! invocation's connections), with robots.txt files fetched as internal
//! requests, and the report made of what it saw.

use std::collections::{BTreeMap, HashMap};

use crate::engine::retry::{Rng, is_success};
use crate::engine::scheduler::{Action, AttemptResult, INTERNAL_ID_BASE, Machine, Note, Scheduler};
use crate::input::Job;
use crate::jobs::protocol::{BatchMessage, BatchReport, RobotsFetch, UrlReport};
use crate::wire::protocol::{Event, Millis};

/// One batch, as a [`Machine`] the runner drives.
pub struct BatchRun {
    sched: Scheduler,
    batch: u64,
    links: HashMap<u32, Vec<String>>,
    robots_ids: HashMap<u32, String>,
    robots: Vec<RobotsFetch>,
    events: BTreeMap<u32, Vec<Event>>,
}

impl core::fmt::Debug for BatchRun {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatchRun").field("batch", &self.batch).finish_non_exhaustive()
    }
}

/// A batch's worst case: every attempt timing out, every wait at its cap.
pub fn worst_case_ms(o: &crate::wire::protocol::RunOptions) -> Millis {
    let attempts = u64::from(o.max_attempts.max(1));
    o.timeout_ms * attempts + o.max_ms * (attempts - 1)
}

impl BatchRun {
    /// The run of `msg` within its grant, ending by its worst case at the
    /// latest: every wave of its concurrency at its own worst case, and one
    /// more for the retries' waits between them.
    pub fn new(msg: &BatchMessage, rng: Box<dyn Rng>) -> Self {
        let n = u32::try_from(msg.urls.len() + msg.robots.len()).unwrap_or(u32::MAX).max(1);
        // A message without a grant (from before grants) runs everything at once.
        let k = match msg.grant.concurrency {
            0 => n,
            k => k.min(n),
        };
        let mut options = msg.options.clone();
        options.concurrency = k;
        options.per_host = k;
        let waves = u64::from(n.div_ceil(k)) + 1;
        options.deadline_ms = options.deadline_ms.min(worst_case_ms(&msg.options).saturating_mul(waves) + 1);
        let mut sched = Scheduler::new(Vec::new(), options, rng);
        for h in &msg.grant.hosts {
            sched.cap_host(&h.host, h.cap);
        }
        sched.limit_connections(msg.connections);
        sched.set_open(true);
        let mut robots_ids = HashMap::new();
        for (i, origin) in msg.robots.iter().enumerate() {
            let id = INTERNAL_ID_BASE + u32::try_from(i).unwrap_or(0);
            robots_ids.insert(id, origin.clone());
            sched.add_internal(id, format!("{origin}/robots.txt"));
        }
        for u in &msg.urls {
            sched.add(Job { id: u.id, url: u.url.clone() }, u.links);
        }
        sched.set_open(false);
        Self { sched, batch: msg.batch, links: HashMap::new(), robots_ids, robots: Vec::new(), events: BTreeMap::new() }
    }

    fn drain_internal(&mut self) {
        while let Some((id, result)) = self.sched.poll_internal() {
            let Some(origin) = self.robots_ids.get(&id).cloned() else { continue };
            self.robots.push(match result {
                Ok(resp) => RobotsFetch { origin, status: Some(resp.status), text: resp.text, error: None },
                Err(e) => RobotsFetch { origin, status: None, text: None, error: Some(e.to_string()) },
            });
        }
    }

    /// The report (taken once): each URL's events and links, each robots.txt.
    pub fn take_report(&mut self, started_unix_ms: u64) -> BatchReport {
        self.drain_internal();
        let urls = std::mem::take(&mut self.events)
            .into_iter()
            .map(|(id, events)| UrlReport { id, events, links: self.links.remove(&id).unwrap_or_default() })
            .collect();
        BatchReport { batch: self.batch, started_unix_ms, urls, robots: std::mem::take(&mut self.robots) }
    }
}

impl Machine for BatchRun {
    fn handle_timeout(&mut self, now: Millis) {
        self.sched.handle_timeout(now);
        self.drain_internal();
    }

    fn on_result(&mut self, now: Millis, id: u32, attempt: u32, mut result: AttemptResult) {
        if let Ok(resp) = &mut result
            && is_success(resp.status)
            && self.sched.attempt_in_flight(id) == Some(attempt)
            && !resp.links.is_empty()
        {
            self.links.insert(id, std::mem::take(&mut resp.links));
        }
        self.sched.on_result(now, id, attempt, result);
        self.drain_internal();
    }

    fn on_note(&mut self, now: Millis, id: u32, attempt: u32, note: Note) {
        self.sched.on_note(now, id, attempt, note);
        self.drain_internal();
    }

    fn cancel(&mut self, now: Millis) {
        self.sched.cancel(now);
        self.drain_internal();
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.sched.poll_action()
    }

    fn poll_event(&mut self) -> Option<Event> {
        // Every event passes through here on its way out: keep a copy for
        // the report.
        let ev = self.sched.poll_event()?;
        if let Some(id) = ev.id() {
            self.events.entry(id).or_default().push(ev.clone());
        }
        Some(ev)
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.sched.poll_timeout()
    }

    fn is_finished(&self) -> bool {
        self.sched.is_finished()
    }

    fn in_flight(&self) -> u32 {
        self.sched.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::engine::retry::SplitMix64;
    use crate::engine::scheduler::AttemptRequest;
    use crate::engine::sim::{Platform, Script, simulate_on};
    use crate::jobs::protocol::{BatchUrl, Grant, HostCap};
    use crate::view::stats::host_key;
    use crate::wire::protocol::RunOptions;

    #[test]
    fn a_batch_runs_within_its_grant_and_reports_every_url() {
        // 24 URLs on two hosts; the grant: 6 at once, 2 of them on h1.
        let urls: Vec<BatchUrl> =
            (0..24).map(|i| BatchUrl { id: i, url: format!("http://h{}.test/p/{i}", i % 2), links: false }).collect();
        let h1 = host_key(&urls[1].url);
        let h0 = host_key(&urls[0].url);
        let msg = BatchMessage {
            job_id: "j".into(),
            batch: 7,
            urls,
            robots: Vec::new(),
            options: RunOptions { max_attempts: 1, ..RunOptions::default() },
            own_origin: None,
            grant: Grant {
                lane: 0,
                concurrency: 6,
                hosts: vec![HostCap { host: h0, cap: 4 }, HostCap { host: h1.clone(), cap: 2 }],
            },
            connections: 6,
        };
        let run = BatchRun::new(&msg, Box::new(SplitMix64::new(1)));
        let script = Rc::new(|_: &AttemptRequest| Script::ok(100));
        let out = simulate_on(run, script, Platform { connections: 6, notes: true }, None, None);
        assert_eq!(out.log.max_live, 6);
        assert!(out.log.max_live_per_host <= 4);
        assert!(out.log.max_awaiting <= 6);
        let on_h1 = out.log.urls.iter().filter(|(u, _, _)| host_key(u) == h1).count();
        assert_eq!(on_h1, 12);
        let s = out.summary();
        assert_eq!((s.total, s.done), (24, 24));
        // h1's 12 URLs at 2 at a time take 6 waves of 100 ms: the batch ends then.
        assert_eq!(out.end, 600);
    }
}
