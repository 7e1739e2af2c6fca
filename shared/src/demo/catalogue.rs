//! The demo shop's products: names, brands, prices, stock and categories,
//! each a pure function of the product's id (and of the demo day).

/// Products in the demo shop.
pub const DEMO_PRODUCT_COUNT: u32 = 240;
/// Products in the default batch the dashboard offers.
pub const DEMO_DEFAULT_BATCH: u32 = 200;
/// Path prefix of product pages.
pub const DEMO_PRODUCT_PATH: &str = "/demo/products/";

const ADJECTIVES: [&str; 12] =
    ["Aero", "Brisk", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor", "Indigo", "Juniper", "Kestrel", "Lumen"];
pub(crate) const NOUNS: [&str; 10] = [
    "Kettle",
    "Backpack",
    "Headphones",
    "Desk Lamp",
    "Trail Shoe",
    "Espresso Grinder",
    "Rain Jacket",
    "Notebook",
    "Water Bottle",
    "Keyboard",
];
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
    /// The product as it is on demo day `day`: day 0 is the catalogue; on
    /// each later day about one product in four has a price 5–20% above or
    /// below it, and about one in ten has flipped between in stock and out of
    /// stock. A pure function of id and day, so runs on two days differ in
    /// exactly predictable ways.
    pub fn on_day(&self, day: u64) -> DemoProduct {
        let mut p = self.clone();
        if day == 0 {
            return p;
        }
        let d = u32::try_from(day % 1_000_000).unwrap_or(0);
        let r = mix(self.id, 7_000_000 ^ d);
        if r.is_multiple_of(4) {
            let pct = u64::from(5 + (r >> 8) % 16);
            p.price_cents = if (r >> 16).is_multiple_of(2) {
                self.price_cents * (100 + pct) / 100
            } else {
                self.price_cents * (100 - pct) / 100
            };
        }
        if mix(self.id, 9_000_000 ^ d).is_multiple_of(10) {
            p.availability = match self.availability {
                DemoAvailability::InStock => DemoAvailability::OutOfStock,
                _ => DemoAvailability::InStock,
            };
        }
        p
    }

    /// The price as the page writes it, e.g. `"129.90"`.
    pub fn price(&self) -> String {
        format!("{}.{:02}", self.price_cents / 100, self.price_cents % 100)
    }
}

/// A cheap, stable mix of the id, so neighbouring products differ.
pub(crate) fn mix(id: u32, salt: u32) -> u32 {
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

/// The shop's categories (one per kind of product).
pub const DEMO_CATEGORIES: u32 = NOUNS.len() as u32;

/// The category of product `id` (0-based).
pub fn category_of(id: u32) -> u32 {
    (id.max(1) - 1) % DEMO_CATEGORIES
}

/// The ids of category `c`'s products, in order.
pub fn category_products(c: u32) -> Vec<u32> {
    (1..=DEMO_PRODUCT_COUNT).filter(|&id| category_of(id) == c).collect()
}
