// Background jobs in headless Chromium against the real edge: "Run in
// background" on the dashboard starts a job and opens its page; a reload
// mid-job reattaches and the job finishes; a job is cancelled from the list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

const demo = (n, ms) => Array.from({ length: n }, (_, i) => `${BASE}/demo/products/${(i % 240) + 1}?latency_ms=${ms}&tag=j${i}`).join('\n');

test('run in background, reload mid-job, see it reattach and finish', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/`);
    await page.getByLabel('URLs, one per line').fill(demo(120, 300));
    await page.getByLabel('Concurrency').fill('10');
    await page.getByLabel('Concurrency').dispatchEvent('change');
    await page.getByRole('button', { name: 'Run in background' }).click();
    await page.waitForURL(/mode=jobs&job=/, { timeout: 15_000 });
    const url = page.url();
    const id = new URL(url).searchParams.get('job');
    await page.getByTestId('job-state').waitFor({ timeout: 15_000 });
    // Some URLs finish, then the page is reloaded mid-job.
    await page.waitForFunction(() => /(\d+) \/ 120 finished/.test(document.body.innerText) && Number(document.body.innerText.match(/(\d+) \/ 120 finished/)[1]) >= 10, null, { timeout: 30_000 });
    await page.reload();
    assert.equal(page.url(), url, 'the job link survives a reload');
    // Reattached: the same job fills the same table and ends.
    await page.waitForFunction(() => document.body.innerText.includes('120 / 120 finished'), null, { timeout: 60_000 });
    await page.getByTestId('job-state').filter({ hasText: 'done' }).waitFor({ timeout: 15_000 });
    const rows = await page.locator('table[aria-label] tbody tr, .tasks tbody tr').count();
    assert.ok(rows > 0);
    const state = await (await fetch(`${BASE}/api/v1/jobs/${id}`)).json();
    assert.equal(state.state, 'done');
    assert.equal(state.counts.done, 120);
    await page.screenshot({ path: `${ARTIFACTS}/job.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a running job is cancelled from the jobs list', async () => {
  const urls = demo(200, 500).split('\n');
  const created = await (await fetch(`${BASE}/api/v1/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ urls, concurrency: 2 }),
  })).json();
  const id = created.job_id;
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/?mode=jobs`);
    const row = page.getByRole('table', { name: 'Background jobs' }).locator('tr', { hasText: id });
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('table', { name: 'Background jobs' }).locator('tr[data-state=cancelled]', { hasText: id }).waitFor({ timeout: 15_000 });
    const state = await (await fetch(`${BASE}/api/v1/jobs/${id}`)).json();
    assert.equal(state.state, 'cancelled');
    assert.ok(state.counts.cancelled > 0);
  } finally {
    await browser.close();
  }
});
