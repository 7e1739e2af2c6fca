//! What every page shares: the shell (header with the three modes, footer),
//! the page URL (origin, query string), and the browser's URL check.

use leptos::prelude::*;

/// The page's own origin, e.g. `http://127.0.0.1:8787`.
pub(crate) fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The page URL's query string, `?` included (empty when there is none).
pub(crate) fn page_query() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

/// One raw (undecoded) value of the page URL's query string: for the plain
/// values the page writes itself, such as the mode and a run id.
pub(crate) fn page_param(key: &str) -> Option<String> {
    page_query()
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

/// Show `query` (without `?`) in the address bar, without a history entry,
/// so reloading or sharing the page keeps what it shows.
pub(crate) fn set_page_query(query: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("?{query}")));
    }
}

/// Hand `req` to another page through the tab's session storage under
/// `key`, then open `to` ("Run in background", "Watch these URLs"): a list
/// may be too long for a link, and the page handing over then carries none
/// of the other page's code.
pub(crate) fn hand_over(req: &fanout_shared::wire::protocol::RunRequest, key: &str, to: &str) -> Result<(), String> {
    let handed = || -> Option<()> {
        let json = serde_json::to_string(req).ok()?;
        let w = web_sys::window()?;
        w.session_storage().ok()??.set_item(key, &json).ok()?;
        w.location().assign(to).ok()
    };
    handed().ok_or_else(|| "could not hand the run over to the other page (session storage)".to_owned())
}

/// What [`hand_over`] left under `key`, taken (once).
pub(crate) fn take_handed(key: &str) -> Option<String> {
    let storage = web_sys::window()?.session_storage().ok().flatten()?;
    let json = storage.get_item(key).ok().flatten()?;
    let _ = storage.remove_item(key);
    Some(json)
}

/// Whether a line is an absolute http(s) URL, by the browser's own parser.
pub(crate) fn check_url(line: &str) -> Result<(), String> {
    let url = web_sys::Url::new(line).map_err(|_| "not a URL".to_owned())?;
    match url.protocol().as_str() {
        "http:" | "https:" if !url.hostname().is_empty() => Ok(()),
        "http:" | "https:" => Err("no host".to_owned()),
        other => Err(format!("scheme {other} is not http or https")),
    }
}

/// Which page a build shows: each is its own wasm binary (`src/main.rs`,
/// `src/bin/fanout-crawl.rs`, `src/bin/fanout-jobs.rs`, `src/bin/fanout-load.rs`,
/// `src/bin/fanout-history.rs`, `src/bin/fanout-watches.rs`), so a first visit downloads only the
/// dashboard. `index.html`'s loader picks the binary from `?mode=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The fan-out dashboard (no `mode`).
    FanOut,
    /// `?mode=crawl`.
    Crawl,
    /// `?mode=jobs` (or a job's link, `/?job=ID`).
    Jobs,
    /// `?mode=load`.
    Load,
    /// `?mode=history`.
    History,
    /// `?mode=watches`.
    Watches,
}

/// Where the browser keeps the API token (`localStorage`).
const TOKEN_KEY: &str = "fanout.api_token";

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The API token this browser keeps for the edge, if any.
pub fn api_token() -> Option<String> {
    local()?.get_item(TOKEN_KEY).ok().flatten().filter(|t| !t.is_empty())
}

fn keep_token(token: Option<&str>) {
    if let Some(s) = local() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

/// When the edge's config says its API needs a token: a form to enter it
/// (kept in this browser, sent as `Authorization: Bearer`), or, once kept,
/// a way to forget it. Reloads the page after either, so every request goes
/// out with (or without) it.
#[component]
fn TokenBar() -> impl IntoView {
    let required = RwSignal::new(false);
    let kept = RwSignal::new(api_token().is_some());
    let typed = RwSignal::new(String::new());
    leptos::task::spawn_local(async move {
        if let Ok(resp) = gloo_net::http::Request::get("/api/v1/config").send().await
            && let Ok(text) = resp.text().await
        {
            required.set(text.contains("\"token_required\":true"));
        }
    });
    let reload = || {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = typed.get_untracked();
        if !t.trim().is_empty() {
            keep_token(Some(t.trim()));
            kept.set(true);
            reload();
        }
    };
    let forget = move |_| {
        keep_token(None);
        kept.set(false);
        reload();
    };
    view! {
        {move || (required.get() && !kept.get()).then(|| view! {
            <form class="panel token" aria-label="API token" on:submit=save>
                <p>"This Fanout is closed: its API needs the token its owner set (" <code>"wrangler secret put API_TOKEN"</code> "). It is kept in this browser and sent with every request."</p>
                <label class="field wide"><span>"API token"</span>
                    <input type="password" aria-label="API token" autocomplete="off" prop:value=move || typed.get()
                        on:input=move |ev| typed.set(event_target_value(&ev))/></label>
                <button class="primary" type="submit">"Use this token"</button>
            </form>
        })}
        {move || kept.get().then(|| view! {
            <p class="note token-kept">"Using the API token kept in this browser · "
                <button class="link" on:click=forget>"forget it"</button></p>
        })}
    }
}

/// The page shell: header with the modes as links (each a page load
/// of its own binary), the token bar when the API needs one, the page
/// itself, footer.
#[component]
pub fn Shell(
    /// The page shown, marked in the tabs.
    page: Page,
    /// The page's view.
    children: Children,
) -> impl IntoView {
    let tab = move |p: Page| (page == p).then_some("page");
    view! {
        <header class="top">
            <h1>"Fanout"</h1>
            <p class="tagline">"Fetch hundreds of pages at once, and watch what concurrency buys."</p>
            <nav class="tabs" aria-label="Mode">
                <a href="/" class:active=page == Page::FanOut aria-current=tab(Page::FanOut)>"Fan-out"</a>
                <a href="/?mode=crawl" class:active=page == Page::Crawl aria-current=tab(Page::Crawl)>"Crawl"</a>
                <a href="/?mode=jobs" class:active=page == Page::Jobs aria-current=tab(Page::Jobs)>"Jobs"</a>
                <a href="/?mode=load" class:active=page == Page::Load aria-current=tab(Page::Load)>"Load test"</a>
                <a href="/?mode=watches" class:active=page == Page::Watches aria-current=tab(Page::Watches)>"Watches"</a>
                <a href="/?mode=history" class:active=page == Page::History aria-current=tab(Page::History)>"History"</a>
            </nav>
            <TokenBar/>
        </header>
        {children()}
        <footer class="foot">"Fanout · "<a href="/demo/">"demo shop"</a>" · "<a href="/api/v1/config">"edge config"</a></footer>
    }
}
