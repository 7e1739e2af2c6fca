// End to end: the real page, served by `wrangler dev`, in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

const finishedText = (page) => page.getByTestId('finished').textContent();

test('a first visit can run the demo batch to the end', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Every line of the edge's streams decodes (summaries included).
    page.on('console', (m) => { if (m.text().includes('undecodable')) errors.push(m.text()); });
    await page.goto(`${BASE}/`);
    // The default input is the demo shop's 200 products.
    await assert.doesNotReject(page.getByText('200 URLs').first().waitFor({ timeout: 15_000 }));
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    // Rows appear at once and update live.
    await page.locator('tbody tr').first().waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('200 / 200'),
      null,
      { timeout: 90_000 },
    );
    assert.match(await finishedText(page), /^200 \/ 200 finished/);
    const counts = await page.locator('.counts').textContent();
    assert.match(counts, /200 done · 0 failed · 0 cancelled/);
    assert.equal(await page.getByTestId('in-flight').textContent(), '0', 'the in-flight gauge returns to 0');
    // The effective concurrency never exceeded the 50 asked for, though the
    // browser split the batch over several chunk requests.
    const peak = Number((await page.locator('.gauge').textContent()).match(/peak (\d+)/)[1]);
    assert.ok(peak > 1 && peak <= 50, `peak in flight ${peak}`);
    // Every visible row is done.
    const badges = await page.locator('tbody .badge').allTextContents();
    assert.equal(badges.length, 50, 'one page of rows');
    assert.ok(badges.every((b) => b === 'done'), `states: ${[...new Set(badges)]}`);
    // Product data from the demo pages is shown, as text.
    const names = await page.locator('tbody td.product').allTextContents();
    assert.ok(names.filter((n) => n.trim().length > 3).length === 50, 'every row shows its product name');
    // Sorting: slowest first puts the largest latency on top.
    await page.getByLabel('Sort rows').selectOption('slowest');
    const lat = (await page.locator('.table-panel tbody tr td:nth-child(6)').allTextContents()).map((t) => parseInt(t, 10));
    assert.ok(lat.length === 50 && lat.every((v, i) => i === 0 || lat[i - 1] >= v), `sorted latencies: ${lat.slice(0, 5)}`);
    await page.getByLabel('Sort rows').selectOption('input');
    // Hovering a row shows all of it: the whole URL, outcome and product.
    const first = page.locator('.table-panel tbody tr').first();
    await first.hover();
    const details = await first.getAttribute('title');
    assert.match(details, /^#1 http:\/\/\S+\/demo\/products\/1\?\S+\ndone · attempt 1 · HTTP 200 · \d+ ms · \d+ bytes\nproduct: \S/);
    // The waterfall draws at least one bar per URL.
    const bars = Number(await page.locator('svg.waterfall').getAttribute('data-bars'));
    assert.ok(bars >= 200, `${bars} waterfall bars`);
    assert.equal(await page.locator('svg.waterfall rect.bar.ok').count(), 200);
    // Each bar carries its tooltip: URL, attempt, span on the axis and status.
    const bar = page.locator('svg.waterfall rect.bar.ok').first();
    assert.match(await bar.locator('title').textContent(), /^http:\/\/\S+\/demo\/products\/1\?\S+ · attempt 1 · \d+–\d+ ms · HTTP 200$/);
    // The CSV download has a header and 200 data rows, with product fields.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'CSV' }).click()]);
    const csv = await (await download.createReadStream()).toArray().then((b) => Buffer.concat(b).toString('utf8'));
    const lines = csv.trim().split('\n');
    assert.equal(lines.length, 201);
    assert.match(lines[0], /^id,url,state,/);
    assert.ok(lines.slice(1).every((l) => l.includes(',done,')));
    await page.waitForTimeout(300); // let the progress bar's transition settle
    await page.screenshot({ path: `${ARTIFACTS}/demo-run.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('cancel mid-run leaves the rest cancelled and the in-flight gauge at 0', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${BASE}/`);
    const urls = Array.from({ length: 60 }, (_, i) => `${BASE}/demo/products/${i + 1}?latency_ms=${i < 5 ? 50 : 4000}`).join('\n');
    await page.locator('textarea').fill(urls);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    // Wait for the fast ones to finish and the slow ones to be in flight.
    await page.waitForFunction(() => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('5 / 60'), null, { timeout: 30_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=in-flight]')?.textContent) > 0);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('60 / 60'), null, { timeout: 10_000 });
    const counts = await page.locator('.counts').textContent();
    assert.match(counts, /5 done · 0 failed · 55 cancelled/);
    assert.equal(await page.getByTestId('in-flight').textContent(), '0');
    await page.getByRole('button', { name: 'Run', exact: true }).waitFor({ state: 'visible' });
    assert.equal(await page.getByRole('button', { name: 'Run', exact: true }).isEnabled(), true, 'ready for another run');
    await page.screenshot({ path: `${ARTIFACTS}/cancelled-run.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});

test('bad input is flagged before the run, and an empty list gets a readable error', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
    await page.goto(`${BASE}/`);
    await page.locator('textarea').fill(`${BASE}/demo/products/1\n\nftp://files.example/x\n${BASE}/demo/products/1\nnot a url`);
    await page.getByText('1 URLs').first().waitFor();
    assert.match(await page.locator('.list-info').textContent(), /1 duplicates removed · 1 blank lines skipped/);
    const invalid = await page.locator('ul.invalid li').allTextContents();
    assert.equal(invalid.length, 2);
    assert.match(invalid[0], /line 3: ftp:\/\/files.example\/x — scheme ftp: is not http or https/);
    await page.locator('textarea').fill('');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    assert.match(await page.getByRole('alert').textContent(), /at least one http\(s\) URL/);
    await page.screenshot({ path: `${ARTIFACTS}/bad-input-375px.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});

test('the configuration lives in the page URL and survives a reload', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/`);
    const list = [1, 2, 3].map((i) => `${BASE}/demo/products/${i}`).join('\n');
    await page.locator('textarea').fill(list);
    const conc = page.getByLabel('Concurrency');
    await conc.fill('7');
    await conc.dispatchEvent('change');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('3 / 3'));
    assert.match(page.url(), /[?&]c=7(&|$)/);
    // The form's bounds are the edge's limits, read from /api/v1/config.
    const { limits } = await (await page.request.get(`${BASE}/api/v1/config`)).json();
    assert.equal(await conc.getAttribute('max'), String(limits.max_concurrency));
    assert.equal(await page.getByLabel('Timeout (ms)').getAttribute('max'), String(limits.max_timeout_ms));
    assert.equal(await page.getByLabel('Run deadline (ms)').getAttribute('max'), String(limits.max_deadline_ms));
    await page.reload();
    assert.equal(await page.getByLabel('Concurrency').inputValue(), '7');
    assert.equal(await page.locator('textarea').inputValue(), list);
    await page.getByText('3 URLs').first().waitFor();
  } finally {
    await browser.close();
  }
});

test('compare mode measures a speedup over the sequential run', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    await page.goto(`${BASE}/`);
    const urls = Array.from({ length: 40 }, (_, i) => `${BASE}/demo/products/${i + 1}?latency_ms=150`).join('\n');
    await page.locator('textarea').fill(urls);
    await page.getByRole('button', { name: 'Compare with sequential' }).click();
    const speedup = page.getByTestId('speedup');
    await speedup.waitFor({ timeout: 60_000 });
    const x = Number((await speedup.textContent()).replace('×', ''));
    assert.ok(x > 1, `speedup ${x}`);
    const text = await page.locator('section.compare').textContent();
    assert.match(text, /Sequential \(concurrency 1\): 20 URLs/);
    assert.match(text, /extrapolated to .* for all 40 URLs \(estimate\)/);
    assert.equal(await page.locator('svg.waterfall').count(), 2, 'both waterfalls are shown');
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${ARTIFACTS}/compare.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});

test('a URL list can be loaded from a text file', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/`);
    const list = [5, 6, 7, 6].map((i) => `${BASE}/demo/products/${i}`).join('\n');
    await page.locator('input[type=file]').setInputFiles({ name: 'urls.txt', mimeType: 'text/plain', buffer: Buffer.from(list) });
    await page.getByText('3 URLs').first().waitFor();
    assert.equal(await page.locator('textarea').inputValue(), list);
    assert.match(await page.locator('.list-info').textContent(), /1 duplicates removed/);
  } finally {
    await browser.close();
  }
});

test('a sitemap index fills the list through the edge', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/`);
    await page.getByRole('button', { name: 'Load sitemap' }).click();
    await page.getByText('240 URLs from 4 sitemap file(s)').waitFor({ timeout: 15_000 });
    await page.getByText('240 URLs').first().waitFor();
    const lines = (await page.locator('textarea').inputValue()).split('\n');
    assert.equal(lines.length, 240);
    assert.equal(lines[239], `${BASE}/demo/products/240`);
    // A sitemap the edge cannot read: its refusal (status, kind, message) is shown next to the form.
    await page.getByLabel('Or a sitemap URL').fill(`${BASE}/demo/no-such-sitemap.xml`);
    await page.getByRole('button', { name: 'Load sitemap' }).click();
    await page.getByRole('alert').getByText(/^sitemap: 502 \(sitemap_unavailable\): .*no-such-sitemap\.xml/).waitFor({ timeout: 15_000 });
  } finally {
    await browser.close();
  }
});

test('every option in the form is sent with the run: backoff and deadline too', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const bodies = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/runs') && r.method() === 'POST') bodies.push(JSON.parse(r.postData())); });
    const urls = [`${BASE}/demo/products/1`, `${BASE}/demo/products/2`].join('\n');
    const q = new URLSearchParams({ c: '2', ph: '2', t: '4000', a: '2', x: '0', b: '123', m: '4567', d: '89000', s: '0', urls });
    await page.goto(`${BASE}/?${q}`);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('2 / 2'), null, { timeout: 30_000 });
    assert.equal(bodies.length, 1);
    const b = bodies[0];
    assert.deepEqual(
      [b.concurrency, b.per_host, b.timeout_ms, b.extract, b.retry, b.deadline_ms],
      [2, 2, 4000, false, { max_attempts: 2, base_ms: 123, max_ms: 4567 }, 89000],
    );
    assert.match(b.run_id, /^r[0-9a-f]{19}$/);
    assert.equal(b.run_offset, 0);
    // "Save to history" was off in the link: the run is not kept, and the page says so.
    assert.equal(b.save, false);
    assert.equal(await page.getByLabel('Save to history').isChecked(), false);
    await page.getByTestId('saved').getByText('Not saved in the history.').waitFor({ timeout: 10_000 });
    assert.equal((await fetch(`${BASE}/api/v1/runs/${b.run_id}`)).status, 404);
  } finally {
    await browser.close();
  }
});
