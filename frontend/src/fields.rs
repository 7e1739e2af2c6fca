//! Form parts the pages share: a number field bounded by the edge's limits,
//! and saving a file.

use fanout_shared::wire::config::Limits;
use leptos::prelude::*;

use crate::api;

/// A number input bound to a signal.
#[component]
pub fn NumberField(
    /// Visible label.
    label: &'static str,
    /// The value.
    value: RwSignal<u64>,
    /// The edge's limits, which bound the value.
    limits: RwSignal<Limits>,
    /// Smallest allowed value.
    min: u64,
    /// Reads the largest allowed value from the limits.
    max: fn(&Limits) -> u64,
    /// Explanation shown on hover.
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label class="field" title=hint>
            <span>{label}</span>
            <input type="number" min=min max=move || limits.with(max) prop:value=move || value.get().to_string()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<u64>() {
                        value.set(v.clamp(min, limits.with_untracked(max).max(min)));
                    }
                }/>
        </label>
    }
}

/// Offer `text` as a file download named `name`.
pub fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(|e| api::js_error(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| api::js_error(&e))?;
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement =
        doc.create_element("a").map_err(|e| api::js_error(&e))?.dyn_into().map_err(|_| "not an anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
