//! The dashboard's form as the page URL's query string, so a run can be
//! reloaded or shared as a link.

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
