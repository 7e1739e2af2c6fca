// The release bundle each page downloads, from dist/ as `trunk build
// --release` left it: index.html, the stylesheet, and the page's own JS glue
// and wasm (one binary per page, see frontend/src/lib.rs). Raw and gzip -9.
// Standalone: `node bench/bundle.mjs` (after `make build`) prints the table.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const TARGET_KB = 150;

export function bundleSizes(dist = 'dist') {
  const files = readdirSync(dist);
  const one = (re) => {
    const found = files.filter((f) => re.test(f));
    if (found.length !== 1) throw new Error(`expected one file matching ${re} in ${dist}, found ${found}`);
    return found[0];
  };
  const size = (f) => {
    const b = readFileSync(`${dist}/${f}`);
    return { file: f, raw: b.length, gz: gzipSync(b, { level: 9 }).length };
  };
  const common = [size('index.html'), size(one(/^style-.*\.css$/))];
  const page = (name, js, wasm) => {
    const parts = [...common, size(one(js)), size(one(wasm))];
    return { name, parts, raw: parts.reduce((a, p) => a + p.raw, 0), gz: parts.reduce((a, p) => a + p.gz, 0) };
  };
  return [
    page('fan-out dashboard (/)', /^fanout-frontend-[0-9a-f]+\.js$/, /^fanout-frontend-[0-9a-f]+_bg\.wasm$/),
    page('load test (/?mode=load)', /^fanout-load\.js$/, /^fanout-load_bg\.wasm$/),
    page('history (/?mode=history)', /^fanout-history\.js$/, /^fanout-history_bg\.wasm$/),
  ];
}

const kb = (n) => (n / 1024).toFixed(1);

/** Markdown rows: one per page, what a visit to it downloads. */
export function bundleRows(pages = bundleSizes()) {
  return pages.map((p) => {
    const wasm = p.parts[3];
    const verdict = p.gz / 1024 <= TARGET_KB ? 'met' : `missed by ${kb(p.gz - TARGET_KB * 1024)} KB`;
    return `| release bundle of the ${p.name}: HTML + CSS + JS + wasm | ${kb(p.raw)} KB raw, **${kb(p.gz)} KB gzip** (wasm ${kb(wasm.gz)} KB) — target ≤ ${TARGET_KB} KB gzip (${verdict}) |\n`;
  }).join('');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`| figure | value |\n|---|---|\n${bundleRows()}`);
}
