// Each page is its own wasm binary (frontend/src/lib.rs): a visit downloads
// the binary of the page it shows and no other, and the tabs lead between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

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

test('every page fits a 375 px phone: nothing scrolls sideways, wide tables scroll in their own box', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const wide = async (what) => {
      const m = await page.evaluate(() => ({
        doc: document.documentElement.scrollWidth,
        body: document.body.scrollWidth,
        vw: window.innerWidth,
        // A panel clips what overflows it (CSS containment), so content
        // wider than its panel would be cut off rather than widen the page.
        clipped: [...document.querySelectorAll('.panel')]
          .filter((p) => p.scrollWidth > p.clientWidth + 1)
          .map((p) => `${p.getAttribute('aria-label') ?? p.className}: ${p.scrollWidth} > ${p.clientWidth}`),
      }));
      assert.ok(m.doc <= m.vw && m.body <= m.vw, `${what}: the page is ${Math.max(m.doc, m.body)} px wide at ${m.vw} px`);
      assert.deepEqual(m.clipped, [], `${what}: content wider than its panel`);
    };
    // The dashboard with a finished run: its tables and waterfall at their widest.
    await page.goto(`${BASE}/`);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    // Done: Run is pressable again and the results table has its rows.
    await page.waitForFunction(() => {
      const run = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Run');
      return run && !run.disabled && document.querySelectorAll('tr.task').length > 0;
    }, null, { timeout: 60_000 });
    await wide('/ after a run');
    await page.screenshot({ path: `${ARTIFACTS}/phone-dashboard.png`, fullPage: false });
    for (const path of ['/?mode=crawl', '/?mode=jobs', '/?mode=load', '/?mode=history', '/?mode=watches']) {
      await page.goto(`${BASE}${path}`);
      await page.locator('nav.tabs').waitFor({ timeout: 15_000 });
      await page.locator('main .panel').first().waitFor({ timeout: 15_000 });
      await page.waitForTimeout(500);
      await wide(path);
      await page.screenshot({ path: `${ARTIFACTS}/phone-${path.split('=')[1]}.png`, fullPage: false });
    }
    // The mode tabs wrap rather than push the page wider.
    const tabs = await page.locator('nav.tabs').boundingBox();
    assert.ok(tabs.x + tabs.width <= 375, `the tabs end at ${tabs.x + tabs.width} px`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
