// Watches in headless Chromium against the real edge: "Watch these URLs"
// on the dashboard hands its list to the watches page; the form makes a
// watch with a webhook (a loopback receiver that checks the signature); its
// first run appears on the page by itself (the scheduler's alarm), and a
// "Run now" a day later in the demo shop (`day_s`) shows the
// alerts, the signed delivery and one price chart per product; the watch
// is deleted from its page. Every wait is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { launch, BASE, ARTIFACTS } from './browser.mjs';
import { receiver as webhookReceiver } from '../integration/helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function watchDetail(id) {
  return (await fetch(`${BASE}/api/v1/watches/${id}`, { signal: AbortSignal.timeout(10_000) })).json();
}

/** Poll the API until watch `id` holds `pred` (bounded). */
async function until(id, pred, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const d = await watchDetail(id);
    if (pred(d)) return d;
    assert.ok(Date.now() < end, `watch ${id}: ${JSON.stringify(d).slice(0, 400)}`);
    await sleep(250);
  }
}

test('watch the dashboard URLs, see the first run appear by itself, run again, see the alerts, the delivery and the price charts', async () => {
  const receiver = await webhookReceiver();
  const slack = await webhookReceiver();
  const { got } = receiver;
  const hook = receiver.url;
  const urls = Array.from({ length: 8 }, (_, i) => `${BASE}/demo/products/${i + 1}?day_s=2`);
  const browser = await launch();
  let id;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/`);
    await page.getByLabel('URLs, one per line').fill(urls.join('\n'));
    await page.getByRole('button', { name: 'Watch these URLs' }).click();
    await page.waitForURL(/mode=watches/, { timeout: 15_000 });
    const area = page.getByLabel('URLs to watch');
    await page.waitForFunction((n) => document.querySelector('textarea[aria-label="URLs to watch"]')?.value.split('\n').length === n, urls.length, { timeout: 15_000 });
    assert.equal(await area.inputValue(), urls.join('\n'), 'the dashboard list arrives');

    await page.getByLabel('Name', { exact: true }).fill('Shop prices (browser test)');
    await page.getByLabel('Every (minutes)').fill('30');
    await page.getByLabel('Webhook URL', { exact: true }).fill(hook);
    await page.getByLabel('Slack webhook URL').fill(slack.url);
    await page.getByLabel('any price change').check();
    await page.getByRole('button', { name: 'Create watch' }).click();
    const secret = (await page.getByTestId('secret').locator('code').textContent({ timeout: 15_000 })).trim();
    assert.match(secret, /^[0-9a-f]{64}$/, 'the secret is shown once');
    await page.waitForURL(/watch=/, { timeout: 15_000 });
    id = new URL(page.url()).searchParams.get('watch');
    const panel = page.getByRole('region', { name: 'Watch', exact: true });
    await panel.getByTestId('watch-summary').filter({ hasText: '8 URLs · every 30 min' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('watches').locator(`tr[data-watch="${id}"]`, { hasText: 'Shop prices (browser test)' }).waitFor({ timeout: 15_000 });

    // Run 1 starts by itself (due at creation, started by the scheduler's
    // alarm) and appears on the page with nothing pressed; then, the shop's
    // day having rolled, run 2 by hand.
    await page.getByTestId('watch-runs').locator('tbody tr[data-state=done]').first().waitFor({ timeout: 30_000 });
    const first = await until(id, (d) => d.runs.length === 1 && d.runs[0].evaluated);
    assert.equal(first.runs[0].trigger, 'schedule', 'the first run was the schedule\'s');
    const runNow = panel.getByRole('button', { name: 'Run now' });
    await sleep(2500);
    await page.waitForFunction(() => [...document.querySelectorAll('button')].some((b) => b.textContent === 'Run now' && !b.disabled && b.closest('[aria-label=Watch]')), null, { timeout: 15_000 });
    await runNow.click();
    const d = await until(id, (x) => x.runs.length === 2 && x.runs[0].evaluated);
    assert.equal(d.runs[0].trigger, 'manual');
    assert.ok(d.runs[0].alerts.length > 0, 'a day later some prices changed');

    // The alerts table lists exactly the run's alerts.
    const alerts = page.getByTestId('alerts').locator('tbody tr');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=alerts] tbody tr').length === n, d.runs[0].alerts.length, { timeout: 15_000 });
    assert.equal(await alerts.count(), d.runs[0].alerts.length);
    assert.match(await alerts.first().textContent(), /%/, 'a change in percent');

    // The run's changed / unchanged / failed counts, as the API has them.
    const row = page.getByTestId('watch-runs').locator('tbody tr').first();
    for (const k of ['changed', 'unchanged', 'failed']) {
      assert.equal(await row.locator(`td[data-count=${k}]`).textContent(), String(d.runs[0].counts[k]), k);
    }
    assert.equal(d.runs[0].counts.changed + d.runs[0].counts.unchanged + d.runs[0].counts.failed, urls.length);
    // Pages the new day left as they were answered 304 (a watch run revalidates).
    const notModified = await row.locator('td[data-count=not-modified]').textContent();
    assert.ok(notModified.startsWith(String(d.runs[0].counts.not_modified)), notModified);

    // The list shows the ended run and its alert count.
    await page.getByTestId('watches').locator(`tr[data-watch="${id}"]`, { hasText: '· done' })
      .filter({ hasText: String(d.runs[0].alerts.length) }).waitFor({ timeout: 15_000 });

    // One chart per product, two points each.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=price-charts] svg[data-points="2"]').length === 8, null, { timeout: 15_000 });

    // The webhook got one signed delivery, logged on the page.
    await page.getByTestId('deliveries').locator('tr[data-channel=webhook][data-outcome=delivered]').waitFor({ timeout: 30_000 });
    assert.equal(got.length, 1);
    const sig = Object.fromEntries(got[0].headers['fanout-signature'].split(',').map((p) => p.split('=')));
    assert.equal(sig.v1, createHmac('sha256', secret).update(`${sig.t}.${got[0].body}`).digest('hex'));
    assert.equal(JSON.parse(got[0].body).alerts.length, d.runs[0].alerts.length);

    // Slack got the same alerts as a message; "Send a test" sends it a
    // sample and shows the answer beside the channel.
    const channel = page.getByTestId('channels').locator('li[data-channel=slack]');
    await channel.filter({ hasText: 'delivered' }).waitFor({ timeout: 30_000 });
    assert.equal(slack.got.length, 1);
    assert.equal(JSON.parse(slack.got[0].body).text, `Shop prices (browser test): ${d.runs[0].alerts.length} alert${d.runs[0].alerts.length === 1 ? '' : 's'}`);
    await channel.getByRole('button', { name: 'Send a test' }).click();
    await channel.getByTestId('test-answer').filter({ hasText: 'answered 200, delivered' }).waitFor({ timeout: 15_000 });
    assert.equal(slack.got.length, 2);
    assert.match(slack.got[1].body, /a test alert/);
    await page.getByTestId('deliveries').locator('tr[data-channel=slack][data-outcome=delivered]').nth(1).waitFor({ timeout: 15_000 });

    await page.screenshot({ path: `${ARTIFACTS}/watch.png`, fullPage: true });

    // Deleted from its page: gone from the list and the API.
    await panel.getByRole('button', { name: 'delete' }).click();
    await page.getByTestId('watches').locator(`tr[data-watch="${id}"]`).waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal((await fetch(`${BASE}/api/v1/watches/${id}`)).status, 404);
    id = undefined;
    assert.deepEqual(errors, []);
  } finally {
    if (id) await fetch(`${BASE}/api/v1/watches/${id}`, { method: 'DELETE' }).catch(() => {});
    await browser.close();
    await receiver.close();
    await slack.close();
  }
});
