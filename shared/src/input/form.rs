//! The dashboard's and the crawl page's forms as the page URL's query
//! string, so a run can be reloaded or shared as a link.

use crate::wire::protocol::{CrawlRequest, CrawlScope, RetryOptions, RobotsMode, RunRequest};

/// The dashboard's form, as it lives in the page URL's query string so a run
/// can be reloaded or shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormConfig {
    /// The URL list as typed; `None` means the demo shop's default batch.
    pub urls: Option<String>,
    /// Global in-flight cap.
    pub concurrency: u64,
    /// Per-host cap.
    pub per_host: u64,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
    /// Attempts per URL.
    pub attempts: u64,
    /// Extract products.
    pub extract: bool,
    /// Backoff base.
    pub base_ms: u64,
    /// Backoff cap.
    pub max_ms: u64,
    /// Run deadline.
    pub deadline_ms: u64,
    /// Save the run in the history.
    pub save: bool,
}

/// Longest URL list kept in a link (encoded). Longer lists would make links
/// that servers refuse (Cloudflare allows 16 KB of URL).
pub const MAX_SHARED_LIST: usize = 8 * 1024;

impl FormConfig {
    /// The query string (without `?`). A list too long for a link is left
    /// out; the second value says so.
    pub fn to_query(&self) -> (String, bool) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("c", &self.concurrency.to_string());
        q.append_pair("ph", &self.per_host.to_string());
        q.append_pair("t", &self.timeout_ms.to_string());
        q.append_pair("a", &self.attempts.to_string());
        q.append_pair("x", if self.extract { "1" } else { "0" });
        q.append_pair("b", &self.base_ms.to_string());
        q.append_pair("m", &self.max_ms.to_string());
        q.append_pair("d", &self.deadline_ms.to_string());
        if !self.save {
            q.append_pair("s", "0");
        }
        let mut dropped = false;
        if let Some(list) = &self.urls {
            let encoded: String = url::form_urlencoded::byte_serialize(list.as_bytes()).collect();
            if encoded.len() <= MAX_SHARED_LIST {
                q.append_pair("urls", list);
            } else {
                dropped = true;
            }
        }
        (q.finish(), dropped)
    }

    /// Apply a query string over `defaults`: unknown keys and bad numbers are
    /// ignored, so an old or hand-edited link still opens.
    pub fn from_query(query: &str, defaults: &FormConfig) -> FormConfig {
        let mut c = defaults.clone();
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let num = v.trim().parse::<u64>().ok();
            match (k.as_ref(), num) {
                ("c", Some(n)) => c.concurrency = n,
                ("ph", Some(n)) => c.per_host = n,
                ("t", Some(n)) => c.timeout_ms = n,
                ("a", Some(n)) => c.attempts = n,
                ("x", _) => c.extract = v != "0",
                ("s", _) => c.save = v != "0",
                ("b", Some(n)) => c.base_ms = n,
                ("m", Some(n)) => c.max_ms = n,
                ("d", Some(n)) => c.deadline_ms = n,
                ("urls", _) => c.urls = Some(v.into_owned()),
                _ => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod form_tests {
    use super::*;

    fn defaults() -> FormConfig {
        FormConfig {
            urls: None,
            concurrency: 50,
            per_host: 50,
            timeout_ms: 10_000,
            attempts: 3,
            extract: true,
            base_ms: 500,
            max_ms: 10_000,
            deadline_ms: 120_000,
            save: true,
        }
    }

    #[test]
    fn round_trips_through_a_query_string() {
        let c = FormConfig {
            urls: Some("http://a.test/1?x=1&y=2\nhttp://b.test/é".into()),
            concurrency: 7,
            per_host: 2,
            timeout_ms: 1500,
            attempts: 4,
            extract: false,
            base_ms: 20,
            max_ms: 900,
            deadline_ms: 5000,
            save: false,
        };
        let (q, dropped) = c.to_query();
        assert!(!dropped);
        assert!(!q.contains('\n') && !q.contains(' '));
        assert_eq!(FormConfig::from_query(&format!("?{q}"), &defaults()), c);
        // Saving is the default, so a link only says when it is off.
        let (q, _) = FormConfig { save: true, ..c.clone() }.to_query();
        assert!(!q.split('&').any(|kv| kv.starts_with("s=")), "{q}");
        assert!(FormConfig::from_query(&q, &defaults()).save);
    }

    #[test]
    fn bad_or_unknown_values_fall_back_and_long_lists_are_left_out() {
        let c = FormConfig::from_query("c=abc&zz=1&a=2", &defaults());
        assert_eq!((c.concurrency, c.attempts, c.urls.clone()), (50, 2, None));
        let long = FormConfig { urls: Some("http://a.test/\n".repeat(2000)), ..defaults() };
        let (q, dropped) = long.to_query();
        assert!(dropped);
        assert!(!q.contains("urls="));
    }
}

/// The crawl page's form (`?mode=crawl&…`): the common options of
/// [`FormConfig`] (its `urls` are the start pages) and the crawl's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlForm {
    /// The common options; `urls` holds the start pages as typed.
    pub form: FormConfig,
    /// Links followed this deep.
    pub max_depth: u64,
    /// Most URLs fetched, start pages included.
    pub max_pages: u64,
    /// Which links are followed.
    pub scope: CrawlScope,
    /// Globs a followed URL must match one of, one per line.
    pub include: String,
    /// Globs a followed URL must match none of, one per line.
    pub exclude: String,
    /// Obey robots.txt.
    pub robots: bool,
    /// Spacing of starts per host.
    pub interval_ms: u64,
}

/// Non-empty, trimmed lines.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl CrawlForm {
    /// The query string (without `?`, starting `mode=crawl&`); the second
    /// value says whether the start pages were too long to keep.
    pub fn to_query(&self) -> (String, bool) {
        let (common, dropped) = self.form.to_query();
        let mut q = url::form_urlencoded::Serializer::new(String::from("mode=crawl"));
        q.append_pair("dep", &self.max_depth.to_string());
        q.append_pair("pg", &self.max_pages.to_string());
        q.append_pair("sc", self.scope.as_str());
        if !self.robots {
            q.append_pair("rb", "0");
        }
        if self.interval_ms > 0 {
            q.append_pair("iv", &self.interval_ms.to_string());
        }
        for (key, text) in [("inc", &self.include), ("exc", &self.exclude)] {
            if !text.trim().is_empty() {
                q.append_pair(key, text.trim());
            }
        }
        (format!("{}&{common}", q.finish()), dropped)
    }

    /// Apply a query string over `defaults`, as [`FormConfig::from_query`].
    pub fn from_query(query: &str, defaults: &CrawlForm) -> CrawlForm {
        let mut c = defaults.clone();
        c.form = FormConfig::from_query(query, &defaults.form);
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let num = v.trim().parse::<u64>().ok();
            match (k.as_ref(), num) {
                ("dep", Some(n)) => c.max_depth = n,
                ("pg", Some(n)) => c.max_pages = n,
                ("sc", _) => c.scope = CrawlScope::from_wire(&v).unwrap_or(c.scope),
                ("rb", _) => c.robots = v != "0",
                ("iv", Some(n)) => c.interval_ms = n,
                ("inc", _) => c.include = v.into_owned(),
                ("exc", _) => c.exclude = v.into_owned(),
                _ => {}
            }
        }
        c
    }

    /// The start pages, one per line.
    pub fn starts(&self) -> Vec<String> {
        self.form.urls.as_deref().map(lines).unwrap_or_default()
    }

    /// The run request this form asks for.
    pub fn request(&self) -> RunRequest {
        let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let f = &self.form;
        RunRequest {
            urls: self.starts(),
            concurrency: Some(to_u32(f.concurrency)),
            per_host: Some(to_u32(f.per_host)),
            timeout_ms: Some(f.timeout_ms),
            retry: Some(RetryOptions {
                max_attempts: Some(to_u32(f.attempts)),
                base_ms: Some(f.base_ms),
                max_ms: Some(f.max_ms),
            }),
            extract: Some(f.extract),
            deadline_ms: Some(f.deadline_ms),
            save: Some(f.save),
            per_host_interval_ms: Some(self.interval_ms),
            crawl: Some(CrawlRequest {
                max_depth: Some(to_u32(self.max_depth)),
                max_pages: Some(to_u32(self.max_pages)),
                scope: Some(self.scope),
                include: Some(lines(&self.include)),
                exclude: Some(lines(&self.exclude)),
                robots: Some(if self.robots { RobotsMode::Obey } else { RobotsMode::Ignore }),
            }),
            ..RunRequest::default()
        }
    }
}

#[cfg(test)]
mod crawl_form_tests {
    use super::*;

    fn defaults() -> CrawlForm {
        CrawlForm {
            form: FormConfig {
                urls: None,
                concurrency: 50,
                per_host: 50,
                timeout_ms: 10_000,
                attempts: 3,
                extract: true,
                base_ms: 500,
                max_ms: 10_000,
                deadline_ms: 120_000,
                save: true,
            },
            max_depth: 3,
            max_pages: 300,
            scope: CrawlScope::SameHostname,
            include: String::new(),
            exclude: String::new(),
            robots: true,
            interval_ms: 0,
        }
    }

    #[test]
    fn a_crawl_round_trips_through_its_link_and_becomes_its_request() {
        let c = CrawlForm {
            form: FormConfig {
                urls: Some("http://a.test/\n http://b.test/start \n".into()),
                concurrency: 8,
                ..defaults().form
            },
            max_depth: 2,
            max_pages: 40,
            scope: CrawlScope::SameDomain,
            include: "**/products/*\n**/c/*".into(),
            exclude: "*://*/cart*".into(),
            robots: false,
            interval_ms: 250,
        };
        let (q, dropped) = c.to_query();
        assert!(q.starts_with("mode=crawl&dep=") && !q.contains("&&") && !dropped, "{q}");
        let back = CrawlForm::from_query(&format!("?{q}"), &defaults());
        assert_eq!(
            back,
            CrawlForm { include: c.include.trim().to_owned(), exclude: c.exclude.trim().to_owned(), ..c.clone() }
        );
        let req = back.request();
        assert_eq!(req.urls, vec!["http://a.test/", "http://b.test/start"]);
        assert_eq!((req.concurrency, req.per_host_interval_ms), (Some(8), Some(250)));
        let crawl = req.crawl.unwrap();
        assert_eq!((crawl.max_depth, crawl.max_pages, crawl.scope), (Some(2), Some(40), Some(CrawlScope::SameDomain)));
        assert_eq!(crawl.include.unwrap(), vec!["**/products/*", "**/c/*"]);
        assert_eq!(crawl.robots, Some(RobotsMode::Ignore));
        // Defaults stay out of the link; a bad scope keeps the default.
        let (q, _) = defaults().to_query();
        assert!(!q.contains("rb=") && !q.contains("iv=") && !q.contains("inc="), "{q}");
        assert_eq!(CrawlForm::from_query("sc=galaxy&dep=x", &defaults()), defaults());
    }
}
