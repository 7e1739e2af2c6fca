//! Turning what a person pasted (or uploaded) into a clean URL list.

use crate::scheduler::check_url;

/// A line that cannot be fetched, flagged before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLine {
    /// 1-based line number in the input.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why it cannot be fetched.
    pub reason: String,
}

/// A cleaned URL list and what cleaning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlList {
    /// Unique, valid URLs in input order.
    pub urls: Vec<String>,
    /// Repeated URLs dropped.
    pub duplicates: usize,
    /// Blank lines (and `#` comments) skipped.
    pub blanks: usize,
    /// Lines that are not http(s) URLs.
    pub invalid: Vec<InvalidLine>,
}

/// Parse one URL per line: trim, skip blanks and `#` comments, drop duplicates
/// (first one wins), and flag lines that are not absolute http(s) URLs.
pub fn parse_url_list(text: &str) -> UrlList {
    parse_url_list_with(text, |line| check_url(line).map(drop).map_err(|e| e.to_string()))
}

/// [`parse_url_list`] with the URL check supplied by the caller. The browser
/// passes its own URL parser, so the bundle does not carry a second one.
pub fn parse_url_list_with(text: &str, check: impl Fn(&str) -> Result<(), String>) -> UrlList {
    let mut out = UrlList::default();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            out.blanks += 1;
            continue;
        }
        if let Err(reason) = check(line) {
            out.invalid.push(InvalidLine { line: i + 1, text: line.to_owned(), reason });
            continue;
        }
        if seen.insert(line.to_owned()) {
            out.urls.push(line.to_owned());
        } else {
            out.duplicates += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_counts() {
        let list = parse_url_list("http://a/1\n\n  http://a/2  \nhttp://a/1\n# note\nftp://x\nnot a url\n");
        assert_eq!(list.urls, vec!["http://a/1", "http://a/2"]);
        assert_eq!(list.duplicates, 1);
        assert_eq!(list.blanks, 2);
        assert_eq!(list.invalid.len(), 2);
        assert_eq!(list.invalid[0].line, 6);
        assert!(list.invalid[0].reason.contains("ftp"), "{}", list.invalid[0].reason);
    }
}

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
