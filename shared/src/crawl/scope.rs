//! Which discovered links a crawl follows: the scope, compared with the page
//! a link was found on (equalities carry over, so this is the same as
//! comparing with the start page).

use url::Url;

use crate::wire::protocol::CrawlScope;

/// The registrable domain of `host` (`shop.example` for `www.shop.example`,
/// `shop.co.uk` for `a.shop.co.uk`) by the public suffix list; a host with
/// none (an IP address, `localhost`) is its own domain.
fn registrable(host: &str) -> &str {
    psl::domain_str(host).unwrap_or(host)
}

/// Whether `link`, found on `page`, is within `scope`.
pub fn in_scope(scope: CrawlScope, page: &Url, link: &Url) -> bool {
    match scope {
        CrawlScope::All => true,
        CrawlScope::SameOrigin => page.origin() == link.origin(),
        CrawlScope::SameHostname => page.host_str() == link.host_str(),
        CrawlScope::SameDomain => match (page.host_str(), link.host_str()) {
            (Some(a), Some(b)) => registrable(a).eq_ignore_ascii_case(registrable(b)),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(scope: CrawlScope, page: &str, link: &str) -> bool {
        in_scope(scope, &Url::parse(page).unwrap(), &Url::parse(link).unwrap())
    }

    #[test]
    fn scopes_from_narrow_to_wide() {
        let page = "https://www.shop.example/c/1";
        let cases = [
            ("https://www.shop.example/p/2", [true, true, true, true]),
            ("http://www.shop.example/p/2", [false, true, true, true]),
            ("https://www.shop.example:8443/p", [false, true, true, true]),
            ("https://blog.shop.example/", [false, false, true, true]),
            ("https://shop.example/", [false, false, true, true]),
            ("https://other.example/", [false, false, false, true]),
        ];
        for (link, want) in cases {
            let got = [CrawlScope::SameOrigin, CrawlScope::SameHostname, CrawlScope::SameDomain, CrawlScope::All]
                .map(|s| is(s, page, link));
            assert_eq!(got, want, "{link}");
        }
        // The public suffix list knows that co.uk is not one domain.
        assert!(is(CrawlScope::SameDomain, "https://a.shop.co.uk/", "https://b.shop.co.uk/"));
        assert!(!is(CrawlScope::SameDomain, "https://a.co.uk/", "https://b.co.uk/"));
        // Loopback test hosts: an IP is its own domain, ports do not matter to it.
        assert!(is(CrawlScope::SameDomain, "http://127.0.0.1:8000/", "http://127.0.0.1:9000/"));
        assert!(!is(CrawlScope::SameDomain, "http://127.0.0.1:8000/", "http://127.0.0.2:8000/"));
    }
}
