// Each page is its own wasm binary (frontend/src/lib.rs): a visit downloads
// the binary of the page it shows and no other, and the tabs lead between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE } from './browser.mjs';

const PAGES = [
  { path: '/', wasm: /^fanout-frontend-[0-9a-f]+_bg\.wasm$/, ready: (p) => p.getByRole('button', { name: 'Run', exact: true }) },
  { path: '/?mode=crawl', wasm: /^fanout-crawl_bg\.wasm$/, ready: (p) => p.getByRole('button', { name: 'Crawl', exact: true }) },
  { path: '/?mode=jobs', wasm: /^fanout-jobs_bg\.wasm$/, ready: (p) => p.getByRole('heading', { name: 'Jobs' }) },
  { path: '/?mode=load', wasm: /^fanout-load_bg\.wasm$/, ready: (p) => p.getByRole('button', { name: 'Start load test' }) },
  { path: '/?mode=history', wasm: /^fanout-history_bg\.wasm$/, ready: (p) => p.getByRole('heading', { name: 'Saved runs' }) },
];

test('each page downloads only its own wasm binary, and the tabs lead to the others', async () => {
  const browser = await launch();
  try {
    for (const { path, wasm, ready } of PAGES) {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      const fetched = [];
      page.on('request', (r) => {
        const file = new URL(r.url()).pathname.slice(1);
        if (file.endsWith('.wasm')) fetched.push(file);
      });
      await page.goto(`${BASE}${path}`);
      await assert.doesNotReject(ready(page).waitFor({ timeout: 15_000 }), `${path} renders`);
      assert.equal(fetched.length, 1, `${path} fetched ${fetched}`);
      assert.match(fetched[0], wasm, `${path} fetched its own binary`);
      // The active tab is marked for assistive technology too.
      const current = await page.locator('nav.tabs a[aria-current=page]').getAttribute('href');
      assert.equal(current, path);
      assert.deepEqual(errors, []);
      await page.close();
    }
    // Following a tab loads the other page's binary.
    const page = await browser.newPage();
    await page.goto(`${BASE}/`);
    await page.getByRole('link', { name: 'History' }).click();
    await assert.doesNotReject(page.getByRole('heading', { name: 'Saved runs' }).waitFor({ timeout: 15_000 }));
    await page.getByRole('link', { name: 'Load test' }).click();
    await assert.doesNotReject(page.getByRole('button', { name: 'Start load test' }).waitFor({ timeout: 15_000 }));
  } finally {
    await browser.close();
  }
});
