//! The demo shop as a site to crawl: a home page, category pages with
//! pagination, product pages that link to each other, a few links that lead
//! out of the shop, pages that robots.txt keeps crawlers away from, and the
//! robots.txt itself.
//!
//! Every product is reachable from the home page within three links (home →
//! category → its second page → product), and the knobs in a page's query
//! string are carried along its links to the shop's own pages, so a crawl
//! started at `/demo/?latency_ms=200` sees that latency everywhere.

use core::fmt::Write as _;

use crate::demo::catalogue::{
    DEMO_CATEGORIES, DEMO_PRODUCT_COUNT, DEMO_PRODUCT_PATH, NOUNS, category_of, category_products, product,
};
use crate::view::markup::escape_html;
use crate::wire::config::ROBOTS_AGENT;

/// Path prefix of the category pages (`/demo/category/3?page=2`).
pub const DEMO_CATEGORY_PATH: &str = "/demo/category/";
/// Path prefix of the pages robots.txt disallows (account, wishlist).
pub const DEMO_PRIVATE_PATH: &str = "/demo/private/";
/// Products on one category page.
pub const DEMO_PAGE_SIZE: u32 = 12;
/// The `Crawl-delay` the shop's robots.txt asks of Fanout, in seconds: small,
/// so a crawl of the whole shop takes seconds, but there (ten milliseconds
/// between the starts on the host).
pub const DEMO_CRAWL_DELAY: &str = "0.01";

/// Pages of category `c`.
pub fn category_page_count(c: u32) -> u32 {
    (category_products(c).len() as u32).div_ceil(DEMO_PAGE_SIZE).max(1)
}

/// The products a product page recommends: the next two in its category
/// and one from the next category.
pub fn related(id: u32) -> [u32; 3] {
    let wrap = |x: u32| (x - 1) % DEMO_PRODUCT_COUNT + 1;
    [wrap(id + DEMO_CATEGORIES), wrap(id + 2 * DEMO_CATEGORIES), wrap(id + 1)]
}

/// The query a page carries to its links: its own, without the page number
/// and tracking parameters (empty, or `?…`).
pub fn carried_query(query: &str) -> String {
    let kept: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "page" && !k.starts_with("utm_") && k != "gclid" && k != "fbclid")
        .map(|(k, v)| url::form_urlencoded::Serializer::new(String::new()).append_pair(&k, &v).finish())
        .collect();
    if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) }
}

/// `path` with `carry` and, when given, a page number (page 1 is the bare
/// path: one URL per page).
fn link(path: &str, carry: &str, page: Option<u32>) -> String {
    match (page.filter(|&n| n > 1), carry.is_empty()) {
        (None, _) => format!("{path}{carry}"),
        (Some(n), true) => format!("{path}?page={n}"),
        (Some(n), false) => format!("{path}{carry}&page={n}"),
    }
}

fn head(html: &mut String, title: &str, extra: &str) {
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} | Fanout Demo Shop</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{extra}\
         <style>body{{font-family:system-ui;margin:0}}header,footer{{background:#123;color:#fff;padding:1rem}}\
         header a,footer a{{color:#fff}}main{{max-width:60rem;margin:auto;padding:1rem}}</style></head><body>",
        escape_html(title)
    );
}

fn header(html: &mut String, carry: &str) {
    let _ =
        write!(html, "<header><nav><a href=\"{}\">Fanout Demo Shop</a> ·", escape_html(&link("/demo/", carry, None)));
    for (c, noun) in NOUNS.iter().enumerate() {
        let _ = write!(
            html,
            " <a href=\"{}\">{noun}</a>",
            escape_html(&link(&format!("{DEMO_CATEGORY_PATH}{c}"), carry, None))
        );
    }
    let _ = write!(html, " · <a href=\"{DEMO_PRIVATE_PATH}account\">My account</a></nav></header>");
}

fn footer(html: &mut String) {
    html.push_str(
        "<footer>Fanout Demo Shop: a built-in test target, no real products. \
         <a href=\"https://www.example.com/about-fanout\">About</a> · \
         <a href=\"/demo/sitemap.xml\">Sitemap</a></footer></body></html>\n",
    );
}

/// The home page: every category, a few featured products, and the kinds
/// of links a crawl must leave alone or fold together (another site, a
/// private page, tracking parameters, a fragment).
pub fn home_page(origin: &str, query: &str) -> String {
    let carry = carried_query(query);
    let mut html = String::with_capacity(8 * 1024);
    head(&mut html, "Home", "");
    header(&mut html, &carry);
    html.push_str("<main><h1>Fanout Demo Shop</h1><p>Every page here is made up, so Fanout has something to fetch offline. Knobs in the query string (latency_ms, jitter_ms, fail_status, …) apply to every page and are carried along the shop's links.</p><h2>Categories</h2><ul>");
    for (c, noun) in NOUNS.iter().enumerate() {
        let c = c as u32;
        let _ = write!(
            html,
            "<li><a href=\"{}\">{noun}</a> ({} products)</li>",
            escape_html(&link(&format!("{DEMO_CATEGORY_PATH}{c}"), &carry, None)),
            category_products(c).len()
        );
    }
    html.push_str("</ul><h2>Featured</h2><ul>");
    for id in [1u32, 42, 137] {
        if let Some(p) = product(id) {
            let _ = write!(
                html,
                "<li><a href=\"{}\">{}</a></li>",
                escape_html(&link(&format!("{DEMO_PRODUCT_PATH}{id}"), &carry, None)),
                escape_html(&p.name)
            );
        }
    }
    // The same category once more, as a campaign link and with a fragment:
    // one page under its canonical URL.
    let campaign = if carry.is_empty() {
        "?utm_source=home&utm_medium=banner".to_owned()
    } else {
        format!("{carry}&utm_source=home")
    };
    let _ = write!(
        html,
        "</ul><p><a href=\"{}\">Spring sale on kettles</a> · <a href=\"{}#top\">All kettles</a> · \
         <a href=\"{DEMO_PRIVATE_PATH}wishlist\">Wishlist</a> · <a href=\"https://partner.example/fanout\">Our partner</a></p>\
         <p>Origin: {}</p></main>",
        escape_html(&format!("{DEMO_CATEGORY_PATH}0{campaign}")),
        escape_html(&link(&format!("{DEMO_CATEGORY_PATH}0"), &carry, None)),
        escape_html(origin)
    );
    footer(&mut html);
    html
}

/// Page `page` (from 1) of category `c`, or `None` past its last page.
pub fn category_page(c: u32, page: u32, query: &str) -> Option<String> {
    let noun = NOUNS.get(c as usize)?;
    let pages = category_page_count(c);
    let page = page.max(1);
    if page > pages {
        return None;
    }
    let carry = carried_query(query);
    let path = format!("{DEMO_CATEGORY_PATH}{c}");
    let mut extra = String::new();
    if page < pages {
        let _ = write!(extra, "<link rel=\"next\" href=\"{}\">", escape_html(&link(&path, &carry, Some(page + 1))));
    }
    if page > 1 {
        let _ = write!(extra, "<link rel=\"prev\" href=\"{}\">", escape_html(&link(&path, &carry, Some(page - 1))));
    }
    let mut html = String::with_capacity(8 * 1024);
    head(&mut html, &format!("{noun} – page {page} of {pages}"), &extra);
    header(&mut html, &carry);
    let _ = write!(html, "<main><h1>{noun}</h1><ul class=\"products\">");
    let ids = category_products(c);
    let from = ((page - 1) * DEMO_PAGE_SIZE) as usize;
    for &id in ids.iter().skip(from).take(DEMO_PAGE_SIZE as usize) {
        if let Some(p) = product(id) {
            let _ = write!(
                html,
                "<li><a href=\"{}\">{}</a> {} {}</li>",
                escape_html(&link(&format!("{DEMO_PRODUCT_PATH}{id}"), &carry, None)),
                escape_html(&p.name),
                p.price(),
                p.currency
            );
        }
    }
    html.push_str("</ul><nav class=\"pages\">");
    for n in 1..=pages {
        let _ = write!(html, " <a href=\"{}\">{n}</a>", escape_html(&link(&path, &carry, Some(n))));
    }
    if page < pages {
        let _ =
            write!(html, " <a rel=\"next\" href=\"{}\">Next</a>", escape_html(&link(&path, &carry, Some(page + 1))));
    }
    html.push_str("</nav></main>");
    footer(&mut html);
    Some(html)
}

/// The links a product page adds after its own content: its category,
/// related products, the brand's (made-up) site and the wishlist.
pub fn product_links(id: u32, brand: &str, carry: &str) -> String {
    let mut html = String::from("<section class=\"related\"><h2>Customers also looked at</h2><ul>");
    for r in related(id) {
        if let Some(p) = product(r) {
            let _ = write!(
                html,
                "<li><a href=\"{}\">{}</a></li>",
                escape_html(&link(&format!("{DEMO_PRODUCT_PATH}{r}"), carry, None)),
                escape_html(&p.name)
            );
        }
    }
    let slug: String = brand.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    let _ = write!(
        html,
        "</ul><p><a href=\"{}\">More {}</a> · <a href=\"https://{slug}.example/\">{}'s own site</a> · \
         <a href=\"{DEMO_PRIVATE_PATH}wishlist?add={id}\" rel=\"nofollow\">Add to wishlist</a></p></section>",
        escape_html(&link(&format!("{DEMO_CATEGORY_PATH}{}", category_of(id)), carry, None)),
        NOUNS[category_of(id) as usize],
        escape_html(brand)
    );
    html
}

/// A page under [`DEMO_PRIVATE_PATH`]: it exists, so a crawl that ignored
/// robots.txt would fetch it.
pub fn private_page(path: &str) -> String {
    let mut html = String::new();
    head(&mut html, "Private", "<meta name=\"robots\" content=\"noindex\">");
    let _ = write!(html, "<main><h1>Sign in</h1><p>{} is for customers only.</p></main>", escape_html(path));
    footer(&mut html);
    html
}

/// The shop's robots.txt (served at the origin's root): the private pages
/// are off limits to every crawler, and Fanout gets its own group with a
/// small `Crawl-delay`.
pub fn robots_txt(origin: &str) -> String {
    format!(
        "# Fanout Demo Shop\nUser-agent: *\nDisallow: {DEMO_PRIVATE_PATH}\nDisallow: /api/\n\n\
         User-agent: {ROBOTS_AGENT}\nDisallow: {DEMO_PRIVATE_PATH}\nDisallow: /api/\nCrawl-delay: {DEMO_CRAWL_DELAY}\n\n\
         Sitemap: {origin}/demo/sitemap.xml\n"
    )
}

/// A demo page's `ETag`: a strong tag of its bytes (FNV-1a, 64 bits), so a
/// page that has not changed (the same product on a day its price and stock
/// stayed put) answers `304` to a revalidation, as a real shop's would.
pub fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// Whether an `If-None-Match` value names `tag` (a list, `*`, or weak tags
/// compared weakly, RFC 9110 §13.1.2).
pub fn matches(if_none_match: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| bare(t) == bare(tag))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap, VecDeque};

    use super::*;

    /// The shop's own links from a page, as paths with their query.
    fn links(html: &str) -> Vec<String> {
        html.split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|h| h.replace("&amp;", "&"))
            .filter(|h| h.starts_with("/demo/"))
            .collect()
    }

    fn page(path_query: &str) -> Option<String> {
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let query = query.split('#').next().unwrap_or("");
        if path == "/demo/" {
            return Some(home_page("http://x", query));
        }
        if let Some(c) = path.strip_prefix(DEMO_CATEGORY_PATH) {
            let n = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1);
            return category_page(c.parse().ok()?, n, query);
        }
        if let Some(id) = path.strip_prefix(DEMO_PRODUCT_PATH) {
            let p = product(id.parse().ok()?)?;
            return Some(crate::demo::product_page_linked(&p, "http://x", &carried_query(query)));
        }
        None
    }

    #[test]
    fn every_product_is_within_three_links_of_the_home_page() {
        let mut depth: HashMap<String, u32> = HashMap::from([("/demo/".to_owned(), 0)]);
        let mut queue = VecDeque::from(["/demo/".to_owned()]);
        while let Some(p) = queue.pop_front() {
            let d = depth[&p];
            let Some(html) = page(&p) else { continue };
            for l in links(&html) {
                let l = l.split('#').next().unwrap_or("").to_owned();
                if !l.starts_with(DEMO_PRIVATE_PATH) && !depth.contains_key(&l) && !l.contains("utm_") {
                    depth.insert(l.clone(), d + 1);
                    queue.push_back(l);
                }
            }
        }
        let products: BTreeSet<u32> = depth
            .iter()
            .filter(|(p, d)| p.starts_with(DEMO_PRODUCT_PATH) && **d <= 3)
            .filter_map(|(p, _)| p.trim_start_matches(DEMO_PRODUCT_PATH).parse().ok())
            .collect();
        assert_eq!(products, (1..=DEMO_PRODUCT_COUNT).collect());
    }

    #[test]
    fn categories_paginate_with_rel_next_and_carry_knobs() {
        assert_eq!(category_products(0).len(), 24);
        assert_eq!(category_page_count(0), 2);
        let first = category_page(3, 1, "latency_ms=200&page=1").unwrap();
        assert!(first.contains("<link rel=\"next\" href=\"/demo/category/3?latency_ms=200&amp;page=2\">"), "{first}");
        assert!(first.contains("/demo/products/4?latency_ms=200"));
        let last = category_page(3, 2, "").unwrap();
        assert!(!last.contains("rel=\"next\""));
        assert!(last.contains("<link rel=\"prev\" href=\"/demo/category/3\">"), "page 1 is the bare path");
        assert!(category_page(3, 3, "").is_none());
        assert!(category_page(99, 1, "").is_none());
        assert_eq!(carried_query("page=2&latency_ms=5&utm_source=x"), "?latency_ms=5");
        assert_eq!(carried_query(""), "");
    }

    #[test]
    fn robots_txt_keeps_crawlers_out_of_private_pages() {
        let txt = robots_txt("http://x");
        assert!(txt.contains("User-agent: Fanout\nDisallow: /demo/private/"));
        assert!(txt.contains("Crawl-delay: 0.01"));
        let home = home_page("http://x", "");
        assert!(links(&home).iter().any(|l| l.starts_with(DEMO_PRIVATE_PATH)));
        assert!(home.contains("https://partner.example/"), "a link out of the shop");
        assert!(private_page("/demo/private/account").contains("Sign in"));
    }

    #[test]
    fn a_page_is_tagged_by_its_bytes_and_a_matching_tag_is_recognised() {
        let (a, b) = (etag(b"<p>19.90</p>"), etag(b"<p>17.90</p>"));
        assert_ne!(a, b);
        assert_eq!(a, etag(b"<p>19.90</p>"));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 18);
        assert!(matches(&a, &a));
        assert!(matches(&format!("\"x\", W/{a}"), &a));
        assert!(matches("*", &a));
        assert!(!matches(&b, &a));
    }
}
