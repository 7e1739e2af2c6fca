//! The small JSON answers of the edge (its config, a sitemap's URLs and the
//! error body of a refusal) read through the browser's own `JSON.parse`.
//!
//! Why not serde, which reads every NDJSON event: each type's derived
//! decoder is its own code in the wasm, and for these three answers, read
//! once per page, that code was about 20 KB of the dashboard's wasm (7 KB
//! gzip) of a 150 KB budget (BENCHMARKS.md, "What the bundle is made of").
//! The browser already carries a JSON parser; these helpers only pick fields
//! out of what it returns, and name the field that is missing or wrong.

use js_sys::{Array, JSON, Reflect};
use wasm_bindgen::JsValue;

/// A parsed JSON value.
pub struct Json(JsValue);

impl Json {
    /// Parse `text`, or say that it is not JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        JSON::parse(text).map(Json).map_err(|_| "the answer is not JSON".to_owned())
    }

    /// The member `key` of an object (`undefined` when absent or not an object).
    pub fn get(&self, key: &str) -> Json {
        let value = if self.0.is_object() { Reflect::get(&self.0, &JsValue::from_str(key)).ok() } else { None };
        Json(value.unwrap_or(JsValue::UNDEFINED))
    }

    /// `key` as a whole number from 0 to 2^53 − 1.
    pub fn whole(&self, key: &str) -> Result<u64, String> {
        const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
        match self.get(key).0.as_f64() {
            Some(n) if (0.0..=MAX_SAFE).contains(&n) && n.fract() == 0.0 => Ok(n as u64),
            _ => Err(format!("`{key}` is not a whole number")),
        }
    }

    /// `key` as a whole number that fits 32 bits.
    pub fn whole32(&self, key: &str) -> Result<u32, String> {
        u32::try_from(self.whole(key)?).map_err(|_| format!("`{key}` is too large"))
    }

    /// `key` as a string.
    pub fn text(&self, key: &str) -> Result<String, String> {
        self.get(key).0.as_string().ok_or_else(|| format!("`{key}` is not a string"))
    }

    /// `key` as a boolean.
    pub fn flag(&self, key: &str) -> Result<bool, String> {
        self.get(key).0.as_bool().ok_or_else(|| format!("`{key}` is not true or false"))
    }

    /// `key` as an array of strings.
    pub fn texts(&self, key: &str) -> Result<Vec<String>, String> {
        let value = self.get(key).0;
        let wrong = || format!("`{key}` is not a list of strings");
        if !Array::is_array(&value) {
            return Err(wrong());
        }
        Array::from(&value).iter().map(|v| v.as_string().ok_or_else(wrong)).collect()
    }
}
