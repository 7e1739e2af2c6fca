//! URL patterns for a crawl's `include` and `exclude`: shell globs matched
//! against the whole URL.
//!
//! `*` matches within one path segment (it stops at `/`), `**` matches any
//! number of whole segments, `?` one character and `[abc]` one of a set, so
//! `https://shop.example/products/*` matches the product pages and not
//! what lies below them, and `**/products/*` matches them on any host. A
//! literal `?` (before a query) is written `[?]`.
//! The `glob` crate (rust-lang's own, no dependencies) does the matching:
//! URLs are paths with a scheme in front as far as these rules go.

use glob::{MatchOptions, Pattern};

use crate::wire::config::{MAX_CRAWL_PATTERN_LEN, MAX_CRAWL_PATTERNS};

/// Matching is case-sensitive (paths are) and `*` does not cross `/`.
const OPTIONS: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// A checked list of globs.
#[derive(Debug, Clone, Default)]
pub struct UrlPatterns(Vec<Pattern>);

impl UrlPatterns {
    /// Compile `patterns`, or say which one is wrong and why; `field` names
    /// the option (`crawl.include`) in the message.
    pub fn new(field: &str, patterns: &[String]) -> Result<Self, String> {
        if patterns.len() > MAX_CRAWL_PATTERNS {
            return Err(format!("{field} has {} patterns; at most {MAX_CRAWL_PATTERNS}", patterns.len()));
        }
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let chars = p.chars().count();
                if chars > MAX_CRAWL_PATTERN_LEN {
                    return Err(format!("{field}[{i}] is {chars} characters long; at most {MAX_CRAWL_PATTERN_LEN}"));
                }
                if p.trim().is_empty() {
                    return Err(format!("{field}[{i}] is empty"));
                }
                Pattern::new(p.trim()).map_err(|e| format!("{field}[{i}] = {p:?} is not a glob: {e}"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// No patterns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any pattern matches `url`.
    pub fn any_match(&self, url: &str) -> bool {
        self.0.iter().any(|p| p.matches_with(url, OPTIONS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(p: &[&str]) -> UrlPatterns {
        UrlPatterns::new("crawl.include", &p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn star_stays_in_a_segment_and_double_star_crosses_them() {
        let p = pats(&["https://shop.example/products/*"]);
        assert!(p.any_match("https://shop.example/products/kettle"));
        assert!(!p.any_match("https://shop.example/products/kettle/reviews"));
        assert!(!p.any_match("https://shop.example/blog/kettle"));
        let deep = pats(&["https://shop.example/**/reviews"]);
        assert!(deep.any_match("https://shop.example/products/kettle/reviews"));
        let query = pats(&["*://*/search[?]*"]);
        assert!(query.any_match("https://shop.example/search?q=tea"));
        assert!(!query.any_match("https://shop.example/searching"));
        assert!(pats(&["http://a/x", "**/products/*"]).any_match("http://a/products/1"));
        assert!(!pats(&["*/products/*"]).any_match("http://a/products/1"), "* does not cross the slashes");
        assert!(!UrlPatterns::default().any_match("http://a/"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = UrlPatterns::new("crawl.exclude", &["ok/*".into(), "[unclosed".into()]).unwrap_err();
        assert!(e.contains("crawl.exclude[1]") && e.contains("not a glob"), "{e}");
        let many: Vec<String> = (0..=MAX_CRAWL_PATTERNS).map(|i| format!("/{i}/*")).collect();
        assert!(UrlPatterns::new("crawl.include", &many).unwrap_err().contains("at most"));
        assert!(UrlPatterns::new("crawl.include", &[" ".into()]).unwrap_err().contains("empty"));
    }
}
