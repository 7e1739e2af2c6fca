//! The waterfall: one bar per attempt on a shared time axis, like a
//! browser's network panel, redrawn on the run's tick rather than on every
//! event so a 1,000-URL run stays smooth.

use fanout_shared::view::report::{axis_end, bars_svg, fixed, secs, waterfall};
use fanout_shared::view::task::TaskView;
use leptos::prelude::*;

use crate::run::RunStore;

/// An SVG coordinate, to a hundredth of a unit.
fn px(v: f64) -> String {
    fixed(v, 2)
}

/// Width of the drawing in SVG units; it scales to the panel.
const WIDTH: f64 = 1000.0;

/// The waterfall of the current run.
#[component]
pub fn Waterfall(
    /// The run to draw.
    store: RunStore,
    /// The panel's heading.
    #[prop(default = "Waterfall")]
    title: &'static str,
) -> impl IntoView {
    let drawing = move || {
        store.tick.get();
        let now = store.elapsed.get_untracked();
        // Every row's view, borrowed, not copied: a redraw every 250 ms of
        // a 1,000-URL run would otherwise clone every URL and product.
        let guards: Vec<_> = store.rows.with_untracked(|rows| rows.iter().map(|r| r.view.read_untracked()).collect());
        let views: Vec<&TaskView> = guards.iter().map(|g| &**g).collect();
        if views.is_empty() {
            return None;
        }
        let axis = axis_end(&views, now);
        let row_h = (640.0 / views.len() as f64).clamp(1.5, 10.0);
        let height = row_h * views.len() as f64;
        let bars = waterfall(&views, now, axis);
        let bar_count = bars.len();
        let tick_label =
            |ms: f64| if axis < 4000 { format!("{} ms", fixed(ms, 0)) } else { format!("{} s", fixed(ms / 1000.0, 1)) };
        let ticks: Vec<(f64, String)> =
            (0..=4).map(|i| (f64::from(i) / 4.0, tick_label(axis as f64 * f64::from(i) / 4.0))).collect();
        Some(view! {
            <svg class="waterfall" viewBox=format!("0 0 {} {}", fixed(WIDTH, 0), fixed(height + 18.0, 2)) preserveAspectRatio="none"
                role="img" aria-label=format!("Waterfall of {} URLs over {}", views.len(), secs(axis))
                data-bars=bar_count>
                {ticks.into_iter().map(|(x, label)| view! {
                    <line class="tick" x1=px(x * WIDTH) x2=px(x * WIDTH) y1="0" y2=px(height)></line>
                    <text class="tick-label" x=px(x * WIDTH) y=px(height + 14.0) text-anchor={if x >= 1.0 { "end" } else { "start" }}>{label}</text>
                }).collect_view()}
                <g class="bars" inner_html=bars_svg(&bars, WIDTH, row_h)></g>
            </svg>
        })
    };
    view! {
        <section class="panel waterfall-panel" aria-label=title>
            <h2>{title}</h2>
            <p class="legend">
                <span class="key ok"></span>"done " <span class="key retried"></span>"retried attempt "
                <span class="key wait"></span>"retry wait " <span class="key failed"></span>"failed "
                <span class="key running"></span>"in flight " <span class="key cancelled"></span>"cancelled"
            </p>
            {move || drawing().into_any()}
        </section>
    }
}
