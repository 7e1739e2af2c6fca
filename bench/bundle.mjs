// The release bundle each page downloads, from dist/ as `trunk build
// --release` left it: index.html, the stylesheet, and the page's own JS glue
// and wasm (one binary per page, see frontend/src/lib.rs). Raw and gzip -9.
// `node bench/bundle.mjs` (after `make build`; `make bench` runs it) rewrites
// the "bundle" section of BENCHMARKS.md; `--print` only prints it; `--check`
// (run by the README's test command) fails when a first visit, the
// dashboard, downloads more than the 160 KB gzip budget (150 until console_error_panic_hook came back, #27). Sizes, not times:
// the same sources and tools give the same bytes on any machine.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { writeSection } from './common.mjs';

export const TARGET_KB = 160;

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
    const [html, css, glue, bin] = [...common, size(one(js)), size(one(wasm))];
    const parts = { html, css, glue, bin };
    const all = Object.values(parts);
    return { name, ...parts, raw: all.reduce((a, p) => a + p.raw, 0), gz: all.reduce((a, p) => a + p.gz, 0) };
  };
  return [
    page('fan-out dashboard `/` (a first visit)', /^fanout-frontend-[0-9a-f]+\.js$/, /^fanout-frontend-[0-9a-f]+_bg\.wasm$/),
    page('crawl `/?mode=crawl`', /^fanout-crawl\.js$/, /^fanout-crawl_bg\.wasm$/),
    page('jobs `/?mode=jobs`', /^fanout-jobs\.js$/, /^fanout-jobs_bg\.wasm$/),
    page('load test `/?mode=load`', /^fanout-load\.js$/, /^fanout-load_bg\.wasm$/),
    page('history `/?mode=history`', /^fanout-history\.js$/, /^fanout-history_bg\.wasm$/),
  ];
}

const kb = (n) => (n / 1024).toFixed(1);

/** The section: one row per page, what a visit to it downloads. */
export function bundleSection(pages = bundleSizes()) {
  let md = '<!-- bench:bundle:start -->\n## Frontend bundle, per page\n\n';
  md += `Reproduce: \`make build && node bench/bundle.mjs\` (${new Date().toISOString().slice(0, 10)}). `;
  md += 'Each page is its own wasm binary, and a visit downloads only its own: index.html, the stylesheet, the JS glue and the wasm, sizes with gzip -9. ';
  md += 'The HTML and the stylesheet are shared, so a visit to a second page costs its JS and wasm only.\n\n';
  md += '| page | wasm gzip | JS gzip | CSS + HTML gzip | **total gzip** | total raw | target ≤ 160 KB gzip |\n|---|---|---|---|---|---|---|\n';
  for (const p of pages) {
    const verdict = p.gz / 1024 <= TARGET_KB ? 'met' : `missed by ${kb(p.gz - TARGET_KB * 1024)} KB`;
    md += `| ${p.name} | ${kb(p.bin.gz)} KB | ${kb(p.glue.gz)} KB | ${kb(p.css.gz + p.html.gz)} KB | **${kb(p.gz)} KB** | ${kb(p.raw)} KB | ${verdict} |\n`;
  }
  return `${md}<!-- bench:bundle:end -->\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const pages = bundleSizes();
  const md = bundleSection(pages);
  if (process.argv.includes('--check')) {
    const first = pages[0];
    const verdict = `${first.name}: ${kb(first.gz)} KB gzip (wasm ${kb(first.bin.gz)}, JS ${kb(first.glue.gz)}, CSS ${kb(first.css.gz)}, HTML ${kb(first.html.gz)}), budget ${TARGET_KB} KB`;
    if (first.gz > TARGET_KB * 1024) {
      console.error(`over budget: ${verdict}`);
      process.exit(1);
    }
    console.log(`within budget: ${verdict}`);
  } else if (process.argv.includes('--print')) process.stdout.write(md);
  else {
    writeSection('bundle', md);
    console.log('wrote the bundle section of BENCHMARKS.md');
  }
}
