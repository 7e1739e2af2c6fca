//! robots.txt (RFC 9309): what one origin's file lets Fanout fetch.
//!
//! Parsing and matching are the `robotxt` crate's (spire-rs): it follows
//! RFC 9309 (longest match wins, `Allow` on ties, `*` and `$`, a 500 KiB
//! parse limit, the fallback to the `*` group), reads `Crawl-delay` with
//! fractions, builds for wasm32 and needs only `url` (which Fanout already
//! has), `bstr` and `thiserror`. The alternatives looked at: `texting_robots`
//! (tested against Google's suite, but pulls in `regex`, which would more
//! than double the crate's share of the worker), `robotstxt` (a port of
//! Google's C++ parser, no `Crawl-delay`) and `robots_txt` (unmaintained
//! since 2020). What this module adds is the RFC's answer to a fetch that
//! did not produce a file.

use robotxt::Robots;

use crate::engine::scheduler::AttemptResult;
use crate::wire::config::ROBOTS_AGENT;
use crate::wire::protocol::RobotsReport;

/// One origin's rules.
#[derive(Debug, Clone)]
pub struct RobotsRules {
    robots: Robots,
    /// What the crawl reports about the file.
    pub report: RobotsReport,
}

impl RobotsRules {
    /// The rules that follow from fetching `origin`'s robots.txt (RFC 9309,
    /// 2.3.1): a file (2xx) is parsed for Fanout's group, falling back to
    /// `*`; no file (4xx, and a 3xx that did not end in one) allows
    /// everything; a server error (5xx, and 429), or no answer at all,
    /// disallows everything: the site could not say what it allows.
    pub fn from_fetch(origin: &str, result: &AttemptResult) -> Self {
        let mut report = RobotsReport { origin: origin.to_owned(), ..RobotsReport::default() };
        let robots = match result {
            Ok(resp) => {
                report.status = Some(resp.status);
                match resp.status {
                    200..=299 => {
                        report.outcome = "rules".into();
                        Robots::parse(resp.text.as_deref().unwrap_or("").as_bytes(), ROBOTS_AGENT)
                    }
                    429 | 500..=599 => {
                        report.outcome = "disallow_all".into();
                        Robots::disallow_all()
                    }
                    _ => {
                        report.outcome = "allow_all".into();
                        Robots::allow_all()
                    }
                }
            }
            Err(e) => {
                report.outcome = "disallow_all".into();
                report.error = Some(e.to_string());
                Robots::disallow_all()
            }
        };
        report.crawl_delay_ms = robots.crawl_delay().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self { robots, report }
    }

    /// Whether Fanout may fetch `url` (its path and query are matched).
    pub fn allows(&self, url: &url::Url) -> bool {
        self.robots.is_url_allowed(url)
    }

    /// The `Crawl-delay` for Fanout, in milliseconds.
    pub fn crawl_delay_ms(&self) -> Option<u64> {
        self.report.crawl_delay_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scheduler::Response;
    use crate::wire::error::FetchError;

    fn file(status: u16, text: &str) -> AttemptResult {
        Ok(Response { status, text: Some(text.to_owned()), ..Response::default() })
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    const TXT: &str = "User-agent: *\nDisallow: /private/\nAllow: /private/ok\nCrawl-delay: 1.5\n\n\
                       User-agent: OtherBot\nDisallow: /\n";

    #[test]
    fn a_file_is_read_for_fanout_falling_back_to_the_star_group() {
        let r = RobotsRules::from_fetch("http://a.test", &file(200, TXT));
        assert!(r.allows(&url("http://a.test/products/1")));
        assert!(!r.allows(&url("http://a.test/private/x")));
        assert!(r.allows(&url("http://a.test/private/ok")), "the longer Allow wins");
        assert!(r.allows(&url("http://a.test/robots.txt")));
        assert_eq!(r.crawl_delay_ms(), Some(1500));
        assert_eq!((r.report.outcome.as_str(), r.report.status), ("rules", Some(200)));
        // A group for Fanout itself wins over `*`, whatever the case.
        let own = RobotsRules::from_fetch(
            "http://a.test",
            &file(200, "User-agent: *\nDisallow: /\n\nUser-agent: fanout\nDisallow: /cart\n"),
        );
        assert!(own.allows(&url("http://a.test/products/1")));
        assert!(!own.allows(&url("http://a.test/cart")));
        assert_eq!(own.crawl_delay_ms(), None);
    }

    #[test]
    fn no_file_allows_all_and_an_unreachable_one_disallows_all() {
        for status in [404, 401, 403, 410, 301] {
            let r = RobotsRules::from_fetch("http://a.test", &file(status, "Disallow: /"));
            assert!(r.allows(&url("http://a.test/anything")), "{status}");
            assert_eq!(r.report.outcome, "allow_all");
        }
        for status in [500, 503, 429] {
            let r = RobotsRules::from_fetch("http://a.test", &file(status, ""));
            assert!(!r.allows(&url("http://a.test/anything")), "{status}");
            assert_eq!(r.report.outcome, "disallow_all");
        }
        let r = RobotsRules::from_fetch("http://a.test", &Err(FetchError::Timeout { after_ms: 100 }));
        assert!(!r.allows(&url("http://a.test/")));
        assert_eq!(r.report.outcome, "disallow_all");
        assert!(r.report.error.as_deref().unwrap_or("").contains("100"), "{:?}", r.report.error);
        // An empty file, or one that is not robots.txt at all, allows all.
        assert!(
            RobotsRules::from_fetch("http://a.test", &file(200, "<html>hi</html>")).allows(&url("http://a.test/x"))
        );
    }
}
