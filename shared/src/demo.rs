//! The built-in demo shop's catalogue and markup, so Fanout works offline and
//! out of the box. The edge serves these pages under `/demo/`; the frontend
//! uses [`product_urls`] for its default input. Everything is a pure function
//! of the product id, so tests can predict every page.

use core::fmt::Write as _;

/// Products in the demo shop.
pub const DEMO_PRODUCT_COUNT: u32 = 240;
/// Products in the default batch the dashboard offers.
pub const DEMO_DEFAULT_BATCH: u32 = 200;
/// Path prefix of product pages.
pub const DEMO_PRODUCT_PATH: &str = "/demo/products/";

const ADJECTIVES: [&str; 12] = [
    "Aero", "Brisk", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor", "Indigo", "Juniper", "Kestrel",
    "Lumen",
];
const NOUNS: [&str; 10] =
    ["Kettle", "Backpack", "Headphones", "Desk Lamp", "Trail Shoe", "Espresso Grinder", "Rain Jacket", "Notebook", "Water Bottle", "Keyboard"];
const BRANDS: [&str; 6] = ["Northwind", "Acme Goods", "Kiln & Co", "Tidewater", "Orbital", "Fernhill"];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];

/// Availability of a demo product, with its schema.org URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemoAvailability {
    /// `https://schema.org/InStock`.
    InStock,
    /// `https://schema.org/OutOfStock`.
    OutOfStock,
    /// `https://schema.org/PreOrder`.
    PreOrder,
}

impl DemoAvailability {
    /// The schema.org URL.
    pub fn schema_url(self) -> &'static str {
        match self {
            Self::InStock => "https://schema.org/InStock",
            Self::OutOfStock => "https://schema.org/OutOfStock",
            Self::PreOrder => "https://schema.org/PreOrder",
        }
    }

    /// The normalised name Fanout reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InStock => "in_stock",
            Self::OutOfStock => "out_of_stock",
            Self::PreOrder => "preorder",
        }
    }
}

/// One product of the demo shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoProduct {
    /// Its id, 1-based.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Brand.
    pub brand: &'static str,
    /// Price in cents.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: &'static str,
    /// Stock state.
    pub availability: DemoAvailability,
    /// SKU.
    pub sku: String,
}

impl DemoProduct {
    /// The price as the page writes it, e.g. `"129.90"`.
    pub fn price(&self) -> String {
        format!("{}.{:02}", self.price_cents / 100, self.price_cents % 100)
    }
}

/// A cheap, stable mix of the id, so neighbouring products differ.
fn mix(id: u32, salt: u32) -> u32 {
    let mut x = id.wrapping_mul(0x9E37_79B9) ^ salt.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 15;
    x = x.wrapping_mul(0x2C1B_3C6D);
    x ^= x >> 12;
    x
}

/// Product `id`, or `None` outside `1..=DEMO_PRODUCT_COUNT`.
pub fn product(id: u32) -> Option<DemoProduct> {
    if !(1..=DEMO_PRODUCT_COUNT).contains(&id) {
        return None;
    }
    let adjective = ADJECTIVES[(mix(id, 1) as usize) % ADJECTIVES.len()];
    let noun = NOUNS[(id as usize - 1) % NOUNS.len()];
    let availability = match mix(id, 3) % 10 {
        0 => DemoAvailability::OutOfStock,
        1 => DemoAvailability::PreOrder,
        _ => DemoAvailability::InStock,
    };
    Some(DemoProduct {
        id,
        name: format!("{adjective} {noun} {}", 100 + id),
        brand: BRANDS[(mix(id, 2) as usize) % BRANDS.len()],
        price_cents: 999 + u64::from(mix(id, 4) % 40_000),
        currency: CURRENCIES[(mix(id, 5) as usize) % CURRENCIES.len()],
        availability,
        sku: format!("FO-{id:05}"),
    })
}

/// The product-page URLs of the first `count` products under `origin`
/// (`http://127.0.0.1:8787`, no trailing slash).
pub fn product_urls(origin: &str, count: u32) -> Vec<String> {
    (1..=count.min(DEMO_PRODUCT_COUNT)).map(|i| format!("{origin}{DEMO_PRODUCT_PATH}{i}")).collect()
}

/// Escape text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
/// shop's page (about 20 KB).
pub fn product_page(p: &DemoProduct, page_url: &str) -> String {
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
<header><nav><a href="/demo/">Fanout Demo Shop</a> › <a href="/demo/category/{cat}">{noun}</a></nav></header>
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
        cat = p.id as usize % NOUNS.len(),
        noun = NOUNS[(p.id as usize - 1) % NOUNS.len()],
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
    html.push_str("</section>\n</main>\n<footer>Fanout Demo Shop: a built-in test target. No real products.</footer>\n</body></html>\n");
    html
}

/// The shop's sitemap: every product page under `origin`.
pub fn sitemap(origin: &str) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for url in product_urls(origin, DEMO_PRODUCT_COUNT) {
        let _ = writeln!(xml, "  <url><loc>{}</loc></url>", escape_html(&url));
    }
    xml.push_str("</urlset>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn urls_and_sitemap_list_products() {
        let urls = product_urls("http://x", 3);
        assert_eq!(urls, vec!["http://x/demo/products/1", "http://x/demo/products/2", "http://x/demo/products/3"]);
        let xml = sitemap("http://x");
        assert_eq!(xml.matches("<loc>").count(), DEMO_PRODUCT_COUNT as usize);
        assert_eq!(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
