//! The task table: one row per URL, paginated so a 1,000-URL run stays smooth.

use fanout_shared::view::report::{fixed, row_details};
use fanout_shared::view::task::{TaskState, TaskView};
use leptos::prelude::*;

use crate::run::{Row, RunStore};

/// Rows per page. A page's first render is the heaviest work of a run's
/// start: at 100 rows (then 13 effects a row) it took 45–90 ms on the 2-core
/// test machine, so a page holds 50 (BENCHMARKS.md).
const PAGE: usize = 50;

pub(crate) fn fmt_bytes(b: u64) -> String {
    if b >= 1024 * 1024 {
        format!("{} MB", fixed(b as f64 / 1_048_576.0, 1))
    } else if b >= 1024 {
        format!("{} KB", fixed(b as f64 / 1024.0, 1))
    } else {
        format!("{b} B")
    }
}

fn product_cell(v: &TaskView) -> (String, String, String) {
    let Some(p) = &v.product else {
        return (String::new(), String::new(), String::new());
    };
    let name = p.name.as_ref().map(|f| f.value.clone()).unwrap_or_default();
    let price = match (&p.price, &p.currency) {
        (Some(pr), Some(c)) => format!("{} {}", pr.value.amount.as_ref().unwrap_or(&pr.value.raw), c.value),
        (Some(pr), None) => pr.value.raw.clone(),
        _ => String::new(),
    };
    let avail = p.availability.as_ref().map(|f| f.value.replace('_', " ")).unwrap_or_default();
    (name, price, avail)
}

/// One table row, read from the row's own signal in one effect: a change
/// patches the row's text and classes in place. (A signal read per cell made
/// 13 effects a row, and a run's first page of them the longest task after
/// Run was pressed: BENCHMARKS.md.) Text is always rendered as text, never as
/// HTML.
#[component]
fn TaskRow(
    /// The row to show.
    row: Row,
) -> impl IntoView {
    let v = row.view;
    let n = row.id + 1;
    // Hovering a row shows all of it (the cells cut long text short); the
    // text is made when the pointer arrives, not on every change.
    // (`mouseover` comes up from the cell under the pointer, hence `closest`.)
    let details = move |ev: leptos::ev::MouseEvent| {
        if let Ok(Some(tr)) = event_target::<web_sys::Element>(&ev).closest("tr") {
            let _ = tr.set_attribute("title", &v.with_untracked(row_details));
        }
    };
    move || {
        v.with(|t| {
            let state = t.state;
            let (name, price, avail) = product_cell(t);
            let error = match (&t.error, &t.retry_reason, state) {
                (Some((kind, msg)), _, _) => format!("{kind}: {msg}"),
                (None, Some(reason), TaskState::Waiting) => format!("retrying after {reason}"),
                _ => String::new(),
            };
            view! {
                <tr class=format!("task {}", state.slug()) on:mouseover=details>
                    <td class="num">{n}</td>
                    <td><span class=format!("badge {}", state.slug())>{state.label()}</span></td>
                    <td class="url"><a href=t.url.clone() target="_blank" rel="noopener noreferrer">{t.url.clone()}</a></td>
                    <td class="num">{if t.attempt == 0 { String::new() } else { t.attempt.to_string() }}</td>
                    <td class="num">{match t.status {
                        Some(s) if t.not_modified => format!("{s} unchanged"),
                        Some(s) => s.to_string(),
                        None => String::new(),
                    }}</td>
                    <td class="num">{t.ms.map(|m| format!("{m} ms")).unwrap_or_default()}</td>
                    <td class="num">{t.bytes.map(fmt_bytes).unwrap_or_default()}</td>
                    <td class="product">{name}</td>
                    <td class="num">{price}</td>
                    <td>{avail}</td>
                    <td class="error">{error}</td>
                </tr>
            }
        })
    }
}

/// The task table with a state filter and pages.
#[component]
pub fn TaskTable(
    /// The run whose rows to show.
    store: RunStore,
) -> impl IntoView {
    let filter = RwSignal::new(String::from("all"));
    let order = RwSignal::new(String::from("input"));
    // A u64 like the other counters: one signal type fewer in the wasm.
    let page = RwSignal::new(0u64);
    let visible = move || {
        let f = filter.get();
        let o = order.get();
        let mut rows = store.rows.with(|rows| {
            rows.iter().filter(|r| f == "all" || r.view.with(|v| v.state.slug() == f)).copied().collect::<Vec<Row>>()
        });
        // Sorting reads every row, so it follows the run's tick, not each event.
        if o != "input" {
            store.tick.track();
            // One stable sort on one number per order (ties keep the input
            // order): each `sort_by_key` closure is a sort of its own in the wasm.
            let key = |r: &Row| {
                r.view.with_untracked(|v| match o.as_str() {
                    "slowest" => u64::MAX - v.ms.unwrap_or(0),
                    "status" => u64::MAX - u64::from(v.status.unwrap_or(0)),
                    _ => v.state as u64,
                })
            };
            rows.sort_by_cached_key(key);
        }
        rows
    };
    let pages = move || visible().len().div_ceil(PAGE).max(1) as u64;
    let shown = move || {
        let all = visible();
        // At most the last page, which `usize` holds.
        let p = page.get().min(all.len().div_ceil(PAGE).max(1) as u64 - 1) as usize;
        all.into_iter().skip(p * PAGE).take(PAGE).collect::<Vec<Row>>()
    };
    view! {
        <section class="panel table-panel" aria-label="Tasks">
            <div class="table-tools">
                <label>"Show "
                    <select on:change=move |ev| { filter.set(event_target_value(&ev)); page.set(0); } aria-label="Filter by state">
                        <option value="all">"all"</option>
                        {TaskState::ALL.iter().map(|s| view! { <option value=s.slug()>{s.label()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Order "
                    <select on:change=move |ev| { order.set(event_target_value(&ev)); page.set(0); } aria-label="Sort rows">
                        <option value="input">"as given"</option>
                        <option value="slowest">"slowest first"</option>
                        <option value="state">"by state"</option>
                        <option value="status">"by status"</option>
                    </select>
                </label>
                <span class="pager">
                    <button on:click=move |_| page.update(|p| *p = p.saturating_sub(1)) disabled=move || { page.get() == 0 }>"‹ Prev"</button>
                    <span>{move || format!("page {} of {}", page.get().min(pages() - 1) + 1, pages())}</span>
                    <button on:click=move |_| page.update(|p| *p += 1) disabled=move || { page.get() + 1 >= pages() }>"Next ›"</button>
                </span>
            </div>
            <div class="table-scroll">
                <table>
                    <thead><tr>
                        <th>"#"</th><th>"State"</th><th>"URL"</th><th>"Try"</th><th>"Status"</th><th>"Latency"</th>
                        <th>"Bytes"</th><th>"Product"</th><th>"Price"</th><th>"Availability"</th><th>"Error"</th>
                    </tr></thead>
                    <tbody>
                        <For each=shown key=|r| r.id children=|row| view! { <TaskRow row=row/> }/>
                    </tbody>
                </table>
            </div>
        </section>
    }
}
