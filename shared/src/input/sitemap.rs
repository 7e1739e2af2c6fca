//! Reading sitemaps: `<urlset>` pages and `<sitemapindex>` files that point
//! at more sitemaps. A plain scan for `<loc>` elements is enough for the
//! sitemap protocol and keeps `shared` free of an XML dependency.

/// Most `<loc>` entries read from one sitemap file (the protocol's own limit).
pub const MAX_LOCS_PER_FILE: usize = 50_000;
/// Most sitemap files followed for one request, indexes included.
pub const MAX_SITEMAP_FILES: usize = 50;
/// How deep nested indexes are followed.
pub const MAX_SITEMAP_DEPTH: usize = 3;

/// What one sitemap file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// A `<urlset>`: page URLs.
    Urls(Vec<String>),
    /// A `<sitemapindex>`: more sitemap URLs.
    Index(Vec<String>),
}

/// Parse one sitemap file. Entities in `<loc>` (`&amp;` and friends) are
/// decoded; anything that is not a `<loc>` is ignored.
pub fn parse(xml: &str) -> Sitemap {
    let mut locs = Vec::new();
    let mut rest = xml;
    while let Some(start) = find_tag(rest, "loc") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</") else { break };
        let raw = body[..close].trim();
        let raw = raw.strip_prefix("<![CDATA[").and_then(|r| r.strip_suffix("]]>")).unwrap_or(raw).trim();
        if !raw.is_empty() && locs.len() < MAX_LOCS_PER_FILE {
            locs.push(decode(raw));
        }
        rest = &body[close..];
    }
    if find_tag(xml, "sitemapindex").is_some() { Sitemap::Index(locs) } else { Sitemap::Urls(locs) }
}

/// Position of `<name` or `<prefix:name` followed by `>` or whitespace.
fn find_tag(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find('<') {
        let at = from + i;
        let tag = &s[at + 1..];
        let local = tag.split([' ', '>', '\t', '\n', '\r', '/']).next().unwrap_or("");
        let local = local.rsplit(':').next().unwrap_or(local);
        if local.eq_ignore_ascii_case(name) && !tag.starts_with('/') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn decode(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlsets_and_indexes() {
        let set = r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc> https://a.test/p?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
            <url><loc><![CDATA[https://a.test/q]]></loc></url></urlset>"#;
        assert_eq!(parse(set), Sitemap::Urls(vec!["https://a.test/p?x=1&y=2".into(), "https://a.test/q".into()]));
        let index = "<sitemapindex><sitemap><loc>https://a.test/s1.xml</loc></sitemap></sitemapindex>";
        assert_eq!(parse(index), Sitemap::Index(vec!["https://a.test/s1.xml".into()]));
        let prefixed = "<ns:urlset><ns:url><ns:loc>https://a.test/n</ns:loc></ns:url></ns:urlset>";
        assert_eq!(parse(prefixed), Sitemap::Urls(vec!["https://a.test/n".into()]));
        assert_eq!(parse("not xml at all"), Sitemap::Urls(vec![]));
        assert_eq!(parse("<urlset><url><loc>unterminated"), Sitemap::Urls(vec![]));
    }
}
