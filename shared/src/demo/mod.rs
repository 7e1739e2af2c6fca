//! The built-in demo shop's catalogue and markup, so Fanout works offline and
//! out of the box. The edge serves these pages under `/demo/`; the frontend
//! uses [`product_urls`] for its default input. Everything is a pure function
//! of the product id, so tests can predict every page.
//!
//! - [`catalogue`]: the products, a pure function of their id;
//! - this module: product pages, sitemaps, and the knobs that make a page
//!   slow, failing or broken;
//! - [`site`]: the shop as a site to crawl (home, categories with
//!   pagination, related products, private pages, robots.txt).

pub mod catalogue;
pub mod site;

use core::fmt::Write as _;

pub use catalogue::{
    DEMO_DEFAULT_BATCH, DEMO_PRODUCT_COUNT, DEMO_PRODUCT_PATH, DemoAvailability, DemoProduct, product, product_urls,
};

use crate::demo::catalogue::{NOUNS, mix};
use crate::view::markup::escape_html;

/// The JSON-LD object of a product page.
pub fn json_ld(p: &DemoProduct, page_url: &str) -> serde_json::Value {
    serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": p.name,
        "sku": p.sku,
        "brand": {"@type": "Brand", "name": p.brand},
        "image": format!("{page_url}/image.svg"),
        "url": page_url,
        "offers": {
            "@type": "Offer",
            "price": p.price(),
            "priceCurrency": p.currency,
            "availability": p.availability.schema_url(),
            "url": page_url
        }
    })
}

/// A full product page: head with OpenGraph tags and JSON-LD, a body with
/// microdata, navigation and reviews, so its size and shape resemble a real
/// shop's page (about 10 KB).
pub fn product_page(p: &DemoProduct, page_url: &str) -> String {
    product_page_linked(p, page_url, "")
}

/// [`product_page`], its links to the shop's own pages carrying the query
/// `carry` (empty, or `?…`: the knobs the page was asked with).
pub fn product_page_linked(p: &DemoProduct, page_url: &str, carry: &str) -> String {
    let name = escape_html(&p.name);
    // `</` cannot appear in the JSON (no such text), so it is safe in <script>.
    let ld = json_ld(p, page_url).to_string().replace("</", "<\\/");
    let mut html = String::with_capacity(24 * 1024);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{name} | Fanout Demo Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="canonical" href="{url}">
<meta property="og:type" content="product">
<meta property="og:title" content="{name}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{url}/image.svg">
<meta property="product:price:amount" content="{price}">
<meta property="product:price:currency" content="{currency}">
<script type="application/ld+json">{ld}</script>
<style>body{{font-family:system-ui;margin:0}}header,footer{{background:#123;color:#fff;padding:1rem}}main{{max-width:60rem;margin:auto;padding:1rem}}.review{{border-bottom:1px solid #ddd;padding:.5rem 0}}</style>
</head><body>
<header><nav><a href="/demo/{carry}">Fanout Demo Shop</a> › <a href="/demo/category/{cat}{carry}">{noun}</a></nav></header>
<main itemscope itemtype="https://schema.org/Product">
<h1 itemprop="name">{name}</h1>
<p>by <span itemprop="brand">{brand}</span> · SKU <span itemprop="sku">{sku}</span></p>
<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<span class="price"><span itemprop="price" content="{price}">{price}</span> <span itemprop="priceCurrency" content="{currency}">{currency}</span></span>
<link itemprop="availability" href="{avail}">
</div>
"#,
        url = escape_html(page_url),
        price = p.price(),
        currency = p.currency,
        cat = catalogue::category_of(p.id),
        noun = NOUNS[catalogue::category_of(p.id) as usize],
        carry = escape_html(carry),
        brand = escape_html(p.brand),
        sku = p.sku,
        avail = p.availability.schema_url(),
    );
    html.push_str("<section class=\"description\"><h2>Description</h2>\n");
    for i in 0..6 {
        let _ = writeln!(
            html,
            "<p>The {name} is built for everyday use. Feature {i}: careful materials, a two-year warranty and \
             free returns within 30 days. Customers who bought it also looked at item {}.</p>",
            (p.id + i) % DEMO_PRODUCT_COUNT + 1
        );
    }
    html.push_str("</section>\n<section class=\"reviews\"><h2>Reviews</h2>\n");
    for r in 0..40 {
        let stars = mix(p.id, 100 + r) % 5 + 1;
        let _ = writeln!(
            html,
            "<div class=\"review\"><b>Customer {}</b> rated it {stars}/5. <p>Arrived quickly and works as \
             described; the finish is good for the price. Review number {r} of this product.</p></div>",
            mix(p.id, r) % 9000 + 1000
        );
    }
    html.push_str("</section>\n");
    html.push_str(&site::product_links(p.id, p.brand, carry));
    html.push_str(
        "\n</main>\n<footer>Fanout Demo Shop: a built-in test target. No real products.</footer>\n</body></html>\n",
    );
    html
}

/// The shop's sitemap: every product page under `origin`.
pub fn sitemap(origin: &str) -> String {
    sitemap_range(origin, 1, DEMO_PRODUCT_COUNT)
}

/// Largest latency, jitter or drip interval a knob may ask for.
pub const DEMO_MAX_DELAY_MS: u64 = 60_000;
/// Largest padded body the `huge_kb` knob makes.
pub const DEMO_MAX_HUGE_KB: u64 = 64 * 1024;
/// The header in which Fanout tells the demo shop which attempt this is, so
/// that `fail_first` can fail the first K attempts without keeping state.
pub const ATTEMPT_HEADER: &str = "x-fanout-attempt";

/// How a demo page should misbehave, from its query string. Every knob is a
/// pure function of the query, the product id and the attempt number, so
/// tests can drive every retry path deterministically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoKnobs {
    /// Base latency before the headers.
    pub latency_ms: u64,
    /// Extra latency, spread deterministically over `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Status to fail with.
    pub fail_status: Option<u16>,
    /// Fail attempts `1..=fail_first` (default 1 when `fail_status` is set).
    pub fail_first: u32,
    /// `Retry-After` on failures: seconds, or a date this many seconds ahead.
    pub retry_after_s: Option<u64>,
    /// Send `Retry-After` as an HTTP-date instead of seconds.
    pub retry_after_date: bool,
    /// Never answer.
    pub hang: bool,
    /// Send the body in pieces, this many ms apart.
    pub drip_ms: u64,
    /// Pad the body to at least this many KiB.
    pub huge_kb: u64,
    /// Break the markup (unclosed tags, broken JSON-LD).
    pub malformed: bool,
    /// Redirect this many times (to the same page with one hop fewer) first.
    pub redirect: u32,
    /// Redirect to this very URL for ever (a loop).
    pub redirect_loop: bool,
    /// Redirect to this URL (e.g. a private address, to test the guard).
    pub redirect_to: Option<String>,
    /// Show the shop as on this day (see [`DemoProduct::on_day`]).
    pub day: u64,
    /// Or let the day roll over every this many seconds of wall-clock time,
    /// so the same URL shows new prices in a later run.
    pub day_s: u64,
}

impl DemoKnobs {
    /// Parse `latency_ms=…&jitter_ms=…&fail_status=…&fail_first=…&retry_after=…
    /// &retry_after_date=1&hang=1&drip_ms=…&huge_kb=…&malformed=1&day=…&day_s=…`. Unknown keys
    /// and bad values are errors, so a typo in a test is loud.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut k = Self::default();
        let mut fail_first = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let num = |max: u64| -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v <= max)
                    .ok_or_else(|| format!("{key} must be a whole number from 0 to {max}, got {value:?}"))
            };
            let flag = || value == "1" || value == "true";
            match key.as_ref() {
                "latency_ms" => k.latency_ms = num(DEMO_MAX_DELAY_MS)?,
                "jitter_ms" => k.jitter_ms = num(DEMO_MAX_DELAY_MS)?,
                "fail_status" => {
                    let s = num(599)?;
                    if s < 400 {
                        return Err(format!("fail_status must be 400-599, got {s}"));
                    }
                    k.fail_status = u16::try_from(s).ok();
                }
                "fail_first" => fail_first = Some(u32::try_from(num(100)?).unwrap_or(100)),
                "retry_after" => k.retry_after_s = Some(num(86_400)?),
                "retry_after_date" => k.retry_after_date = flag(),
                "hang" => k.hang = flag(),
                "drip_ms" => k.drip_ms = num(DEMO_MAX_DELAY_MS)?,
                "huge_kb" => k.huge_kb = num(DEMO_MAX_HUGE_KB)?,
                "malformed" => k.malformed = flag(),
                "redirect" => k.redirect = u32::try_from(num(50)?).unwrap_or(50),
                "redirect_loop" => k.redirect_loop = flag(),
                "redirect_to" => k.redirect_to = Some(value.into_owned()),
                "day" => k.day = num(1_000_000_000_000)?,
                "day_s" => k.day_s = num(86_400 * 365)?,
                // Ignored: makes otherwise equal URLs distinct (large test batches).
                "tag" => {}
                // A category page's number, read by the page itself.
                "page" => {
                    num(1000)?;
                }
                // Campaign parameters on the shop's own links: ignored.
                t if t.starts_with("utm_") || t == "gclid" || t == "fbclid" => {}
                other => return Err(format!("unknown demo knob {other:?}")),
            }
        }
        k.fail_first = fail_first.unwrap_or(u32::from(k.fail_status.is_some()));
        Ok(k)
    }

    /// The demo day in force at `now_unix_ms`.
    pub fn day_at(&self, now_unix_ms: u64) -> u64 {
        (now_unix_ms / 1000).checked_div(self.day_s).unwrap_or(self.day)
    }

    /// Latency before the headers of `attempt` at product `id`.
    pub fn delay_ms(&self, id: u32, attempt: u32) -> u64 {
        let jitter =
            if self.jitter_ms == 0 { 0 } else { u64::from(mix(id, attempt.wrapping_add(1000))) % (self.jitter_ms + 1) };
        self.latency_ms + jitter
    }

    /// Where to redirect a request for `url`, if a redirect knob says so.
    pub fn redirect_location(&self, url: &url::Url) -> Option<String> {
        if self.redirect_loop {
            return Some(url.to_string());
        }
        if let Some(to) = &self.redirect_to {
            return Some(to.clone());
        }
        if self.redirect == 0 {
            return None;
        }
        let mut next = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "redirect")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .chain((self.redirect > 1).then(|| ("redirect".to_owned(), (self.redirect - 1).to_string())))
            .collect();
        if pairs.is_empty() {
            next.set_query(None);
        } else {
            next.query_pairs_mut().clear().extend_pairs(pairs);
        }
        Some(next.to_string())
    }

    /// The failure status for `attempt`, if it should fail.
    pub fn failure(&self, attempt: u32) -> Option<u16> {
        self.fail_status.filter(|_| attempt <= self.fail_first)
    }

    /// The `Retry-After` value to send with a failure, given the wall clock.
    pub fn retry_after_value(&self, now_unix_ms: u64) -> Option<String> {
        let secs = self.retry_after_s?;
        if self.retry_after_date {
            let at = std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(now_unix_ms.div_ceil(1000) * 1000)
                + std::time::Duration::from_secs(secs);
            Some(httpdate::fmt_http_date(at))
        } else {
            Some(secs.to_string())
        }
    }
}

/// The body of a demo product page after the body knobs: padded when
/// `huge_kb` asks, broken when `malformed` asks.
/// Its links carry `carry` (see [`product_page_linked`]).
pub fn page_with_knobs(p: &DemoProduct, page_url: &str, knobs: &DemoKnobs, carry: &str) -> String {
    let mut html = product_page_linked(p, page_url, carry);
    if knobs.malformed {
        // Unclosed tags, a stray `<`, an unterminated attribute and JSON-LD with
        // a trailing comma: the kinds of damage real pages have.
        html = html
            .replacen("</h1>", "<b><i>", 1)
            .replacen("\"url\":", "\"url\":,", 1)
            .replace("</main>", "<div class=\"x <p>");
    }
    let want = usize::try_from(knobs.huge_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
    if html.len() < want {
        html.push_str("<!-- padding: ");
        let line = "lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod tempor\n";
        while html.len() < want {
            html.push_str(line);
        }
        html.push_str(" -->\n");
    }
    html
}

/// A sitemap of products `from..=to` under `origin`.
pub fn sitemap_range(origin: &str, from: u32, to: u32) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for i in from.max(1)..=to.min(DEMO_PRODUCT_COUNT) {
        let _ = writeln!(xml, "  <url><loc>{}</loc></url>", escape_html(&format!("{origin}{DEMO_PRODUCT_PATH}{i}")));
    }
    xml.push_str("</urlset>\n");
    xml
}

/// A sitemap index listing `paths` under `origin`.
pub fn sitemap_index(origin: &str, paths: &[&str]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for p in paths {
        let _ = writeln!(xml, "  <sitemap><loc>{}</loc></sitemap>", escape_html(&format!("{origin}{p}")));
    }
    xml.push_str("</sitemapindex>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::sitemap::{Sitemap, parse};

    #[test]
    fn days_change_some_prices_and_stock_deterministically() {
        let all: Vec<DemoProduct> = (1..=DEMO_PRODUCT_COUNT).filter_map(product).collect();
        assert!(all.iter().all(|p| p.on_day(0) == *p));
        let day1: Vec<DemoProduct> = all.iter().map(|p| p.on_day(1)).collect();
        assert_eq!(day1, all.iter().map(|p| p.on_day(1)).collect::<Vec<_>>(), "pure");
        let moved = all.iter().zip(&day1).filter(|(a, b)| a.price_cents != b.price_cents).count();
        let flipped = all.iter().zip(&day1).filter(|(a, b)| a.availability != b.availability).count();
        assert!((30..=90).contains(&moved), "{moved} prices moved");
        assert!((8..=45).contains(&flipped), "{flipped} availabilities flipped");
        for (a, b) in all.iter().zip(&day1) {
            let ratio = b.price_cents as f64 / a.price_cents as f64;
            assert!(a.price_cents == b.price_cents || (0.79..=0.96).contains(&ratio) || (1.04..=1.21).contains(&ratio));
            assert_eq!((a.name.as_str(), a.sku.as_str()), (b.name.as_str(), b.sku.as_str()));
        }
        let k = DemoKnobs::parse("day_s=10").unwrap();
        assert_eq!((k.day_at(25_000), k.day_at(31_000)), (2, 3));
        assert_eq!(DemoKnobs::parse("day=4").unwrap().day_at(99_999_999), 4);
    }

    #[test]
    fn catalogue_is_deterministic_and_bounded() {
        assert_eq!(product(0), None);
        assert_eq!(product(DEMO_PRODUCT_COUNT + 1), None);
        let a = product(17).unwrap();
        assert_eq!(Some(a.clone()), product(17));
        assert_ne!(product(17).map(|p| p.name), product(18).map(|p| p.name));
        assert!(a.price_cents >= 999);
        let kinds: std::collections::HashSet<_> =
            (1..=DEMO_PRODUCT_COUNT).filter_map(product).map(|p| p.availability).collect();
        assert_eq!(kinds.len(), 3, "all availabilities occur");
    }

    #[test]
    fn pages_carry_json_ld_and_look_realistic() {
        let p = product(5).unwrap();
        let url = "http://127.0.0.1:8787/demo/products/5";
        let html = product_page(&p, url);
        assert!(html.len() > 10_000 && html.len() < 64_000, "{} bytes", html.len());
        let start = html.find("application/ld+json\">").unwrap() + "application/ld+json\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let v: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(v["@type"], "Product");
        assert_eq!(v["name"], p.name.as_str());
        assert_eq!(v["offers"]["price"], p.price().as_str());
        assert_eq!(v["offers"]["priceCurrency"], p.currency);
    }

    #[test]
    fn knobs_parse_and_act_deterministically() {
        let k = DemoKnobs::parse("latency_ms=100&jitter_ms=50&fail_status=503&fail_first=2&retry_after=3").unwrap();
        assert_eq!(
            (k.latency_ms, k.jitter_ms, k.fail_status, k.fail_first, k.retry_after_s),
            (100, 50, Some(503), 2, Some(3))
        );
        assert_eq!(k.failure(1), Some(503));
        assert_eq!(k.failure(2), Some(503));
        assert_eq!(k.failure(3), None);
        let d = k.delay_ms(7, 1);
        assert!((100..=150).contains(&d));
        assert_eq!(d, k.delay_ms(7, 1), "same id and attempt, same delay");
        assert_eq!(k.retry_after_value(0).as_deref(), Some("3"));
        assert_eq!(DemoKnobs::parse("fail_status=429").unwrap().fail_first, 1);
        assert_eq!(DemoKnobs::parse("").unwrap(), DemoKnobs::default());
        assert!(DemoKnobs::parse("latency=5").is_err());
        assert_eq!(DemoKnobs::parse("tag=7").unwrap(), DemoKnobs::default());
        assert!(DemoKnobs::parse("latency_ms=-1").is_err());
        assert!(DemoKnobs::parse("fail_status=200").is_err());
        let dated = DemoKnobs::parse("fail_status=503&retry_after=5&retry_after_date=1").unwrap();
        let header = dated.retry_after_value(1_445_412_480_000).unwrap();
        assert_eq!(header, "Wed, 21 Oct 2015 07:28:05 GMT");
        assert_eq!(crate::engine::retry::parse_retry_after(&header, 1_445_412_480_000), Some(5000));
    }

    #[test]
    fn redirect_knobs_count_down_loop_and_point_elsewhere() {
        let url = url::Url::parse("http://x.test/demo/products/1?latency_ms=5&redirect=2").unwrap();
        let k = DemoKnobs::parse(url.query().unwrap()).unwrap();
        let hop1 = k.redirect_location(&url).unwrap();
        assert_eq!(hop1, "http://x.test/demo/products/1?latency_ms=5&redirect=1");
        let u1 = url::Url::parse(&hop1).unwrap();
        let hop2 = DemoKnobs::parse(u1.query().unwrap()).unwrap().redirect_location(&u1).unwrap();
        assert_eq!(hop2, "http://x.test/demo/products/1?latency_ms=5");
        let u2 = url::Url::parse(&hop2).unwrap();
        assert_eq!(DemoKnobs::parse(u2.query().unwrap()).unwrap().redirect_location(&u2), None);
        let looping = url::Url::parse("http://x.test/demo/products/1?redirect_loop=1").unwrap();
        assert_eq!(
            DemoKnobs::parse(looping.query().unwrap()).unwrap().redirect_location(&looping).as_deref(),
            Some(looping.as_str())
        );
        let away = DemoKnobs::parse("redirect_to=http%3A%2F%2F127.0.0.1%3A9%2F").unwrap();
        assert_eq!(away.redirect_location(&looping).as_deref(), Some("http://127.0.0.1:9/"));
    }

    #[test]
    fn body_knobs_pad_and_break_pages() {
        let p = product(3).unwrap();
        let big =
            page_with_knobs(&p, "http://x/demo/products/3", &DemoKnobs { huge_kb: 300, ..DemoKnobs::default() }, "");
        assert!(big.len() >= 300 * 1024);
        let bad =
            page_with_knobs(&p, "http://x/demo/products/3", &DemoKnobs { malformed: true, ..DemoKnobs::default() }, "");
        assert!(!bad.contains("</main>"));
        assert!(bad.contains("\"url\":,"));
    }

    #[test]
    fn urls_and_sitemap_list_products() {
        let urls = product_urls("http://x", 3);
        assert_eq!(urls, vec!["http://x/demo/products/1", "http://x/demo/products/2", "http://x/demo/products/3"]);
        let xml = sitemap("http://x");
        assert_eq!(xml.matches("<loc>").count(), DEMO_PRODUCT_COUNT as usize);
    }

    #[test]
    fn the_demo_sitemaps_parse() {
        let Sitemap::Urls(urls) = parse(&sitemap("http://x")) else { panic!("a urlset") };
        assert_eq!(urls.len(), DEMO_PRODUCT_COUNT as usize);
    }
}
