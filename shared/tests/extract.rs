//! Product extraction against real pages (extruct's samples, compared with the
//! values extruct itself extracts from them) and Fanout's own fixtures.

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use std::path::PathBuf;

use fanout_shared::extract::{Extractor, availability, extract, normalise_price};
use fanout_shared::wire::protocol::{Product, Source};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn expected(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

fn product(path: &str) -> Product {
    extract(&fixture(path)).unwrap_or_else(|| panic!("no product in {path}"))
}

fn val<T: Clone>(f: &Option<fanout_shared::wire::protocol::Field<T>>) -> T {
    f.as_ref().map(|f| f.value.clone()).expect("field present")
}

/// The microdata samples: every field Fanout reports equals extruct's value.
#[test]
fn extruct_microdata_samples_agree() {
    for (page, json) in [
        ("extruct/schema.org__product.html", "extruct/schema.org__product.json"),
        ("extruct/schema.org__product-ref.html", "extruct/schema.org__product-ref.json"),
    ] {
        let want = &expected(json)[0]["properties"];
        let p = product(page);
        assert_eq!(val(&p.name), want["name"].as_str().unwrap(), "{page}");
        assert_eq!(val(&p.brand), want["brand"].as_str().unwrap(), "{page}");
        assert_eq!(val(&p.sku), want["mpn"].as_str().unwrap(), "{page}: mpn stands in for a missing sku");
        let offer = &want["offers"]["properties"];
        assert_eq!(val(&p.price).raw, offer["price"].as_str().unwrap(), "{page}");
        assert_eq!(val(&p.price).amount.as_deref(), offer["price"].as_str(), "{page}");
        assert_eq!(val(&p.currency), offer["priceCurrency"].as_str().unwrap(), "{page}");
        assert_eq!(val(&p.availability), availability(offer["availability"].as_str().unwrap()), "{page}");
        assert_eq!(val(&p.availability), "in_stock");
        let image = match &want["image"] {
            Value::Array(a) => a[0].as_str().unwrap().to_owned(),
            v => v.as_str().unwrap().to_owned(),
        };
        assert_eq!(val(&p.image), image, "{page}");
        assert_eq!(p.name.as_ref().unwrap().source, Source::Microdata);
    }
    // The same product as a bare fragment.
    let p = product("extruct/misc__product_microdata.html");
    assert_eq!(val(&p.name), "Executive Anvil");
    assert_eq!(val(&p.price).amount.as_deref(), Some("119.99"));
}

fn og_value(json: &Value, key: &str) -> String {
    json[0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == key)
        .and_then(|pair| pair[1].as_str())
        .unwrap_or_else(|| panic!("{key} not in the sample"))
        .to_owned()
}

/// The real 900 KB shop page. It has OpenGraph `product:` tags (extruct's
/// values) and microdata, which takes precedence field by field; every field
/// taken from OpenGraph must equal extruct's value, and the offer fields must
/// agree whichever source they came from.
#[test]
fn extruct_opengraph_product_page_agrees() {
    let want = expected("extruct/misc__opengraph_ns_product_test.json");
    let p = product("extruct/misc__opengraph_ns_product_test.html");
    let og_fields = [
        ("og:url", &p.url),
        ("og:image", &p.image),
        ("product:retailer_item_id", &p.sku),
        ("product:gtin", &p.gtin),
        ("og:title", &p.name),
    ];
    let mut from_og = 0;
    for (key, field) in og_fields {
        if let Some(f) = field
            && f.source == Source::Opengraph
        {
            assert_eq!(f.value, og_value(&want, key), "{key}");
            from_og += 1;
        }
    }
    assert!(from_og >= 3, "url, sku and gtin exist only in OpenGraph");
    assert!(og_value(&want, "og:title").starts_with(&val(&p.name)));
    assert_eq!(val(&p.price).amount, Some(og_value(&want, "product:price:amount")));
    assert_eq!(val(&p.currency), og_value(&want, "product:price:currency"));
    assert_eq!(val(&p.availability), availability(&og_value(&want, "product:availability")));
}

/// Article pages are not products.
#[test]
fn extruct_article_pages_have_no_product() {
    for page in ["extruct/misc__opengraph_test.html", "extruct/misc__expanded_OG_support_test.html"] {
        assert_eq!(extract(&fixture(page)), None, "{page}");
    }
}

#[test]
fn shopify_graph_with_offer_array() {
    let p = product("own/shopify_graph.html");
    assert_eq!(val(&p.name), "Linen Shirt");
    assert_eq!(val(&p.brand), "Northwind");
    assert_eq!(val(&p.sku), "LS-01");
    assert_eq!(val(&p.gtin), "4006381333931");
    assert_eq!(val(&p.image), "https://cdn.example/linen-1.jpg");
    assert_eq!(val(&p.url), "https://store.example/products/linen-shirt");
    assert_eq!(val(&p.price).amount.as_deref(), Some("49.00"));
    assert_eq!(val(&p.currency), "EUR");
    assert_eq!(val(&p.availability), "in_stock", "the first offer's");
    assert_eq!(p.others, 0);
    assert_eq!(p.name.unwrap().source, Source::JsonLd);
}

#[test]
fn woocommerce_og_price_tags() {
    let p = product("own/woocommerce_og.html");
    assert_eq!(val(&p.name), "Ceramic Mug & Saucer");
    assert_eq!(val(&p.brand), "Kiln & Co");
    assert_eq!(val(&p.price).amount.as_deref(), Some("12.50"));
    assert_eq!(val(&p.currency), "GBP");
    assert_eq!(val(&p.availability), "in_stock");
}

#[test]
fn aggregate_offer_gives_a_range() {
    let p = product("own/aggregate_offer.html");
    let price = val(&p.price);
    assert_eq!(price.amount.as_deref(), Some("89.95"), "a JSON number keeps its value");
    assert_eq!(price.high.as_deref(), Some("129.95"));
    assert_eq!(val(&p.brand), "Orbital");
    assert_eq!(val(&p.availability), "limited");
}

#[test]
fn several_products_pick_the_first_with_a_price_and_count_the_rest() {
    let p = product("own/several_products.html");
    assert_eq!(val(&p.name), "Espresso Grinder");
    assert_eq!(p.others, 2);
}

#[test]
fn localised_price_is_normalised() {
    let p = product("own/localised_prices.html");
    let price = val(&p.price);
    assert_eq!(price.raw, "1.299,00 €");
    assert_eq!(price.amount.as_deref(), Some("1299.00"));
    assert_eq!(val(&p.currency), "EUR", "upper-cased ISO 4217");
    assert_eq!(val(&p.availability), "preorder");
    assert_eq!(val(&p.name), "Küchenwaage Präzision");
}

#[test]
fn html_entities_in_json_ld_are_decoded() {
    let p = product("own/entities.html");
    assert_eq!(val(&p.name), "Café Table & Chairs");
    assert_eq!(val(&p.price).amount.as_deref(), Some("320.00"));
    assert!(p.malformed_json_ld);
}

#[test]
fn missing_fields_stay_missing() {
    let p = product("own/missing_fields.html");
    assert_eq!(val(&p.name), "Mystery Box");
    assert!(p.price.is_none() && p.currency.is_none() && p.availability.is_none() && p.brand.is_none());
    assert!(!p.malformed_json_ld);
}

#[test]
fn broken_markup_and_json_ld_are_recovered() {
    let p = product("own/broken_markup.html");
    assert!(p.malformed_json_ld);
    assert_eq!(val(&p.name), "Rain Jacket Pro");
    assert_eq!(val(&p.price).amount.as_deref(), Some("159.90"));
    assert_eq!(val(&p.currency), "CHF");
    assert_eq!(val(&p.availability), "in_stock");
}

#[test]
fn a_product_split_across_sources_is_merged_by_precedence() {
    let p = product("own/split_sources.html");
    assert_eq!(val(&p.name), "Desk Lamp", "JSON-LD wins over microdata");
    assert_eq!(p.name.as_ref().unwrap().source, Source::JsonLd);
    assert_eq!(val(&p.sku), "DL-9");
    assert_eq!(val(&p.availability), "backorder");
    assert_eq!(p.availability.as_ref().unwrap().source, Source::Microdata);
    assert_eq!(val(&p.price).amount.as_deref(), Some("24.99"));
    assert_eq!(p.price.as_ref().unwrap().source, Source::Opengraph);
}

#[test]
fn demo_shop_pages_extract_completely() {
    for id in [1, 77, 240] {
        let d = fanout_shared::demo::product(id).unwrap();
        let url = format!("http://shop.test/demo/products/{id}");
        let p = extract(fanout_shared::demo::product_page(&d, &url).as_bytes()).unwrap();
        assert_eq!(val(&p.name), d.name);
        assert_eq!(val(&p.price).amount, Some(d.price()));
        assert_eq!(val(&p.currency), d.currency);
        assert_eq!(val(&p.availability), d.availability.as_str());
        assert_eq!(val(&p.brand), d.brand);
        assert_eq!(val(&p.sku), d.sku);
        assert_eq!(val(&p.url), url);
    }
}

#[test]
fn prices_in_every_common_format() {
    for (raw, want) in [
        ("17.99", "17.99"),
        ("1,299.00", "1299.00"),
        ("1.299,00", "1299.00"),
        ("1 299,00 €", "1299.00"),
        ("1\u{a0}299,00\u{a0}€", "1299.00"),
        ("$1,299,999.50", "1299999.50"),
        ("CHF 1'299.90", "1299.90"),
        ("12,5", "12.5"),
        ("€ 0,99", "0.99"),
        ("1299", "1299"),
        ("1.234.567", "1234567"),
    ] {
        assert_eq!(normalise_price(raw).as_deref(), Ok(want), "{raw}");
    }
    for raw in ["1,299", "1.299", "free", "", "10-20", "1,2,3"] {
        assert!(normalise_price(raw).is_err(), "{raw} must not be guessed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Arbitrary bytes, cut anywhere: never a panic, and the same result as
    /// feeding the whole body at once.
    #[test]
    fn chunking_never_changes_the_result(
        noise in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(0usize..12_000, 0..12),
        page in 0usize..4,
    ) {
        let pages = ["own/shopify_graph.html", "own/broken_markup.html", "own/split_sources.html", "own/localised_prices.html"];
        let mut body = fixture(pages[page]);
        body.extend_from_slice(&noise);
        let whole = extract(&body);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        let mut x = Extractor::new();
        let mut prev = 0;
        for p in points.into_iter().chain([body.len()]) {
            x.feed(&body[prev..p]);
            prev = p;
        }
        prop_assert_eq!(x.finish(), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000), cut in 0usize..4000) {
        let cut = cut.min(bytes.len());
        let mut x = Extractor::new();
        x.feed(&bytes[..cut]);
        x.feed(&bytes[cut..]);
        let _ = x.finish();
    }
}

/// Every named character reference of HTML is decoded in text and meta
/// values, not only the XML five.
#[test]
fn named_character_references_are_decoded() {
    let p = product("own/named_entities.html");
    assert_eq!(val(&p.name), "Café & Co — Théière ½ litre");
    assert_eq!(val(&p.brand), "Café & Co");
    assert_eq!(p.name.as_ref().unwrap().source, Source::Microdata, "microdata before OpenGraph");
    // The OpenGraph title alone, with « » and no-break spaces.
    let html = r#"<meta property="og:type" content="product"><meta property="og:title" content="Th&eacute;i&egrave;re &laquo;&nbsp;Caf&eacute; &amp; Co&nbsp;&raquo;">"#;
    assert_eq!(val(&extract(html.as_bytes()).unwrap().name), "Théière «\u{a0}Café & Co\u{a0}»");
    // An unknown name stays as written.
    let html = r#"<meta property="og:type" content="product"><meta property="og:title" content="A &notanentity; B">"#;
    assert_eq!(val(&extract(html.as_bytes()).unwrap().name), "A &notanentity; B");
}

/// `itemref` pulls properties from elsewhere on the page into the item.
#[test]
fn microdata_itemref_is_followed() {
    let p = product("own/itemref.html");
    assert_eq!(val(&p.name), "Arc Desk Lamp");
    assert_eq!(val(&p.brand), "Lumen Works", "from #lamp-brand, not #unrelated");
    assert_eq!(val(&p.price).amount.as_deref(), Some("89.00"));
    assert_eq!(val(&p.currency), "USD");
    assert_eq!(val(&p.availability), "limited");
    assert_eq!(p.price.as_ref().unwrap().source, Source::Microdata);
    // extruct's own itemref sample: the referenced properties do not
    // displace the item's own.
    let p = product("extruct/schema.org__product-ref.html");
    assert_eq!(val(&p.name), "Executive Anvil");
    assert_eq!(val(&p.image), "anvil_executive.jpg");
}

/// Symbols map to a code only when they name one currency; the page's text
/// is kept.
#[test]
fn currency_symbols_map_only_when_unambiguous() {
    let p = product("own/currency_symbols.html");
    assert_eq!(val(&p.currency), "INR");
    assert_eq!(p.currency_text.as_deref(), Some("₹"));
    let p = product("own/price_text_symbol.html");
    assert_eq!(val(&p.currency), "GBP", "from the price's own text");
    assert_eq!(p.currency.as_ref().unwrap().source, Source::Microdata);
    assert_eq!(p.currency_text.as_deref(), Some("£"));
    assert_eq!(val(&p.price).amount.as_deref(), Some("4.50"));
    let p = product("own/dollar_sign.html");
    assert!(p.currency.is_none(), "$ is not one currency: {:?}", p.currency);
    assert_eq!(p.currency_text.as_deref(), Some("$"));
    let p = product("own/named_entities.html");
    assert_eq!(val(&p.currency), "EUR", "&euro; decodes to €, which maps");
    assert_eq!(p.currency_text.as_deref(), Some("€"));
    use fanout_shared::extract::{currency_code, currency_in};
    for (text, code) in [("eur", Some("EUR")), ("US$", Some("USD")), ("¥", None), ("kr", None), ("R$", Some("BRL"))] {
        assert_eq!(currency_code(text).as_deref(), code, "{text}");
    }
    assert_eq!(currency_in("US$ 12.00"), Some(("US$", "USD")));
    assert_eq!(currency_in("$12.00"), None);
    // An ISO code as written is not repeated as text.
    assert!(product("own/shopify_graph.html").currency_text.is_none());
}

/// Links come out of the same pass, resolved against `<base href>` and
/// the page, without fragments, each once; only http(s).
#[test]
fn links_are_found_in_the_same_pass_as_products() {
    let page = url::Url::parse("https://store.example/shop/lamps").unwrap();
    let mut x = Extractor::with(true, Some(100));
    for chunk in fixture("own/links.html").chunks(7) {
        x.feed(chunk);
    }
    let facts = x.finish_page(Some(&page));
    assert_eq!(
        facts.links,
        vec![
            "https://store.example/shop/lamps?page=2",
            "https://store.example/",
            "https://store.example/shop/lamps",
            "https://store.example/shop/products/arc-lamp",
            "https://other.example/partner?ref=1&x=2",
            "https://store.example/shop/products/desk%20lamp",
        ]
    );
    assert!(facts.product.is_none());
    // Bounded per page, and not collected unless asked for.
    let mut x = Extractor::with(false, Some(2));
    x.feed(&fixture("own/links.html"));
    assert_eq!(x.finish_page(Some(&page)).links.len(), 2);
    let mut x = Extractor::new();
    x.feed(&fixture("own/links.html"));
    assert!(x.finish_page(Some(&page)).links.is_empty());
    // Links only, no products: a product page still gives its links.
    let mut x = Extractor::with(false, Some(100));
    x.feed(b"<div itemscope itemtype=\"https://schema.org/Product\"><span itemprop=name>X</span><a href=/p/2>next</a></div>");
    let facts = x.finish_page(Some(&page));
    assert_eq!((facts.product, facts.links), (None, vec!["https://store.example/p/2".to_owned()]));
}
