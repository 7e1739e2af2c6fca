//! Streaming product extraction: JSON-LD, microdata and OpenGraph, read as
//! the body arrives, with `lol_html` (no DOM is ever built).
//!
//! Feed body chunks to an [`Extractor`] and call [`Extractor::finish`]. Memory
//! stays bounded whatever the page size: only JSON-LD script text (capped per
//! script and in total), the open microdata scopes and a few meta values are
//! kept.
//!
//! # Rules
//! - **Precedence, field by field:** JSON-LD, then microdata, then OpenGraph.
//!   A product split across sources (name in JSON-LD, price only in `og:`
//!   tags) is merged.
//! - **Several products:** the main one is the first `Product` (in document
//!   order, outer before nested) that has a price; failing that, the first
//!   one. The others are counted in `Product::others`. OpenGraph describes the
//!   page, so it only fills fields of the main product.
//! - **Malformed JSON-LD** (JS comments, raw control characters, trailing
//!   commas, HTML entities) is repaired where possible; the product records
//!   `malformed_json_ld` either way, and one bad script never fails the page.
//! - **Prices** keep the page's text and gain a normalised decimal only when
//!   the format is unambiguous (see [`normalise_price`]); otherwise a note says
//!   why not.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::{Element, TextChunk};
use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, MemorySettings, Selector, Settings};
use serde_json::Value;

use crate::wire::protocol::{Field, Price, Product, Source};

/// Most bytes kept of one JSON-LD script.
pub const MAX_JSON_LD_SCRIPT: usize = 512 * 1024;
/// Most bytes of JSON-LD kept per page.
pub const MAX_JSON_LD_TOTAL: usize = 1024 * 1024;
/// Most bytes kept of one microdata text value.
const MAX_TEXT_VALUE: usize = 2048;
/// Most microdata scopes kept open at once (deeper nesting is ignored).
const MAX_SCOPES: usize = 64;
/// Most properties kept for `itemref` (outside every item, under an id).
const MAX_REF_PROPS: usize = 256;

#[derive(Debug, Default, Clone)]
struct MItem {
    types: Vec<String>,
    props: Vec<(String, MValue)>,
    /// The ids its `itemref` names.
    refs: Vec<String>,
}

#[derive(Debug, Clone)]
enum MValue {
    Text(String),
    Item(MItem),
}

#[derive(Debug)]
struct Scope {
    item: MItem,
    prop: Option<String>,
    id: Option<String>,
}

/// What an element's end tag must do, in this order.
#[derive(Debug, Clone, Copy)]
enum AtEnd {
    Collect,
    CloseScope,
    PopId,
}

#[derive(Debug)]
struct TextCollector {
    names: Vec<String>,
    buf: String,
}

#[derive(Debug, Default)]
struct State {
    json_ld: Vec<String>,
    json_ld_total: usize,
    current_ld: Option<String>,
    og: Vec<(String, String)>,
    canonical: Option<String>,
    scopes: Vec<Scope>,
    items: Vec<MItem>,
    collectors: Vec<TextCollector>,
    /// Ids of the open elements outside every item: what they hold may be
    /// pulled into an item by its `itemref`.
    id_stack: Vec<String>,
    /// (id, property, value) found under such elements.
    ref_props: Vec<(String, String, MValue)>,
    /// Top-level items without `itemprop`, by their id (an `itemref` to one
    /// takes its properties).
    item_ids: std::collections::HashMap<String, usize>,
    links: Option<Links>,
}

/// Links found on the page, for a crawl.
#[derive(Debug, Default)]
struct Links {
    hrefs: Vec<String>,
    base: Option<String>,
    max: usize,
}

/// `hrefs` made absolute against `base` (itself against `page`): http(s)
/// only, without fragments, each once, in order.
pub fn resolve_links(page: &url::Url, base: Option<&str>, hrefs: &[String]) -> Vec<String> {
    let base = base.and_then(|b| page.join(b).ok()).unwrap_or_else(|| page.clone());
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for href in hrefs {
        let Ok(mut url) = base.join(href) else { continue };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        url.set_fragment(None);
        if seen.insert(url.as_str().to_owned()) {
            out.push(url.into());
        }
    }
    out
}

impl State {
    /// Keep one link, within the page's bound.
    fn add_link(&mut self, href: String) {
        if let Some(l) = self.links.as_mut()
            && l.hrefs.len() < l.max
        {
            let href = decode_entities(href.trim());
            if !href.is_empty() && !href.starts_with('#') {
                l.hrefs.push(href);
            }
        }
    }

    fn attach(&mut self, names: &[String], value: MValue) {
        if let Some(scope) = self.scopes.last_mut() {
            for n in names {
                scope.item.props.push((n.clone(), value.clone()));
            }
        } else {
            self.attach_to_ids(names.iter().map(String::as_str), &value);
        }
    }

    /// A property outside every item: keep it for the ids it lies under.
    fn attach_to_ids<'a>(&mut self, names: impl Iterator<Item = &'a str> + Clone, value: &MValue) {
        for id in &self.id_stack {
            for n in names.clone() {
                if self.ref_props.len() < MAX_REF_PROPS {
                    self.ref_props.push((id.clone(), n.to_owned(), value.clone()));
                }
            }
        }
    }

    fn close_scope(&mut self) {
        if let Some(scope) = self.scopes.pop() {
            match (scope.prop, self.scopes.last_mut()) {
                (Some(prop), Some(parent)) => {
                    for n in prop.split_whitespace() {
                        parent.item.props.push((n.to_owned(), MValue::Item(scope.item.clone())));
                    }
                }
                (prop, None) => {
                    match prop {
                        Some(prop) => self.attach_to_ids(prop.split_whitespace(), &MValue::Item(scope.item.clone())),
                        None => {
                            if let Some(id) = scope.id {
                                self.item_ids.insert(id, self.items.len());
                            }
                        }
                    }
                    self.items.push(scope.item);
                }
                // An item inside another without `itemprop` stands alone.
                (None, Some(_)) => self.items.push(scope.item),
            }
        }
    }

    fn at_end(&mut self, what: AtEnd) {
        match what {
            AtEnd::Collect => {
                if let Some(c) = self.collectors.pop() {
                    let text = c.buf.split_whitespace().collect::<Vec<_>>().join(" ");
                    self.attach(&c.names, MValue::Text(text));
                }
            }
            AtEnd::CloseScope => self.close_scope(),
            AtEnd::PopId => {
                self.id_stack.pop();
            }
        }
    }

    /// `item` with the properties its `itemref`s name added after its own.
    fn with_refs(&self, item: &MItem, depth: usize) -> MItem {
        let mut out = item.clone();
        if depth > 8 {
            return out;
        }
        for r in &item.refs {
            out.props
                .extend(self.ref_props.iter().filter(|(id, _, _)| id == r).map(|(_, n, v)| (n.clone(), v.clone())));
            if let Some(&k) = self.item_ids.get(r)
                && !std::ptr::eq(&self.items[k], item)
            {
                out.props.extend(self.items[k].props.iter().cloned());
            }
        }
        for (_, v) in &mut out.props {
            if let MValue::Item(inner) = v
                && !inner.refs.is_empty()
            {
                *inner = self.with_refs(inner, depth + 1);
            }
        }
        out
    }
}

type Sink = fn(&[u8]);

fn discard(_: &[u8]) {}

/// A streaming extractor for one page. See the module docs.
pub struct Extractor {
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    state: Rc<RefCell<State>>,
    error: Option<String>,
    products: bool,
}

/// What one pass over a page found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageFacts {
    /// The page's product, when products were asked for and found.
    pub product: Option<Product>,
    /// The page's links, absolute: resolved against its `<base href>` and
    /// its URL, http(s) only, fragments dropped, in document order, each once.
    pub links: Vec<String>,
}

impl core::fmt::Debug for Extractor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Extractor").field("error", &self.error).finish_non_exhaustive()
    }
}

/// The attribute that holds a microdata property's value, by element.
fn value_attribute(tag: &str) -> Option<&'static str> {
    match tag {
        "meta" => Some("content"),
        "a" | "area" | "link" => Some("href"),
        "img" | "audio" | "video" | "source" | "embed" | "iframe" | "track" => Some("src"),
        "object" => Some("data"),
        "data" | "meter" => Some("value"),
        "time" => Some("datetime"),
        _ => None,
    }
}

const OG_KEYS: [&str; 14] = [
    "og:title",
    "og:image",
    "og:url",
    "og:type",
    "og:price:amount",
    "og:price:currency",
    "og:availability",
    "og:brand",
    "product:price:amount",
    "product:price:currency",
    "product:availability",
    "product:brand",
    "product:retailer_item_id",
    "product:gtin",
];

/// `css` parsed once per thread (a Worker's isolate runs on one) and kept
/// for the thread's life: lol_html's `element!` parses its selector for
/// every page, which was 7 % of the edge's CPU per page with extraction
/// (BENCHMARKS.md, "The isolate's own CPU per URL").
fn selector(css: &'static str) -> Cow<'static, Selector> {
    thread_local! {
        static PARSED: RefCell<Vec<(&'static str, &'static Selector)>> = const { RefCell::new(Vec::new()) };
    }
    PARSED.with_borrow_mut(|parsed| {
        if let Some((_, sel)) = parsed.iter().find(|(c, _)| *c == css) {
            return Cow::Borrowed(*sel);
        }
        // The selectors are this file's constants, tested to parse.
        let sel: &'static Selector =
            Box::leak(Box::new(css.parse().unwrap_or_else(|e| unreachable!("selector {css}: {e}"))));
        parsed.push((css, sel));
        Cow::Borrowed(sel)
    })
}

/// Most memory lol_html may use for one page's parsing state.
const MAX_PARSER_MEMORY: usize = 4 * 1024 * 1024;

/// A rewriter running `handlers`, within [`MAX_PARSER_MEMORY`], whose output
/// is discarded (only the handlers' findings matter).
fn rewriter<'h>(handlers: Vec<(Cow<'static, Selector>, ElementContentHandlers<'h>)>) -> HtmlRewriter<'h, Sink> {
    let mut settings =
        Settings::new().with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(MAX_PARSER_MEMORY));
    for h in handlers {
        settings = settings.append_element_content_handler(h);
    }
    HtmlRewriter::new(settings, discard as Sink)
}

/// An element handler on a selector parsed once (see [`selector`]).
fn on_element<'h>(
    css: &'static str,
    handler: impl FnMut(&mut Element<'_, '_>) -> HandlerResult + 'h,
) -> (Cow<'static, Selector>, ElementContentHandlers<'h>) {
    (selector(css), ElementContentHandlers::default().element(handler))
}

/// A text handler on a selector parsed once (see [`selector`]).
fn on_text<'h>(
    css: &'static str,
    handler: impl FnMut(&mut TextChunk<'_>) -> HandlerResult + 'h,
) -> (Cow<'static, Selector>, ElementContentHandlers<'h>) {
    (selector(css), ElementContentHandlers::default().text(handler))
}

impl Extractor {
    /// A fresh extractor of products.
    pub fn new() -> Self {
        Self::with(true, None)
    }

    /// An extractor of what is asked for: products, and the page's links
    /// (`a[href]`, `link[rel=next]`, and `<base href>` to resolve them), at
    /// most `links` of them. Both in one pass over the body.
    pub fn with(products: bool, links: Option<usize>) -> Self {
        let state = Rc::new(RefCell::new(State {
            links: links.map(|max| Links { max, ..Links::default() }),
            ..State::default()
        }));
        let (s1, s2, s3, s4, s5, s6) =
            (state.clone(), state.clone(), state.clone(), state.clone(), state.clone(), state.clone());
        let (l1, l2) = (state.clone(), state.clone());
        let mut handlers = Vec::new();
        if links.is_some() {
            handlers.push(on_element("a[href]", move |el: &mut Element| {
                if let Some(href) = el.get_attribute("href") {
                    l1.borrow_mut().add_link(href);
                }
                Ok(())
            }));
            handlers.push(on_element("base[href]", move |el: &mut Element| {
                let mut s = l2.borrow_mut();
                if let Some(l) = s.links.as_mut()
                    && l.base.is_none()
                {
                    l.base = el.get_attribute("href").map(|h| decode_entities(h.trim()));
                }
                Ok(())
            }));
        }
        if products || links.is_some() {
            handlers.push(on_element("link[rel][href]", move |el: &mut Element| {
                let rel = el.get_attribute("rel").unwrap_or_default().to_ascii_lowercase();
                let mut s = s4.borrow_mut();
                if rel.split_whitespace().any(|r| r == "canonical") && s.canonical.is_none() {
                    s.canonical = el.get_attribute("href").map(|h| h.trim().to_owned());
                }
                if rel.split_whitespace().any(|r| r == "next")
                    && let Some(href) = el.get_attribute("href")
                {
                    s.add_link(href);
                }
                Ok(())
            }));
        }
        if !products {
            return Self { rewriter: Some(rewriter(handlers)), state, error: None, products: false };
        }
        handlers.extend([
            on_element("script", move |el: &mut Element| {
                let ty = el.get_attribute("type").unwrap_or_default();
                if ty.trim().eq_ignore_ascii_case("application/ld+json") {
                    s1.borrow_mut().current_ld = Some(String::new());
                    let st = s1.clone();
                    el.on_end_tag(Box::new(move |_| {
                        let mut s = st.borrow_mut();
                        if let Some(text) = s.current_ld.take()
                            && s.json_ld_total + text.len() <= MAX_JSON_LD_TOTAL
                        {
                            s.json_ld_total += text.len();
                            s.json_ld.push(text);
                        }
                        Ok(())
                    }))?;
                }
                Ok(())
            }),
            on_text("script", move |t: &mut TextChunk| {
                let mut s = s2.borrow_mut();
                if let Some(buf) = s.current_ld.as_mut()
                    && buf.len() + t.as_str().len() <= MAX_JSON_LD_SCRIPT
                {
                    buf.push_str(t.as_str());
                }
                Ok(())
            }),
            on_element("meta", move |el: &mut Element| {
                let key = el.get_attribute("property").or_else(|| el.get_attribute("name"));
                if let (Some(key), Some(content)) = (key, el.get_attribute("content")) {
                    let key = key.trim().to_ascii_lowercase();
                    let mut s = s3.borrow_mut();
                    if OG_KEYS.contains(&key.as_str()) && !s.og.iter().any(|(k, _)| *k == key) {
                        s.og.push((key, content.trim().to_owned()));
                    }
                }
                Ok(())
            }),
            on_element("[itemscope], [itemprop], [id]", move |el: &mut Element| {
                let tag = el.tag_name().to_ascii_lowercase();
                let can_end = el.can_have_content() && !el.is_self_closing();
                let mut at_end: Vec<AtEnd> = Vec::new();
                // An element with an id outside every item: what it holds may
                // belong to an item that names it in `itemref`.
                let ref_id = el.get_attribute("id").map(|id| id.trim().to_owned()).filter(|id| {
                    !id.is_empty() && s5.borrow().scopes.is_empty() && s5.borrow().id_stack.len() < MAX_SCOPES
                });
                if let Some(id) = ref_id {
                    s5.borrow_mut().id_stack.push(id);
                    at_end.push(AtEnd::PopId);
                }
                let prop = el.get_attribute("itemprop").filter(|p| !p.trim().is_empty());
                if el.has_attribute("itemscope") {
                    if s5.borrow().scopes.len() < MAX_SCOPES {
                        let types = el.get_attribute("itemtype").unwrap_or_default();
                        let refs = el.get_attribute("itemref").unwrap_or_default();
                        let item = MItem {
                            types: types.split_whitespace().map(str::to_owned).collect(),
                            props: Vec::new(),
                            refs: refs.split_whitespace().map(str::to_owned).collect(),
                        };
                        let id = el.get_attribute("id").map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
                        s5.borrow_mut().scopes.push(Scope { item, prop, id });
                        at_end.insert(0, AtEnd::CloseScope);
                    }
                } else if let Some(prop) = prop {
                    let names: Vec<String> = prop.split_whitespace().map(str::to_owned).collect();
                    let attr_value = value_attribute(&tag).and_then(|a| el.get_attribute(a));
                    match attr_value {
                        Some(v) => s5.borrow_mut().attach(&names, MValue::Text(v.trim().to_owned())),
                        None if can_end => {
                            s5.borrow_mut().collectors.push(TextCollector { names, buf: String::new() });
                            at_end.insert(0, AtEnd::Collect);
                        }
                        None => s5.borrow_mut().attach(&names, MValue::Text(String::new())),
                    }
                }
                if at_end.is_empty() {
                    return Ok(());
                }
                if can_end {
                    let st = s5.clone();
                    el.on_end_tag(Box::new(move |_| {
                        let mut s = st.borrow_mut();
                        for a in &at_end {
                            s.at_end(*a);
                        }
                        Ok(())
                    }))?;
                } else {
                    let mut s = s5.borrow_mut();
                    for a in &at_end {
                        s.at_end(*a);
                    }
                }
                Ok(())
            }),
        ]);
        // A microdata value's text: only while an `[itemprop]` element is
        // open (a collector exists only then). lol_html calls a text handler
        // once per chunk however many of its elements are open, and decodes
        // no text outside them; a document-wide handler made it decode every
        // text node of every page (BENCHMARKS.md, the isolate's CPU).
        handlers.push(on_text("[itemprop]", move |t: &mut TextChunk| {
            let mut s = s6.borrow_mut();
            if !s.collectors.is_empty() {
                let chunk = t.as_str();
                for c in &mut s.collectors {
                    if c.buf.len() + chunk.len() <= MAX_TEXT_VALUE {
                        c.buf.push_str(chunk);
                    }
                }
            }
            Ok(())
        }));
        Self { rewriter: Some(rewriter(handlers)), state, error: None, products: true }
    }

    /// Feed the next piece of the body. Parse errors stop the parsing (what
    /// was found so far is kept); they never panic.
    pub fn feed(&mut self, chunk: &[u8]) {
        if let Some(r) = self.rewriter.as_mut()
            && let Err(e) = r.write(chunk)
        {
            self.error = Some(e.to_string());
            self.rewriter = None;
        }
    }

    /// The body ended: the page's product, if it has one.
    pub fn finish(self) -> Option<Product> {
        self.finish_page(None).product
    }

    /// The body ended: the product and the links, resolved against
    /// `page_url` (the URL the body came from, after redirects).
    pub fn finish_page(mut self, page_url: Option<&url::Url>) -> PageFacts {
        if let Some(r) = self.rewriter.take()
            && let Err(e) = r.end()
        {
            self.error = Some(e.to_string());
        }
        let mut state = self.state.borrow_mut();
        while !state.scopes.is_empty() {
            // Unclosed (or implicitly closed) scopes still count.
            state.close_scope();
        }
        let product = if self.products { build(&state) } else { None };
        let links = match (state.links.take(), page_url) {
            (Some(l), Some(page)) => resolve_links(page, l.base.as_deref(), &l.hrefs),
            _ => Vec::new(),
        };
        PageFacts { product, links }
    }
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

/// Extract from a whole page at once.
pub fn extract(html: &[u8]) -> Option<Product> {
    let mut x = Extractor::new();
    x.feed(html);
    x.finish()
}

/// A product found in one source, before merging.
#[derive(Debug, Default, Clone)]
struct Found {
    name: Option<String>,
    price: Option<Price>,
    currency: Option<String>,
    availability: Option<String>,
    brand: Option<String>,
    sku: Option<String>,
    gtin: Option<String>,
    image: Option<String>,
    url: Option<String>,
}

fn build(s: &State) -> Option<Product> {
    let mut malformed = false;
    let mut ld_products = Vec::new();
    for block in &s.json_ld {
        match parse_json_ld(block) {
            Some((value, repaired)) => {
                malformed |= repaired;
                let mut nodes = Vec::new();
                collect_products(&value, &mut nodes, 0);
                ld_products.extend(nodes.into_iter().map(from_json_ld));
            }
            None => malformed = true,
        }
    }
    let mut md_products = Vec::new();
    for item in &s.items {
        collect_micro(&s.with_refs(item, 0), &mut md_products, 0);
    }
    let og = from_og(&s.og, s.canonical.as_deref());
    let count = ld_products.len().max(md_products.len());
    let pick = |v: &[Found]| -> Option<Found> { v.iter().find(|p| p.price.is_some()).or_else(|| v.first()).cloned() };
    let ld = pick(&ld_products);
    let md = pick(&md_products);
    let og_is_product =
        og.price.is_some() || s.og.iter().any(|(k, v)| k == "og:type" && v.to_ascii_lowercase().starts_with("product"));
    if ld.is_none() && md.is_none() && !og_is_product {
        return None;
    }
    let sources: [(Source, Option<Found>); 3] =
        [(Source::JsonLd, ld), (Source::Microdata, md), (Source::Opengraph, Some(og).filter(|_| og_is_product))];
    let mut p = Product {
        others: u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX),
        malformed_json_ld: malformed,
        ..Product::default()
    };
    macro_rules! merge {
        ($field:ident) => {
            for (src, f) in &sources {
                if let Some(v) = f.as_ref().and_then(|f| f.$field.clone()) {
                    p.$field = Some(Field { value: v, source: *src });
                    break;
                }
            }
        };
    }
    merge!(name);
    merge!(price);
    merge!(currency);
    merge!(availability);
    merge!(brand);
    merge!(sku);
    merge!(gtin);
    merge!(image);
    merge!(url);
    match (p.currency.take(), &p.price) {
        (Some(c), _) => {
            let text = c.value.trim();
            let code = currency_code(text);
            if code.as_deref() != Some(text) {
                p.currency_text = Some(text.to_owned());
            }
            p.currency = code.map(|value| Field { value, source: c.source });
        }
        // No currency field: a symbol in the price's own text may name one.
        (None, Some(price)) => {
            if let Some((symbol, code)) = currency_in(&price.value.raw) {
                p.currency = Some(Field { value: code.to_owned(), source: price.source });
                p.currency_text = Some(symbol.to_owned());
            }
        }
        (None, None) => {}
    }
    Some(p)
}

// ---------------------------------------------------------------- JSON-LD

/// Parse a JSON-LD block, repairing common damage. Returns the value and
/// whether it needed repair.
fn parse_json_ld(text: &str) -> Option<(Value, bool)> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix("<!--").unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix("-->").unwrap_or(trimmed).trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Some((v, false));
    }
    let repaired = repair_json(trimmed);
    serde_json::from_str(&repaired).ok().map(|v| (v, true))
}

/// Best-effort repair: drop JS comments, escape raw control characters inside
/// strings, drop trailing commas, and decode the HTML entities that pages put
/// in JSON-LD by mistake.
pub fn repair_json(text: &str) -> String {
    let text = decode_entities(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' | '\r' | '\t' => out.push(' '),
                c if (c as u32) < 0x20 => {}
                c => out.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            c => out.push(c),
        }
    }
    // Trailing commas: `,` followed by whitespace and `}` or `]`, outside strings.
    let mut cleaned = String::with_capacity(out.len());
    let bytes: Vec<char> = out.chars().collect();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == '\\' && i + 1 < bytes.len() {
                cleaned.push(c);
                cleaned.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = bytes[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                i += 1;
                continue;
            }
        }
        cleaned.push(c);
        i += 1;
    }
    cleaned
}

/// Decode HTML character references (all of HTML's named ones, and
/// numeric ones) in text and attribute values, which lol_html hands over
/// as written, and in JSON-LD, where pages put them by mistake. The table
/// is `html-escape`'s (the full HTML5 list), which Leptos already brings
/// into the workspace.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    html_escape::decode_html_entities(s).into_owned()
}

fn type_names(v: &Value) -> Vec<String> {
    let last = |s: &str| s.rsplit(['/', ':', '#']).next().unwrap_or(s).to_owned();
    match v.get("@type") {
        Some(Value::String(s)) => vec![last(s)],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(last).collect(),
        _ => Vec::new(),
    }
}

fn is_product_type(types: &[String]) -> bool {
    types.iter().any(|t| matches!(t.as_str(), "Product" | "ProductGroup" | "IndividualProduct" | "ProductModel"))
}

/// Product nodes in document order, outer before nested.
fn collect_products<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > 32 {
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_products(x, out, depth + 1)),
        Value::Object(o) => {
            if is_product_type(&type_names(v)) {
                out.push(v);
            }
            for (k, x) in o {
                // Offers and brands hold no products worth reporting.
                if k != "offers" {
                    collect_products(x, out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(decode_entities(s.trim())).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(text_of),
        Value::Object(o) => o.get("name").or_else(|| o.get("@value")).and_then(text_of),
        _ => None,
    }
}

fn url_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Array(a) => a.iter().find_map(url_of),
        Value::Object(o) => o.get("url").or_else(|| o.get("contentUrl")).or_else(|| o.get("@id")).and_then(url_of),
        _ => None,
    }
}

fn price_from(v: &Value) -> Option<Price> {
    if let Value::Number(n) = v {
        // A JSON number has no separator ambiguity.
        let raw = n.to_string();
        return Some(Price { raw: raw.clone(), amount: Some(raw), note: None, high: None });
    }
    let raw = text_of(v)?;
    Some(price(&raw))
}

/// A [`Price`] from the page's text.
pub fn price(raw: &str) -> Price {
    match normalise_price(raw) {
        Ok(amount) => Price { raw: raw.to_owned(), amount: Some(amount), note: None, high: None },
        Err(note) => Price { raw: raw.to_owned(), amount: None, note: Some(note), high: None },
    }
}

fn offers_of(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().flat_map(offers_of).collect(),
        Value::Object(o) => {
            let mut out = vec![v];
            if let Some(inner) = o.get("offers") {
                out.extend(offers_of(inner));
            }
            out
        }
        _ => Vec::new(),
    }
}

fn from_json_ld(p: &Value) -> Found {
    let mut f = Found {
        name: p.get("name").and_then(text_of),
        brand: p.get("brand").or_else(|| p.get("manufacturer")).and_then(text_of),
        sku: p.get("sku").or_else(|| p.get("mpn")).and_then(text_of),
        gtin: ["gtin13", "gtin", "gtin12", "gtin14", "gtin8"].iter().find_map(|k| p.get(*k).and_then(text_of)),
        image: p.get("image").and_then(url_of),
        url: p.get("url").and_then(url_of).or_else(|| p.get("@id").and_then(url_of).filter(|u| u.starts_with("http"))),
        ..Found::default()
    };
    for offer in p.get("offers").map(offers_of).unwrap_or_default() {
        let spec =
            offer.get("priceSpecification").map(|s| if let Value::Array(a) = s { a.first().unwrap_or(s) } else { s });
        if f.price.is_none() {
            let low = offer.get("lowPrice");
            f.price =
                offer.get("price").or(low).or_else(|| spec.and_then(|s| s.get("price"))).and_then(price_from).map(
                    |mut pr| {
                        if low.is_some() && offer.get("price").is_none() {
                            pr.high = offer.get("highPrice").and_then(text_of).and_then(|h| normalise_price(&h).ok());
                        }
                        pr
                    },
                );
        }
        if f.currency.is_none() {
            f.currency =
                offer.get("priceCurrency").or_else(|| spec.and_then(|s| s.get("priceCurrency"))).and_then(text_of);
        }
        if f.availability.is_none() {
            f.availability = offer.get("availability").and_then(text_of).map(|a| availability(&a).to_owned());
        }
    }
    f
}

// -------------------------------------------------------------- microdata

fn prop<'a>(item: &'a MItem, name: &str) -> Option<&'a MValue> {
    item.props.iter().find(|(n, _)| n.rsplit(['/', '#']).next() == Some(name)).map(|(_, v)| v)
}

fn mtext(v: Option<&MValue>) -> Option<String> {
    match v? {
        MValue::Text(t) => Some(decode_entities(t.trim())).filter(|t| !t.is_empty()),
        MValue::Item(i) => mtext(prop(i, "name")),
    }
}

fn collect_micro(item: &MItem, out: &mut Vec<Found>, depth: usize) {
    if depth > 16 {
        return;
    }
    let types: Vec<String> = item.types.iter().map(|t| t.rsplit(['/', '#']).next().unwrap_or(t).to_owned()).collect();
    if is_product_type(&types) {
        let mut f = Found {
            name: mtext(prop(item, "name")),
            brand: mtext(prop(item, "brand")),
            sku: mtext(prop(item, "sku")).or_else(|| mtext(prop(item, "mpn"))),
            gtin: ["gtin13", "gtin", "gtin12", "gtin14", "gtin8"].iter().find_map(|k| mtext(prop(item, k))),
            image: mtext(prop(item, "image")),
            url: mtext(prop(item, "url")),
            ..Found::default()
        };
        let offers: Vec<&MItem> = item
            .props
            .iter()
            .filter(|(n, _)| n.ends_with("offers"))
            .filter_map(|(_, v)| if let MValue::Item(i) = v { Some(i) } else { None })
            .collect();
        for o in &offers {
            if f.price.is_none() {
                f.price = mtext(prop(o, "price")).or_else(|| mtext(prop(o, "lowPrice"))).map(|p| price(&p));
            }
            if f.currency.is_none() {
                f.currency = mtext(prop(o, "priceCurrency"));
            }
            if f.availability.is_none() {
                f.availability = mtext(prop(o, "availability")).map(|a| availability(&a).to_owned());
            }
        }
        // Some pages put offer fields on the product itself.
        if f.price.is_none() {
            f.price = mtext(prop(item, "price")).map(|p| price(&p));
        }
        if f.currency.is_none() {
            f.currency = mtext(prop(item, "priceCurrency"));
        }
        if f.availability.is_none() {
            f.availability = mtext(prop(item, "availability")).map(|a| availability(&a).to_owned());
        }
        out.push(f);
    }
    for (_, v) in &item.props {
        if let MValue::Item(i) = v
            && !i.types.iter().any(|t| t.ends_with("Offer") || t.ends_with("AggregateOffer"))
        {
            collect_micro(i, out, depth + 1);
        }
    }
}

// -------------------------------------------------------------- OpenGraph

fn from_og(og: &[(String, String)], canonical: Option<&str>) -> Found {
    let get = |k: &str| og.iter().find(|(key, _)| key == k).map(|(_, v)| decode_entities(v)).filter(|v| !v.is_empty());
    Found {
        name: get("og:title"),
        price: get("product:price:amount").or_else(|| get("og:price:amount")).map(|p| price(&p)),
        currency: get("product:price:currency").or_else(|| get("og:price:currency")),
        availability: get("product:availability")
            .or_else(|| get("og:availability"))
            .map(|a| availability(&a).to_owned()),
        brand: get("product:brand").or_else(|| get("og:brand")),
        sku: get("product:retailer_item_id"),
        gtin: get("product:gtin"),
        image: get("og:image"),
        url: get("og:url").or_else(|| canonical.map(str::to_owned)),
    }
}

// ------------------------------------------------------ normalised values

/// Currency symbols that name one currency only, longest first (so `US$`
/// is found before anything shorter). `$`, `¥`, `kr`, `R` and `Fr.` name
/// several and are never mapped.
const CURRENCY_SYMBOLS: [(&str, &str); 31] = [
    ("US$", "USD"),
    ("CA$", "CAD"),
    ("AU$", "AUD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("CN¥", "CNY"),
    ("JP¥", "JPY"),
    ("RMB", "CNY"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("S$", "SGD"),
    ("R$", "BRL"),
    ("zł", "PLN"),
    ("Kč", "CZK"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("₹", "INR"),
    ("₽", "RUB"),
    ("₺", "TRY"),
    ("₴", "UAH"),
    ("₪", "ILS"),
    ("₦", "NGN"),
    ("₫", "VND"),
    ("₩", "KRW"),
    ("฿", "THB"),
    ("₱", "PHP"),
    ("₲", "PYG"),
    ("₸", "KZT"),
    ("₼", "AZN"),
    ("₾", "GEL"),
    ("₡", "CRC"),
];

/// The ISO 4217 code a currency field means: three letters as they are
/// (upper-cased), or an unambiguous symbol's code; `None` for anything else.
pub fn currency_code(text: &str) -> Option<String> {
    let t = text.trim();
    if t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Some(t.to_ascii_uppercase());
    }
    CURRENCY_SYMBOLS.iter().find(|(symbol, _)| *symbol == t).map(|(_, code)| (*code).to_owned())
}

/// An unambiguous currency symbol inside a price's text (`"19,99 €"`), and
/// its code.
pub fn currency_in(price_text: &str) -> Option<(&'static str, &'static str)> {
    CURRENCY_SYMBOLS.iter().find(|(symbol, _)| price_text.contains(symbol)).copied()
}

/// Normalise an availability value (schema.org URL, short name or OpenGraph
/// wording) to `in_stock`, `out_of_stock`, `preorder`, `backorder`,
/// `discontinued`, `limited` or `unknown`.
pub fn availability(raw: &str) -> &'static str {
    let last = raw.trim().rsplit(['/', ':', '#']).next().unwrap_or("");
    let key: String = last.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    match key.as_str() {
        "instock" | "onlineonly" | "instoreonly" | "available" | "yes" => "in_stock",
        "outofstock" | "soldout" | "oos" | "no" | "unavailable" => "out_of_stock",
        "preorder" | "presale" => "preorder",
        "backorder" => "backorder",
        "discontinued" => "discontinued",
        "limitedavailability" | "limited" => "limited",
        _ => "unknown",
    }
}

/// Normalise a price text to a plain decimal (`"1.299,00 €"` → `"1299.00"`).
///
/// Accepts thousands separators `.`, `,`, `'`, spaces (including no-break and
/// thin spaces) and a decimal `.` or `,`. When both `.` and `,` occur, the last
/// one is the decimal separator. A single separator followed by exactly three
/// digits (`"1,299"`, `"1.299"`) could be either, so it is refused with a
/// reason instead of being guessed: never silently wrong.
pub fn normalise_price(raw: &str) -> Result<String, String> {
    let kept: String = raw.chars().filter(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '\'' | '-')).collect();
    let kept = kept.trim_matches(|c| c == '.' || c == ',' || c == '-');
    let negative = raw.trim_start().starts_with('-');
    let digits: String = kept.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Err(format!("no digits in {raw:?}"));
    }
    if kept.contains('-') {
        return Err(format!("{raw:?} looks like a range"));
    }
    let kept = kept.replace('\'', "");
    let last_dot = kept.rfind('.');
    let last_comma = kept.rfind(',');
    let (int_part, frac) = match (last_dot, last_comma) {
        (None, None) => (kept.clone(), None),
        (Some(d), Some(c)) => {
            let (dec, thou) = if d > c { ('.', ',') } else { (',', '.') };
            let pos = d.max(c);
            let int = &kept[..pos];
            if int.contains(dec) {
                return Err(format!("{raw:?} has more than one decimal separator"));
            }
            check_groups(int, thou, raw)?;
            (int.replace(thou, ""), Some(kept[pos + 1..].to_owned()))
        }
        (Some(p), None) | (None, Some(p)) => {
            let sep = kept.as_bytes()[p] as char;
            if kept.matches(sep).count() > 1 {
                check_groups(&kept, sep, raw)?;
                (kept.replace(sep, ""), None)
            } else {
                let frac = &kept[p + 1..];
                if frac.len() == 3 {
                    return Err(format!(
                        "{raw:?} is ambiguous: {sep:?} followed by three digits may be a decimal or a thousands separator"
                    ));
                }
                (kept[..p].to_owned(), Some(frac.to_owned()))
            }
        }
    };
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let sign = if negative { "-" } else { "" };
    Ok(match frac {
        Some(f) if !f.is_empty() => format!("{sign}{int_part}.{f}"),
        _ => format!("{sign}{int_part}"),
    })
}

fn check_groups(int: &str, sep: char, raw: &str) -> Result<(), String> {
    let groups: Vec<&str> = int.split(sep).collect();
    let ok = groups.len() == 1
        || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
    if ok { Ok(()) } else { Err(format!("{raw:?} has irregular digit groups")) }
}
