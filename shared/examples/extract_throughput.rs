//! Native extraction throughput.
//!
//!     cargo run --release -p fanout-shared --features extract --example extract_throughput
//!
//! Pages: the real 900 KB shop page from extruct's samples, a ~100 KB demo
//! page (a demo product padded with the `huge_kb` knob's filler), and a plain
//! 10 KB demo page. Each is extracted whole and in 16 KB chunks (as it
//! arrives from the network); medians of 15 runs. The chunked/whole ratio
//! shows what streaming costs. Then, for the 10 KB page, where its time
//! goes: building the extractor, feeding it the page, and finishing it (the
//! JSON-LD and the product), each timed apart over 2,000 pages.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use fanout_shared::demo::{DemoKnobs, page_with_knobs, product};
use fanout_shared::extract::{Extractor, extract};

const ROUNDS: usize = 15;

fn median<F: Fn()>(f: F) -> f64 {
    let mut t: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[ROUNDS / 2]
}

fn main() {
    let real = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extruct/misc__opengraph_ns_product_test.html"),
    )
    .expect("fixture");
    let p = product(7).expect("demo product");
    let url = "http://shop.test/demo/products/7";
    let typical = page_with_knobs(&p, url, &DemoKnobs { huge_kb: 100, ..DemoKnobs::default() }, "").into_bytes();
    let small = page_with_knobs(&p, url, &DemoKnobs::default(), "").into_bytes();
    // `-- --json`: one JSON line for bench/native.mjs instead of the table.
    let json = std::env::args().any(|a| a == "--json");
    let mut rows = Vec::new();
    if !json {
        println!(
            "{:<28} {:>9} {:>11} {:>11} {:>9} {:>8}",
            "page", "bytes", "whole MB/s", "16K MB/s", "ms/page", "product"
        );
    }
    for (key, name, page) in [
        ("real", "real shop page (extruct)", &real),
        ("padded", "demo page padded to 100 KB", &typical),
        ("demo", "demo page", &small),
    ] {
        let whole = median(|| {
            black_box(extract(black_box(page)));
        });
        let chunked = median(|| {
            let mut x = Extractor::new();
            for c in page.chunks(16 * 1024) {
                x.feed(c);
            }
            black_box(x.finish());
        });
        let mb = page.len() as f64 / 1e6;
        let found = extract(page).and_then(|p| p.name.map(|n| n.value)).is_some();
        rows.push(serde_json::json!({
            "key": key, "bytes": page.len(), "whole_mb_s": mb / whole, "chunked_mb_s": mb / chunked,
            "ms_per_page": chunked * 1e3, "product": found,
        }));
        if !json {
            println!(
                "{:<28} {:>9} {:>11.1} {:>11.1} {:>9.3} {:>8}",
                name,
                page.len(),
                mb / whole,
                mb / chunked,
                chunked * 1e3,
                if found { "yes" } else { "no" }
            );
        }
    }
    if json {
        println!("{}", serde_json::json!({ "rounds": ROUNDS, "pages": rows }));
    } else {
        steps(&small);
    }
}

/// Building, feeding and finishing an extractor, each timed apart.
fn steps(page: &[u8]) {
    const N: u32 = 2000;
    let (mut build, mut feed, mut finish) = (0.0, 0.0, 0.0);
    for _ in 0..N {
        let t0 = Instant::now();
        let mut x = Extractor::with(true, None);
        let t1 = Instant::now();
        x.feed(black_box(page));
        let t2 = Instant::now();
        black_box(x.finish_page(None));
        let t3 = Instant::now();
        build += (t1 - t0).as_secs_f64();
        feed += (t2 - t1).as_secs_f64();
        finish += (t3 - t2).as_secs_f64();
    }
    let us = |s: f64| s * 1e6 / f64::from(N);
    println!("demo page, per page: build {:.1} µs, feed {:.1} µs, finish {:.1} µs", us(build), us(feed), us(finish));
}
