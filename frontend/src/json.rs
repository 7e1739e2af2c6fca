//! JSON parsed by the browser's own `JSON.parse`, read through
//! [`fanout_shared::wire::json`]: the edge's event lines, its config, a sitemap's
//! URLs and the error body of a refusal.
//!
//! Why not serde here: each type's derived decoder is its own code in the
//! wasm, and for these types that code was the largest part of the
//! dashboard's wasm after Leptos (BENCHMARKS.md, "What the bundle is made
//! of"). The browser already carries a JSON parser; `shared` picks the
//! fields out of what it returns, with the same code its native tests run
//! on `serde_json::Value`.

use std::cell::RefCell;

use fanout_shared::wire::json::{JsonValue, MAX_SAFE_INTEGER};
use js_sys::{Array, JSON, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// Field names already converted to JS strings, by the address and
    /// length of their `'static` text: a few dozen entries.
    static KEYS: RefCell<Vec<(usize, usize, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// A value returned by `JSON.parse`. `DETAIL` says whether the parts of the
/// wire only some pages use are read (see `JsonValue::DETAIL`). One of the
/// two per page: each is a copy of the reading code in the wasm.
pub struct JsonWith<const DETAIL: bool>(JsValue);

/// JSON as most pages read it: without the summary's statistics and crawl
/// report or the crawl and job limits (the dashboard's only kind).
pub type Json = JsonWith<false>;

/// JSON read in full: the crawl and jobs pages' events and limits.
pub type FullJson = JsonWith<true>;

impl<const D: bool> JsonWith<D> {
    /// Parse `text`, or say that it is not JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        JSON::parse(text).map(JsonWith).map_err(|_| "not JSON".to_owned())
    }
}

impl<const D: bool> From<JsValue> for JsonWith<D> {
    fn from(value: JsValue) -> Self {
        JsonWith(value)
    }
}

impl<const D: bool> AsRef<JsValue> for JsonWith<D> {
    fn as_ref(&self) -> &JsValue {
        &self.0
    }
}

impl<const D: bool> JsonValue for JsonWith<D> {
    const DETAIL: bool = D;

    fn member(&self, key: &'static str) -> Option<Self> {
        if !self.0.is_object() {
            return None;
        }
        let value = KEYS.with(|keys| {
            // The key as a JS string, converted once per field name: the
            // text decoding of a key costs more than the lookup itself, and
            // a 1,000-URL run looks up about 100,000 of them.
            let mut keys = keys.borrow_mut();
            let at = key.as_ptr() as usize;
            let js = match keys.iter().find(|(p, n, _)| *p == at && *n == key.len()) {
                Some((_, _, js)) => js,
                None => {
                    keys.push((at, key.len(), JsValue::from_str(key)));
                    &keys[keys.len() - 1].2
                }
            };
            Reflect::get(&self.0, js).ok()
        })?;
        (!value.is_undefined() && !value.is_null()).then_some(JsonWith(value))
    }

    fn as_u64(&self) -> Option<u64> {
        #[allow(clippy::cast_precision_loss)] // 2^53 − 1 is exact in a double
        let max_safe = MAX_SAFE_INTEGER as f64;
        self.0.as_f64().filter(|n| (0.0..=max_safe).contains(n) && n.fract() == 0.0).map(|n| n as u64)
    }

    fn as_f64(&self) -> Option<f64> {
        self.0.as_f64()
    }

    fn as_string(&self) -> Option<String> {
        self.0.as_string()
    }

    fn as_bool(&self) -> Option<bool> {
        self.0.as_bool()
    }

    fn elements(&self) -> Option<Vec<Self>> {
        Array::is_array(&self.0).then(|| Array::from(&self.0).iter().map(JsonWith).collect())
    }

    fn entries(&self) -> Option<Vec<(String, Self)>> {
        if !self.0.is_object() || Array::is_array(&self.0) {
            return None;
        }
        let object: &Object = self.0.unchecked_ref();
        Object::entries(object)
            .iter()
            .map(|pair| {
                let pair: Array = pair.unchecked_into();
                Some((pair.get(0).as_string()?, JsonWith(pair.get(1))))
            })
            .collect()
    }
}
