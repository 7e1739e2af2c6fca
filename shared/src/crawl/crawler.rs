//! The crawl: a frontier around the [`Scheduler`], sans-IO like it.
//!
//! The [`Crawler`] is a [`Machine`], so the same runner drives it as drives
//! a list. It owns a scheduler and does three things on top:
//! - **finds pages**: a finished page's links (read by the shell in the
//!   same pass as the products) are resolved, deduplicated on their
//!   [canonical key](crate::crawl::canonical), checked against the scope,
//!   the patterns, the target rules, the page budget and robots.txt, and
//!   the ones that pass become new jobs with the next dense id, announced by
//!   a `discovered` event before their `queued`;
//! - **asks robots.txt first**: the first URL of an origin waits until that
//!   origin's robots.txt is in (an internal request of the scheduler: it
//!   counts against the caps, sends no events); its `Crawl-delay` paces the
//!   host;
//! - **ends the run**: the scheduler stays open while anything may still be
//!   added, and the summary gets a `crawl` report (discoveries, refusals by
//!   reason, each origin's robots.txt).
//!
//! A discovered URL's depth is its parent's plus one, fixed when it is first
//! found (as Scrapy's `DEPTH_LIMIT` does): with many pages in flight a URL
//! can be found through a longer path first.

use std::collections::{HashMap, HashSet, VecDeque};

use url::Url;

use crate::crawl::canonical::canonical_key;
use crate::crawl::robots::RobotsRules;
use crate::crawl::scope::in_scope;
use crate::engine::retry::is_success;
use crate::engine::scheduler::{Action, AttemptResult, INTERNAL_ID_BASE, Machine, Note, Scheduler};
use crate::input::Job;
use crate::input::pattern::UrlPatterns;
use crate::input::target::TargetPolicy;
use crate::input::validation::is_own_demo_url;
use crate::wire::config::MAX_LINKS_PER_PAGE;
use crate::wire::error::ErrorKind;
use crate::wire::protocol::{CrawlOptions, CrawlReport, Event, Millis, RobotsMode};

/// What the crawl knows about a page it has taken.
#[derive(Debug)]
struct Page {
    url: Url,
    depth: u32,
}

/// A URL waiting for its origin's robots.txt.
#[derive(Debug)]
struct Waiting {
    url: Url,
    depth: u32,
    /// A start page's id; discovered URLs get theirs once admitted.
    given: Option<u32>,
    parent: u32,
}

/// An origin's robots.txt: asked for, or read.
#[derive(Debug)]
enum Robots {
    Asked(Vec<Waiting>),
    Known(RobotsRules),
}

/// Where the crawl stands: what the edge and the tests need to build one.
#[derive(Debug, Clone, Default)]
pub struct CrawlContext {
    /// The deployment's target rules, applied to every discovered URL.
    pub policy: TargetPolicy,
    /// The edge's own origin: its demo pages pass the target rules.
    pub own_origin: Option<Url>,
    /// The cap on a host's spacing (`Crawl-delay`, backoff).
    pub max_host_interval_ms: u64,
}

/// A crawl in progress. See the module docs.
pub struct Crawler {
    sched: Scheduler,
    opts: CrawlOptions,
    include: UrlPatterns,
    exclude: UrlPatterns,
    ctx: CrawlContext,
    /// Canonical keys of every URL found (taken or refused).
    seen: HashSet<String>,
    pages: HashMap<u32, Page>,
    next_id: u32,
    /// URLs taken against the budget: fetched, or waiting for robots.txt.
    taken: u32,
    robots: HashMap<String, Robots>,
    robots_ids: HashMap<u32, String>,
    waiting: usize,
    events: VecDeque<Event>,
    report: CrawlReport,
}

impl core::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Crawler")
            .field("pages", &self.pages.len())
            .field("seen", &self.seen.len())
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl Crawler {
    /// A crawl from `starts` (ids `0..n`, as given), through `sched` (made
    /// with no jobs and the run's options). Patterns were checked by
    /// validation; one that does not compile here matches nothing.
    pub fn new(mut sched: Scheduler, starts: Vec<Job>, opts: CrawlOptions, ctx: CrawlContext) -> Self {
        sched.set_open(true);
        sched.pace_hosts(ctx.max_host_interval_ms);
        let include = UrlPatterns::new("crawl.include", &opts.include).unwrap_or_default();
        let exclude = UrlPatterns::new("crawl.exclude", &opts.exclude).unwrap_or_default();
        let mut c = Self {
            sched,
            opts,
            include,
            exclude,
            ctx,
            seen: HashSet::new(),
            pages: HashMap::new(),
            next_id: u32::try_from(starts.len()).unwrap_or(u32::MAX),
            taken: 0,
            robots: HashMap::new(),
            robots_ids: HashMap::new(),
            waiting: 0,
            events: VecDeque::new(),
            report: CrawlReport::default(),
        };
        for job in starts {
            c.taken += 1;
            let Ok(url) = Url::parse(&job.url) else {
                // Validation refuses these; the scheduler fails them if one
                // gets through.
                c.sched.add(job, false);
                continue;
            };
            c.seen.insert(canonical_key(&url));
            let w = Waiting { url, depth: 0, given: Some(job.id), parent: job.id };
            c.offer(w);
        }
        c.pump();
        c
    }

    /// Attempts in flight.
    pub fn in_flight(&self) -> u32 {
        self.sched.in_flight()
    }

    /// Take `w` now, or once its origin's robots.txt is in.
    fn offer(&mut self, w: Waiting) {
        if self.opts.robots == RobotsMode::Ignore {
            self.admit(w);
            return;
        }
        let origin = origin_of(&w.url);
        match self.robots.get_mut(&origin) {
            Some(Robots::Known(rules)) => {
                let allowed = rules.allows(&w.url);
                if allowed {
                    self.admit(w);
                } else {
                    self.refuse_by_robots(w);
                }
            }
            Some(Robots::Asked(list)) => {
                list.push(w);
                self.waiting += 1;
            }
            None => {
                let id = INTERNAL_ID_BASE + u32::try_from(self.robots_ids.len()).unwrap_or(0);
                self.robots_ids.insert(id, origin.clone());
                self.robots.insert(origin.clone(), Robots::Asked(vec![w]));
                self.waiting += 1;
                self.sched.add_internal(id, format!("{origin}/robots.txt"));
            }
        }
    }

    /// Fetch `w`: a start page under its own id, a discovered URL under the
    /// next id, announced first.
    fn admit(&mut self, w: Waiting) {
        let links = w.depth < self.opts.max_depth;
        let id = match w.given {
            Some(id) => id,
            None => {
                if self.sched.is_cancelled() || self.sched.is_past_deadline() {
                    // Too late to announce anything new.
                    self.taken -= 1;
                    return;
                }
                let id = self.next_id;
                self.next_id += 1;
                self.drain();
                let t = self.sched.now();
                self.events.push_back(Event::Discovered {
                    id,
                    url: w.url.to_string(),
                    parent: w.parent,
                    depth: w.depth,
                    t,
                });
                self.report.discovered += 1;
                id
            }
        };
        self.pages.insert(id, Page { url: w.url.clone(), depth: w.depth });
        self.sched.add(Job { id, url: w.url.into() }, links);
    }

    fn refuse_by_robots(&mut self, w: Waiting) {
        match w.given {
            Some(id) => {
                let message = format!("{}'s robots.txt disallows {}", origin_of(&w.url), w.url.path());
                self.sched.reject(Job { id, url: w.url.into() }, ErrorKind::RobotsDisallowed, &message);
            }
            None => {
                self.taken -= 1;
                self.report.refused.robots_disallowed += 1;
            }
        }
    }

    /// Consider one link found on page `parent`.
    fn consider(&mut self, parent: u32, link: &str) {
        let Some(page) = self.pages.get(&parent) else { return };
        let depth = page.depth + 1;
        let refused = &mut self.report.refused;
        let Ok(url) = page.url.join(link.trim()) else {
            refused.out_of_scope += 1;
            return;
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            refused.out_of_scope += 1;
            return;
        }
        if !self.seen.insert(canonical_key(&url)) {
            refused.duplicate += 1;
            return;
        }
        let text = url.as_str();
        if !in_scope(self.opts.scope, &page.url, &url)
            || (!self.include.is_empty() && !self.include.any_match(text))
            || self.exclude.any_match(text)
        {
            refused.out_of_scope += 1;
            return;
        }
        if !is_own_demo_url(&url, self.ctx.own_origin.as_ref()) && self.ctx.policy.check(&url).is_err() {
            refused.blocked_target += 1;
            return;
        }
        if self.taken >= self.opts.max_pages {
            refused.over_budget += 1;
            return;
        }
        self.taken += 1;
        self.offer(Waiting { url, depth, given: None, parent });
    }

    /// An origin's robots.txt came in: read it, pace its host, and decide on
    /// everything that waited for it.
    fn on_robots(&mut self, id: u32, result: &AttemptResult) {
        let Some(origin) = self.robots_ids.get(&id).cloned() else { return };
        let rules = RobotsRules::from_fetch(&origin, result);
        if let Some(ms) = rules.crawl_delay_ms() {
            self.sched.set_crawl_delay(&origin, ms);
        }
        self.report.robots.push(rules.report.clone());
        let Some(Robots::Asked(list)) = self.robots.insert(origin, Robots::Known(rules)) else { return };
        self.waiting -= list.len();
        for w in list {
            self.offer(w);
        }
    }

    /// [`Crawler::drain`], then close the run once nothing more can come.
    fn pump(&mut self) {
        self.drain();
        if self.waiting == 0 && self.sched.unfinished() == 0 && !self.sched.is_finished() {
            self.sched.set_open(false);
            // The summary just went out; take it.
            self.drain();
        }
    }

    /// Move the scheduler's events and internal results over, in order.
    fn drain(&mut self) {
        loop {
            while let Some(ev) = self.sched.poll_event() {
                let ev = match ev {
                    Event::Summary(mut s) => {
                        s.crawl = Some(self.report.clone());
                        Event::Summary(s)
                    }
                    other => other,
                };
                self.events.push_back(ev);
            }
            let Some((id, result)) = self.sched.poll_internal() else { break };
            self.on_robots(id, &result);
        }
    }
}

impl Machine for Crawler {
    fn handle_timeout(&mut self, now: Millis) {
        self.sched.handle_timeout(now);
        self.pump();
    }

    fn on_result(&mut self, now: Millis, id: u32, attempt: u32, mut result: AttemptResult) {
        // Links only from the attempt the scheduler is waiting for (a late
        // answer of an aborted attempt is ignored, as the scheduler does),
        // and only from a page that answered.
        let links = match &mut result {
            Ok(resp) if is_success(resp.status) && self.sched.attempt_in_flight(id) == Some(attempt) => {
                let mut links = std::mem::take(&mut resp.links);
                links.truncate(MAX_LINKS_PER_PAGE);
                links
            }
            _ => Vec::new(),
        };
        self.sched.on_result(now, id, attempt, result);
        // Not closing yet: this page's links may add work.
        self.drain();
        if self.pages.get(&id).is_some_and(|p| p.depth < self.opts.max_depth) {
            for link in &links {
                self.consider(id, link);
            }
        }
        self.pump();
    }

    fn on_note(&mut self, now: Millis, id: u32, attempt: u32, note: Note) {
        self.sched.on_note(now, id, attempt, note);
        self.pump();
    }

    fn cancel(&mut self, now: Millis) {
        // Start pages still waiting for robots.txt end `cancelled` like the
        // rest; waiting discovered URLs were never announced.
        let waiting: Vec<Waiting> = self
            .robots
            .values_mut()
            .filter_map(|r| match r {
                Robots::Asked(list) => Some(std::mem::take(list)),
                Robots::Known(_) => None,
            })
            .flatten()
            .collect();
        self.waiting = 0;
        self.sched.cancel(now);
        for w in waiting {
            if let Some(id) = w.given {
                self.sched.add(Job { id, url: w.url.into() }, false);
            }
        }
        self.pump();
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.sched.poll_action()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.sched.poll_timeout()
    }

    fn is_finished(&self) -> bool {
        self.sched.is_finished() && self.events.is_empty()
    }

    fn in_flight(&self) -> u32 {
        self.sched.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::rc::Rc;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::retry::tests::{MaxRng, ZeroRng};
    use crate::engine::retry::{Rng, SplitMix64};
    use crate::engine::scheduler::AttemptRequest;
    use crate::engine::sim::{Outcome, Script, simulate_machine};
    use crate::wire::protocol::{CrawlScope, RunOptions, Summary};

    /// A made-up web: pages with links, and each origin's robots.txt.
    #[derive(Default)]
    struct Site {
        pages: HashMap<String, Vec<String>>,
        robots: HashMap<String, Script>,
        latency: HashMap<String, Millis>,
    }

    impl Site {
        fn page(mut self, url: &str, links: &[&str]) -> Self {
            self.pages.insert(url.to_owned(), links.iter().map(|l| (*l).to_owned()).collect());
            self
        }
        fn robots(mut self, origin: &str, script: Script) -> Self {
            self.robots.insert(origin.to_owned(), script);
            self
        }
        fn answer(&self, r: &AttemptRequest) -> Script {
            let url = Url::parse(&r.url).unwrap();
            let after = self.latency.get(url.host_str().unwrap_or("")).copied().unwrap_or(10);
            if url.path() == "/robots.txt" {
                assert!(r.text, "robots.txt is asked for as text");
                return self.robots.get(&origin_of(&url)).cloned().unwrap_or(Script::status(5, 404));
            }
            match self.pages.get(r.url.as_str()) {
                Some(links) => Script::Page {
                    after,
                    status: 200,
                    links: if r.links { links.clone() } else { Vec::new() },
                    text: None,
                },
                None => Script::status(after, 404),
            }
        }
    }

    fn robots_file(text: &str) -> Script {
        Script::Page { after: 5, status: 200, links: Vec::new(), text: Some(text.to_owned()) }
    }

    fn opts(max_depth: u32, max_pages: u32) -> CrawlOptions {
        CrawlOptions {
            max_depth,
            max_pages,
            scope: CrawlScope::SameHostname,
            include: Vec::new(),
            exclude: Vec::new(),
            robots: RobotsMode::Obey,
        }
    }

    fn run_opts(concurrency: u32) -> RunOptions {
        RunOptions { concurrency, per_host: concurrency, base_ms: 10, max_ms: 100, ..RunOptions::default() }
    }

    fn crawl_with(starts: &[&str], o: CrawlOptions, run: RunOptions, rng: Box<dyn Rng>, site: Site) -> Outcome {
        let jobs = starts.iter().enumerate().map(|(i, u)| Job { id: i as u32, url: (*u).to_owned() }).collect();
        let ctx = CrawlContext {
            policy: TargetPolicy { allow_private: true, allowed_hosts: Vec::new() },
            own_origin: None,
            max_host_interval_ms: 10_000,
        };
        let crawler = Crawler::new(Scheduler::new(Vec::new(), run, rng), jobs, o, ctx);
        let site = Rc::new(site);
        simulate_machine(crawler, Rc::new(move |r: &AttemptRequest| site.answer(r)), None, None)
    }

    fn crawl(starts: &[&str], o: CrawlOptions, site: Site) -> Outcome {
        crawl_with(starts, o, run_opts(4), Box::new(ZeroRng), site)
    }

    /// Pages fetched (robots.txt files left out), in start order.
    fn fetched(out: &Outcome) -> Vec<String> {
        out.log.urls.iter().filter(|(u, _, _)| !u.ends_with("/robots.txt")).map(|(u, _, _)| u.clone()).collect()
    }

    fn report(out: &Outcome) -> &CrawlReport {
        out.summary().crawl.as_ref().expect("a crawl report")
    }

    /// Every id ends exactly once, discovered ones are announced before
    /// their `queued`, and the summary counts them all.
    fn check_events(out: &Outcome, starts: u32) -> &Summary {
        let s = out.summary();
        let ids: BTreeSet<u32> = out.events.iter().filter_map(Event::id).collect();
        assert_eq!(ids, (0..s.total).collect(), "ids are dense");
        for id in 0..s.total {
            let evs = out.of(id);
            assert_eq!(evs.iter().filter(|e| e.is_terminal()).count(), 1, "id {id}: {evs:?}");
            let kinds: Vec<&Event> = evs.iter().take(2).copied().collect();
            if id < starts {
                assert!(matches!(kinds[0], Event::Queued { .. }), "{kinds:?}");
            } else {
                assert!(matches!(kinds[0], Event::Discovered { .. }), "{kinds:?}");
                assert!(matches!(kinds[1], Event::Queued { .. }), "{kinds:?}");
            }
        }
        assert_eq!(s.done + s.failed + s.cancelled, s.total);
        assert_eq!(s.total, starts + report(out).discovered);
        s
    }

    #[test]
    fn links_are_followed_to_max_depth_and_no_deeper() {
        let site = Site::default()
            .page("http://a.test/0", &["/1"])
            .page("http://a.test/1", &["/2"])
            .page("http://a.test/2", &["/3"])
            .page("http://a.test/3", &["/4"]);
        let out = crawl(&["http://a.test/0"], opts(2, 100), site);
        assert_eq!(fetched(&out), vec!["http://a.test/0", "http://a.test/1", "http://a.test/2"]);
        // The page at the last depth is fetched without asking for links.
        assert!(out.log.urls.iter().any(|(u, _, _)| u == "http://a.test/robots.txt"));
        check_events(&out, 1);
        let depths: Vec<(u32, u32, u32)> = out
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Discovered { id, parent, depth, .. } => Some((*id, *parent, *depth)),
                _ => None,
            })
            .collect();
        assert_eq!(depths, vec![(1, 0, 1), (2, 1, 2)]);
        let zero = crawl(&["http://a.test/0"], opts(0, 100), Site::default().page("http://a.test/0", &["/1"]));
        assert_eq!(fetched(&zero), vec!["http://a.test/0"], "depth 0: the start pages only");
    }

    #[test]
    fn the_page_budget_counts_start_pages_and_refuses_the_rest() {
        let links: Vec<String> = (1..=10).map(|i| format!("/p{i}")).collect();
        let refs: Vec<&str> = links.iter().map(String::as_str).collect();
        let out = crawl(&["http://a.test/"], opts(3, 4), Site::default().page("http://a.test/", &refs));
        assert_eq!(fetched(&out).len(), 4);
        assert_eq!(fetched(&out)[1..], ["http://a.test/p1", "http://a.test/p2", "http://a.test/p3"]);
        assert_eq!(report(&out).refused.over_budget, 7);
        check_events(&out, 1);
    }

    #[test]
    fn scope_and_patterns_decide_which_links_are_followed() {
        let site = || {
            Site::default().page(
                "http://www.shop.test/",
                &[
                    "/products/1",
                    "/blog/post",
                    "http://blog.shop.test/x",
                    "https://www.shop.test/secure",
                    "http://other.test/",
                    "mailto:me@shop.test",
                    "javascript:void(0)",
                ],
            )
        };
        let start = ["http://www.shop.test/"];
        let with = |scope| CrawlOptions { scope, robots: RobotsMode::Ignore, ..opts(1, 100) };
        let set = |out: &Outcome| fetched(out).into_iter().skip(1).collect::<BTreeSet<_>>();
        let host = crawl(&start, with(CrawlScope::SameHostname), site());
        assert_eq!(
            set(&host),
            ["http://www.shop.test/products/1", "http://www.shop.test/blog/post", "https://www.shop.test/secure"]
                .map(String::from)
                .into()
        );
        assert_eq!(report(&host).refused.out_of_scope, 4, "other hosts, mailto: and javascript:");
        let origin = crawl(&start, with(CrawlScope::SameOrigin), site());
        assert_eq!(set(&origin).len(), 2);
        let domain = crawl(&start, with(CrawlScope::SameDomain), site());
        assert!(set(&domain).contains("http://blog.shop.test/x"));
        assert!(!set(&domain).contains("http://other.test/"));
        let all = crawl(&start, with(CrawlScope::All), site());
        assert_eq!(set(&all).len(), 5);
        let patterns = CrawlOptions {
            include: vec!["**/products/*".into(), "**/blog/*".into()],
            exclude: vec!["*://*/blog/*".into()],
            ..with(CrawlScope::SameHostname)
        };
        let out = crawl(&start, patterns, site());
        assert_eq!(set(&out), ["http://www.shop.test/products/1".to_owned()].into());
        check_events(&out, 1);
    }

    #[test]
    fn a_url_is_fetched_once_under_its_canonical_key_as_it_was_first_found() {
        let site = Site::default()
            .page("http://a.test/", &["/p?utm_source=mail", "/p", "/p#reviews", "/./p", "/P", "/"])
            .page("http://a.test/p?utm_source=mail", &["/p"]);
        let out = crawl(&["http://a.test/"], CrawlOptions { robots: RobotsMode::Ignore, ..opts(2, 100) }, site);
        assert_eq!(fetched(&out), vec!["http://a.test/", "http://a.test/p?utm_source=mail", "http://a.test/P"]);
        assert_eq!(report(&out).refused.duplicate, 5, "/p, /p#reviews, /./p, / on the home page; /p again");
        check_events(&out, 1);
    }

    #[test]
    fn robots_txt_comes_first_disallows_and_paces_its_host() {
        let site = Site::default()
            .page("http://a.test/", &["/private/x", "/ok1", "/ok2", "/ok3"])
            .robots("http://a.test", robots_file("User-agent: *\nDisallow: /private\nCrawl-delay: 1\n"));
        let out = crawl_with(&["http://a.test/"], opts(1, 100), run_opts(10), Box::new(MaxRng), site);
        assert_eq!(out.log.urls[0].0, "http://a.test/robots.txt", "robots.txt before the first page");
        assert_eq!(
            fetched(&out),
            vec!["http://a.test/", "http://a.test/ok1", "http://a.test/ok2", "http://a.test/ok3"]
        );
        let r = report(&out);
        assert_eq!(r.refused.robots_disallowed, 1);
        assert_eq!(r.robots.len(), 1);
        assert_eq!((r.robots[0].outcome.as_str(), r.robots[0].crawl_delay_ms), ("rules", Some(1000)));
        // Pages on the host start at least a Crawl-delay apart (1.5 × with MaxRng).
        let starts: Vec<Millis> =
            out.log.urls.iter().filter(|(u, _, _)| !u.ends_with("robots.txt")).map(|(_, _, t)| *t).collect();
        assert_eq!(starts, vec![5, 1505, 3005, 4505]);
        check_events(&out, 1);
    }

    #[test]
    fn no_robots_file_allows_all_and_an_unreachable_one_disallows_all() {
        let site = Site::default()
            .page("http://a.test/", &["/x"])
            .page("http://a.test/x", &[])
            .page("http://b.test/", &["/y"])
            .robots("http://a.test", Script::status(5, 404))
            .robots("http://b.test", Script::status(5, 503));
        let out = crawl(&["http://a.test/", "http://b.test/"], opts(2, 100), site);
        assert_eq!(fetched(&out), vec!["http://a.test/", "http://a.test/x"]);
        match out.terminal(1) {
            Event::Failed { error, attempts: 0, .. } => {
                assert_eq!(error.kind, ErrorKind::RobotsDisallowed);
                assert!(error.message.contains("http://b.test"), "{}", error.message);
            }
            other => panic!("a start page disallowed by robots.txt fails: {other:?}"),
        }
        let mut outcomes: Vec<(String, String, Option<u16>)> =
            report(&out).robots.iter().map(|r| (r.origin.clone(), r.outcome.clone(), r.status)).collect();
        outcomes.sort();
        assert_eq!(
            outcomes,
            vec![
                ("http://a.test".into(), "allow_all".into(), Some(404)),
                ("http://b.test".into(), "disallow_all".into(), Some(503))
            ]
        );
        check_events(&out, 2);
        // A robots.txt that never answers times out and disallows its origin.
        let hang = Site::default().page("http://c.test/", &[]).robots("http://c.test", Script::Hang);
        let run = RunOptions { timeout_ms: 500, ..run_opts(2) };
        let out = crawl_with(&["http://c.test/"], opts(1, 10), run, Box::new(ZeroRng), hang);
        assert!(fetched(&out).is_empty());
        assert!(matches!(out.terminal(0), Event::Failed { .. }));
        assert_eq!(report(&out).robots[0].outcome, "disallow_all");
        assert_eq!(out.end, 500);
    }

    #[test]
    fn a_host_with_a_crawl_delay_does_not_hold_back_another_host() {
        let site = Site::default()
            .page("http://slow.test/", &["/1", "/2", "http://fast.test/a"])
            .page("http://fast.test/", &["/1", "/2", "/3"])
            .robots("http://slow.test", robots_file("User-agent: *\nCrawl-delay: 2\n"));
        let o = CrawlOptions { scope: CrawlScope::All, ..opts(1, 100) };
        let out = crawl_with(&["http://slow.test/", "http://fast.test/"], o, run_opts(10), Box::new(ZeroRng), site);
        let start = |url: &str| out.log.urls.iter().find(|(u, _, _)| u == url).map(|(_, _, t)| *t).unwrap();
        // fast.test: its robots.txt (404) at 0–5, its home at 5, the links at 15.
        assert_eq!(
            ["http://fast.test/", "http://fast.test/1", "http://fast.test/2", "http://fast.test/3"].map(start),
            [5, 15, 15, 15]
        );
        // slow.test waits its whole Crawl-delay of 2 s between its pages
        // (the smallest jitter, ZeroRng).
        assert_eq!(["http://slow.test/", "http://slow.test/1", "http://slow.test/2"].map(start), [5, 2005, 4005]);
        check_events(&out, 2);
    }

    #[test]
    fn cancel_ends_every_url_including_a_start_page_waiting_for_robots() {
        let site = Site::default()
            .page("http://a.test/", &["/1", "/2"])
            .page("http://a.test/1", &[])
            .robots("http://a.test", robots_file("User-agent: *\nAllow: /\n"))
            .robots("http://b.test", Script::Hang);
        let jobs = vec![Job { id: 0, url: "http://a.test/".into() }, Job { id: 1, url: "http://b.test/".into() }];
        let ctx = CrawlContext {
            policy: TargetPolicy { allow_private: true, allowed_hosts: Vec::new() },
            ..CrawlContext::default()
        };
        let crawler = Crawler::new(Scheduler::new(Vec::new(), run_opts(4), Box::new(ZeroRng)), jobs, opts(2, 100), ctx);
        let site = Rc::new(site);
        let out = simulate_machine(crawler, Rc::new(move |r: &AttemptRequest| site.answer(r)), Some(17), None);
        let s = check_events(&out, 2);
        assert!(s.was_cancelled);
        assert!(matches!(out.terminal(1), Event::Cancelled { .. }), "the start page on b.test waited for robots.txt");
        assert_eq!(out.log.live, 0, "nothing in flight at the end");
    }

    /// A random web: `n` pages on `hosts` hosts, each linking to a few
    /// others (and to pages that do not exist).
    fn random_site(n: usize, hosts: usize, seed: u64) -> (Site, Vec<Vec<usize>>) {
        let mut rng = SplitMix64::new(seed);
        let url = |i: usize| format!("http://h{}.test/p{i}", i % hosts);
        let mut graph = Vec::new();
        let mut site = Site::default();
        for i in 0..n {
            let k = rng.up_to(4) as usize;
            let out: Vec<usize> = (0..k).map(|_| rng.up_to(n as u64 + 1) as usize).collect();
            let links: Vec<String> = out.iter().map(|&j| url(j)).collect();
            let refs: Vec<&str> = links.iter().map(String::as_str).collect();
            site = site.page(&url(i), &refs);
            graph.push(out);
        }
        (site, graph)
    }

    /// Pages reachable from page 0 within `depth` links (breadth first), on
    /// one host.
    fn reachable(graph: &[Vec<usize>], depth: u32) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([0usize]);
        let mut frontier = vec![0usize];
        for _ in 0..depth {
            let mut next = Vec::new();
            for &p in &frontier {
                for &q in graph.get(p).map(Vec::as_slice).unwrap_or(&[]) {
                    if seen.insert(q) {
                        next.push(q);
                    }
                }
            }
            frontier = next;
        }
        seen.into_iter().map(|i| format!("http://h0.test/p{i}")).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// One page at a time on one host, the crawl is breadth first (the
        /// host's queue is first in, first out): it fetches exactly the pages
        /// reachable within the depth, each once. (With several hosts, hosts
        /// take turns, and a URL may first be found through a longer path.)
        #[test]
        fn one_at_a_time_it_fetches_exactly_what_is_reachable(n in 1usize..30, depth in 0u32..5, seed in any::<u64>()) {
            let (site, graph) = random_site(n, 1, seed);
            let o = CrawlOptions { scope: CrawlScope::All, robots: RobotsMode::Ignore, ..opts(depth, 1000) };
            let out = crawl_with(&["http://h0.test/p0"], o, run_opts(1), Box::new(ZeroRng), site);
            let got = fetched(&out);
            let set: BTreeSet<String> = got.iter().cloned().collect();
            prop_assert_eq!(set.len(), got.len(), "each once");
            prop_assert_eq!(set, reachable(&graph, depth));
            check_events(&out, 1);
        }

        /// Many at a time, with a budget and robots.txt: every URL at most
        /// once, never more than the budget, every id one final event.
        #[test]
        fn many_at_a_time_the_invariants_hold(
            n in 1usize..40, depth in 0u32..5, budget in 1u32..30, concurrency in 1u32..8, seed in any::<u64>(),
        ) {
            let (site, _) = random_site(n, 2, seed);
            let site = site
                .robots("http://h0.test", robots_file("User-agent: *\nDisallow: /p1\n"))
                .robots("http://h1.test", Script::status(3, if seed % 2 == 0 { 404 } else { 500 }));
            let o = CrawlOptions { scope: CrawlScope::All, ..opts(depth, budget) };
            let out = crawl_with(&["http://h0.test/p0"], o, run_opts(concurrency), Box::new(SplitMix64::new(seed)), site);
            let got = fetched(&out);
            let set: BTreeSet<&String> = got.iter().collect();
            prop_assert_eq!(set.len(), got.len(), "each once");
            prop_assert!(got.len() as u32 <= budget);
            prop_assert!(!got.iter().any(|u| u.starts_with("http://h0.test/p1") && u.len() == "http://h0.test/p1".len()));
            if seed % 2 == 1 {
                prop_assert!(!got.iter().any(|u| u.starts_with("http://h1.test/")), "h1's robots.txt is unreachable");
            }
            prop_assert!(out.log.max_live <= concurrency);
            check_events(&out, 1);
        }
    }
}
