//! Canonical URLs: the key under which a crawl fetches a URL at most once.
//!
//! Two links that a browser would treat as the same page get the same key:
//! the fragment is dropped; scheme and host are lower case, default ports
//! go and dot segments are resolved (all by `url`'s parser, which follows
//! the WHATWG URL standard); percent-escapes get upper-case hex, and those
//! of unreserved characters (`A–Z a–z 0–9 - . _ ~`) are decoded (RFC 3986,
//! 6.2.2); tracking parameters (`utm_*`, `gclid`, `fbclid`) are dropped.
//! The other query parameters keep their order: sorting them would merge
//! URLs that some servers tell apart. The key is only a key: the URL
//! fetched is the one found.

use url::Url;

/// Query parameters that only say where a visitor came from.
fn is_tracking(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_") || name == "gclid" || name == "fbclid"
}

/// `s` with upper-case hex in its escapes, and unreserved characters
/// unescaped.
fn normalise_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let byte = h * 16 + l;
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push(char::from(b[i + 1].to_ascii_uppercase()));
                out.push(char::from(b[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // Escapes are ASCII; everything else is copied as it is (the parser
        // has already escaped what needs escaping).
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The canonical key of `url` (see the module docs).
pub fn canonical_key(url: &Url) -> String {
    let mut key = String::with_capacity(url.as_str().len());
    key.push_str(url.scheme());
    key.push_str("://");
    if let Some(host) = url.host_str() {
        key.push_str(host);
    }
    if let Some(port) = url.port() {
        key.push(':');
        key.push_str(&port.to_string());
    }
    key.push_str(&normalise_escapes(url.path()));
    if let Some(query) = url.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| !is_tracking(pair.split('=').next().unwrap_or("")))
            .collect();
        if !kept.is_empty() {
            key.push('?');
            key.push_str(&normalise_escapes(&kept.join("&")));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        canonical_key(&Url::parse(s).unwrap())
    }

    #[test]
    fn the_same_page_written_differently_has_one_key() {
        let k = key("http://shop.test/a/b");
        for same in [
            "HTTP://Shop.TEST/a/b",
            "http://shop.test:80/a/b",
            "http://shop.test/a/./c/../b",
            "http://shop.test/a/b#reviews",
            "http://shop.test/%61/b",
            "http://shop.test/a/b?utm_source=mail&utm_medium=x",
            "http://shop.test/a/b?gclid=1&fbclid=2",
        ] {
            assert_eq!(key(same), k, "{same}");
        }
        assert_eq!(key("https://shop.test:443/"), "https://shop.test/");
        assert_eq!(key("http://shop.test/p%2fq"), "http://shop.test/p%2Fq", "escape case only");
        assert_eq!(key("http://shop.test/p%2Fq"), key("http://shop.test/p%2fq"));
    }

    #[test]
    fn pages_that_differ_keep_different_keys() {
        assert_ne!(key("http://shop.test/a?x=1&y=2"), key("http://shop.test/a?y=2&x=1"), "query order is kept");
        assert_eq!(key("http://shop.test/a?x=1&utm_id=3&y=2"), "http://shop.test/a?x=1&y=2");
        assert_ne!(key("http://shop.test/a"), key("http://shop.test/a/"));
        assert_ne!(key("http://shop.test/a"), key("https://shop.test/a"));
        assert_ne!(key("http://shop.test:8080/a"), key("http://shop.test/a"));
        assert_ne!(key("http://shop.test/a?page=2"), key("http://shop.test/a"));
        assert_eq!(key("http://shop.test/a?"), "http://shop.test/a");
    }
}
