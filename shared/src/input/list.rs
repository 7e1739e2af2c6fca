//! Turning what a person pasted (or uploaded) into a clean URL list.

use crate::input::target::check_url;

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
