// End-to-end test of what users meet: a real muse-node serving the tiny test pipeline on
// 127.0.0.1, the web page driven in Debian's Chromium (headless, through playwright-core), and
// the OpenAI Images API through the official `openai` client.
// Usage: node web_test.mjs MUSE_NODE_BINARY MODEL_DIR
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import OpenAI from 'openai';

const [binary, modelDir] = process.argv.slice(2);
if (!binary || !modelDir) {
  console.error('usage: node web_test.mjs MUSE_NODE_BINARY MODEL_DIR');
  process.exit(2);
}
const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
assert.ok(chromiumPath, 'Chromium is not installed (tools/install-deps.sh installs it)');

// The configured default size; tiny-sd's native size is 32x32, so the page's default choice
// can only come from the config.
const width = 32;
const height = 24;
const fastSteps = 3;
// Enough steps that the page is certainly following the job's events before it ends.
const qualitySteps = 150;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Width and height from a PNG's IHDR chunk.
function pngSize(bytes) {
  assert.equal(bytes.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'not a PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

// An RGB PNG of `bits` (8 or 16) per sample: four coloured quadrants.
function encodePng(w, h, bits = 8) {
  const chunk = (type, data) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const framed = Buffer.alloc(8 + typed.length);
    framed.writeUInt32BE(data.length, 0);
    typed.copy(framed, 4);
    framed.writeUInt32BE(crc32(typed), 4 + typed.length);
    return framed;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header[8] = bits;
  header[9] = 2;  // RGB
  const bytesPerSample = bits / 8;
  const stride = 1 + w * 3 * bytesPerSample;
  const raw = Buffer.alloc(h * stride);  // filter byte 0 on each row
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const rgb = [x < w / 2 ? 220 : 30, y < h / 2 ? 200 : 40, (x + y) % 256];
      for (let c = 0; c < 3; c++)
        for (let b = 0; b < bytesPerSample; b++)
          raw[y * stride + 1 + (x * 3 + c) * bytesPerSample + b] = rgb[c];
    }
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', header),
                        chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// `apiKey`: the server asks for it on every API route (auth.api_keys_env).
async function startNode(port, apiKey = '') {
  const folder = mkdtempSync(join(tmpdir(), 'muse-browser-'));
  const config = {
    gateway: { host: '127.0.0.1', http_port: port, http_threads: 2, request_timeout_s: 60,
               max_prompt_chars: 200, public_url: `http://127.0.0.1:${port}` },
    gpu_nodes: [{ name: 'local', devices: ['cpu'], slots_per_device: 1 }],
    model: { path: modelDir, scheduler: 'ddim', fast_steps: fastSteps, quality_steps: qualitySteps,
             width, height, max_images_per_request: 2, intra_op_threads: 1 },
    batching: { max_batch_size: 4, max_wait_ms: 50, max_queue: 100, step_level: true },
    autoscale: { min_workers: 1, max_workers: 1 },
  };
  const env = Object.assign({}, process.env);
  if (apiKey) {
    config.auth = { api_keys_env: 'MUSE_BROWSER_TEST_KEYS' };
    env.MUSE_BROWSER_TEST_KEYS = apiKey;
  }
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config, null, 2));
  const child = spawn(binary, ['--role=all', '--config', join(folder, 'config.json')],
                      { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  // The node must not outlive the test, however the test ends.
  const killNode = () => { if (child.exitCode === null) child.kill('SIGKILL'); };
  process.on('exit', killNode);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { killNode(); process.exit(1); });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error('muse-node exited early:\n' + log);
    try {
      const ready = await fetch(url + '/readyz');
      if (ready.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('muse-node not ready in 60 s:\n' + log);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      const result = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 15000))]);
      if (!result) child.kill('SIGKILL');
      rmSync(folder, { recursive: true, force: true });
      return result;
    },
  };
}

async function testPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
  try {
    await page.goto(url + '/');
    assert.equal(await page.title(), 'Muse');
    // Usable at phone width: nothing wider than the screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390),
              'the page scrolls sideways at phone width');

    // An empty prompt is refused with a message, and nothing is generated.
    await page.click('#generate');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /enter a prompt/);
    assert.equal(await page.locator('#grid figure').count(), 0);

    // Progress shown is the server's: record every status text the page shows.
    await watchJobs(page);
    await page.fill('#prompt', 'a red circle');
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('#grid figure', { timeout: 60000 });
    assert.ok(await page.isHidden('#error'));
    const fast = await imageOf(page, 0);
    assert.deepEqual(fast.size, { width, height });
    assert.match(fast.caption, new RegExp(`${fastSteps} steps`));

    // The toggle changes the step count; a set seed is used and shown.
    await page.check('input[name="quality"][value="quality"]');
    await page.fill('#seed', '7');
    await page.press('#prompt', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 2, null,
                               { timeout: 60000 });
    const quality = await imageOf(page, 0);  // the newest comes first
    assert.deepEqual(quality.size, { width, height });
    assert.match(quality.caption, new RegExp(`seed 7 · ${qualitySteps} steps`));
    assert.equal(quality.download, 'muse-7.png');
    const seen = await page.evaluate(() => window.seenStatus);
    assert.ok(seen.some((s) => new RegExp(`^Step [1-9]\\d* of ${qualitySteps}$`).test(s)),
              'no server progress was shown: ' + JSON.stringify(seen));
    // Live previews came with the steps: PNGs at the latent's size, the image's scaled down.
    const previews = await page.evaluate(() => window.seenPreviews);
    assert.ok(previews.length > 0, 'no live preview was shown');
    for (const size of previews)
      assert.ok(size.width < width && size.width * height === size.height * width,
                'a preview of ' + JSON.stringify(size));
    assert.equal(await page.locator('#jobs .job').count(), 0, 'a finished job stays listed');

    // Small images are drawn with square pixels when enlarged; the longest seed fits its box.
    assert.equal(await page.$eval('#grid figure img', (img) => getComputedStyle(img).imageRendering),
                 'pixelated');
    await page.fill('#seed', '9007199254740991');
    assert.ok(await page.$eval('#seed', (box) => box.scrollWidth <= box.clientWidth),
              'a 16-digit seed does not fit its box');
    // The icon is the server's own, small, and named by the page.
    assert.equal(await page.getAttribute('link[rel="icon"]', 'href'), '/favicon.svg');
    const icon = await fetch(url + '/favicon.svg');
    assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
    assert.ok((await icon.text()).length < 1024);
  } finally {
    await page.close();
  }
}

// Records in window.seenStatus every text the jobs' status lines show, and in
// window.seenPreviews the size of every live preview the rows show.
async function watchJobs(page) {
  await page.evaluate(() => {
    window.seenStatus = [];
    window.seenPreviews = [];
    const seenSources = new Set();
    const jobs = document.getElementById('jobs');
    new MutationObserver(() => {
      for (const status of jobs.querySelectorAll('.job-status'))
        if (window.seenStatus[window.seenStatus.length - 1] !== status.textContent)
          window.seenStatus.push(status.textContent);
      for (const image of jobs.querySelectorAll('.job-preview')) {
        if (!image.src.startsWith('data:image/png;base64,') || seenSources.has(image.src)) continue;
        seenSources.add(image.src);
        const probe = new Image();
        probe.onload = () =>
          window.seenPreviews.push({ width: probe.naturalWidth, height: probe.naturalHeight });
        probe.src = image.src;
      }
    }).observe(jobs, { childList: true, characterData: true, subtree: true,
                       attributes: true, attributeFilter: ['src'] });
  });
}

// Two jobs at once from the page, each with its own row; the first cancelled while it runs.
async function testQueueAndCancel(browser, url) {
  const page = await browser.newPage();
  try {
    const jobs = recordJobs(page);
    const deletes = [];
    page.on('request', (request) => {
      if (request.method() === 'DELETE') deletes.push(new URL(request.url()).pathname);
    });
    const created = [];
    page.on('response', async (response) => {
      if (response.request().method() === 'POST' &&
          new URL(response.url()).pathname === '/api/v1/jobs')
        created.push(await response.json());
    });
    await page.goto(url + '/');
    await sizeOptions(page);
    await watchJobs(page);
    await page.check('input[name="quality"][value="quality"]');
    await page.fill('#prompt', 'the first long one');
    await page.press('#prompt', 'Enter');
    // The form stays usable while a job runs: a second one is queued behind it.
    assert.ok(await page.isEnabled('#generate') && await page.isEnabled('#prompt'));
    await page.fill('#prompt', 'the second long one');
    await page.press('#prompt', 'Enter');
    assert.equal(await page.locator('#jobs .job').count(), 2);
    assert.deepEqual(await page.$$eval('#jobs .job-prompt', (p) => p.map((e) => e.textContent)),
                     ['the first long one', 'the second long one']);
    const first = page.locator('#jobs .job').first();
    await first.locator('.job-status', { hasText: /^Step [1-9]/ }).waitFor({ timeout: 30000 });
    await first.locator('.job-cancel').click();
    await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 1 &&
                               document.querySelectorAll('#jobs .job').length === 0, null,
                               { timeout: 60000 });
    assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
    const card = await imageOf(page, 0);
    assert.match(card.caption, /the second long one/);
    assert.match(card.caption, new RegExp(`${qualitySteps} steps`));
    // Every job was queued first, its place in the line from the server.
    const seen = await page.evaluate(() => window.seenStatus);
    assert.ok(seen.some((s) => /^Queued: (next in line|\d+ ahead)$/.test(s)), JSON.stringify(seen));
    assert.equal(jobs.length, 2);
    // The server gave each job its place: 1 when it is next, 2 when the first had not started.
    assert.equal(created.length, 2);
    for (const job of created) assert.ok([1, 2].includes(job.queue_position), JSON.stringify(job));
    assert.equal(created[0].queue_position, 1);
    assert.equal(deletes.length, 1, JSON.stringify(deletes));
    const cancelled = await (await fetch(url + deletes[0])).json();
    assert.equal(cancelled.status, 'cancelled');
  } finally {
    await page.close();
  }
}

// The advanced panel's values reach the request and the cards; the cards give them back, as a
// curl command too; the history survives a reload, and is deleted and cleared.
async function testAdvancedAndHistory(browser, url) {
  const page = await browser.newPage();
  try {
    const jobs = recordJobs(page);
    await page.goto(url + '/');
    await sizeOptions(page);
    assert.ok(await page.isHidden('#history-bar'));
    await page.click('#advanced summary');
    const samplers = await page.$$eval('#sampler option', (o) => o.map((e) => e.value));
    assert.ok(samplers.length >= 2 && samplers[0] === '', JSON.stringify(samplers));
    const sampler = samplers[samplers.length - 1];
    await page.fill('#negative', 'blurry');
    await page.fill('#steps', '4');
    await page.fill('#guidance', '3.5');
    await page.selectOption('#sampler', sampler);
    await page.fill('#count', '2');
    await page.fill('#seed', '11');
    await generateOn(page, 'two with settings', 2);
    const sent = jobs[0];
    assert.deepEqual([sent.negative_prompt, sent.steps, sent.guidance_scale, sent.scheduler, sent.n,
                      sent.seed, sent.width, sent.height],
                     ['blurry', 4, 3.5, sampler, 2, 11, width, height]);
    const seeds = [];
    for (const i of [0, 1]) {
      const card = await imageOf(page, i);
      assert.match(card.caption, /two with settings/);
      assert.match(card.caption, /4 steps/);
      assert.match(card.caption, new RegExp(`${width}x${height} · ${sampler} · guidance 3.5`));
      assert.match(card.caption, /not: blurry/);
      seeds.push(Number(/seed (\d+)/.exec(card.caption)[1]));
    }
    assert.deepEqual(seeds.sort(), [11, 12]);

    // Kept across a reload; the form is empty again, and a card fills it.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 2);
    assert.match(await page.textContent('#history-note'), /2 images, kept in this browser/);
    assert.equal(await page.inputValue('#negative'), '');
    const newest = page.locator('#grid figure').first();
    const newestSeed = /seed (\d+)/.exec(await newest.locator('figcaption').textContent())[1];
    await newest.locator('.reuse').click();
    assert.deepEqual([await page.inputValue('#prompt'), await page.inputValue('#negative'),
                      await page.inputValue('#steps'), await page.inputValue('#guidance'),
                      await page.inputValue('#sampler'), await page.inputValue('#seed'),
                      await page.inputValue('#count')],
                     ['two with settings', 'blurry', '4', '3.5', sampler, newestSeed, '1']);
    assert.ok(await page.$eval('#advanced', (d) => d.open));

    // Copy as curl: the request it shows is one the server takes, for the same image.
    await newest.locator('.copy-curl').click();
    const command = await newest.locator('.curl-text').inputValue();
    assert.ok(command.startsWith(`curl -s ${url}/api/v1/generate`), command);
    const json = /-d '([^']*)'/.exec(command);
    assert.ok(json, command);
    const body = JSON.parse(json[1]);
    assert.deepEqual(body, { prompt: 'two with settings', quality: 'fast', negative_prompt: 'blurry',
                             steps: 4, guidance_scale: 3.5, scheduler: sampler, seed: Number(newestSeed),
                             width, height });
    const again = await fetch(url + '/api/v1/generate', { method: 'POST', body: json[1],
                                                          headers: { 'Content-Type': 'application/json' } });
    assert.equal(again.status, 200);
    assert.equal((await again.json()).images[0].seed, Number(newestSeed));

    // Delete one: gone after a reload too. Clear: none left.
    await newest.locator('.delete').click();
    assert.equal(await page.locator('#grid figure').count(), 1);
    await page.reload();
    await page.waitForSelector('#history-bar:not([hidden])');
    assert.equal(await page.locator('#grid figure').count(), 1);
    page.once('dialog', (dialog) => dialog.accept());
    await page.click('#clear-history');
    assert.equal(await page.locator('#grid figure').count(), 0);
    assert.ok(await page.isHidden('#history-bar'));
    await page.reload();
    await sizeOptions(page);
    await page.waitForSelector('#grid[data-history="loaded"]', { state: 'attached' });
    assert.equal(await page.locator('#grid figure').count(), 0);
  } finally {
    await page.close();
  }
}

// Errors in plain words, and the API key asked for when the server wants one.
async function testErrors(browser, url) {
  const page = await browser.newPage();
  try {
    await page.goto(url + '/');
    await sizeOptions(page);
    const submit = async (prompt) => {
      await page.fill('#prompt', prompt);
      await page.press('#prompt', 'Enter');
      await page.waitForSelector('#error:not([hidden])');
      const text = await page.textContent('#error');
      await page.waitForFunction(() => document.querySelectorAll('#jobs .job').length === 0);
      return text;
    };
    await page.route('**/api/v1/jobs', (route) => route.abort('connectionrefused'));
    assert.match(await submit('unreachable'), /^The server cannot be reached/);
    await page.unroute('**/api/v1/jobs');
    await page.route('**/api/v1/jobs', (route) => route.fulfill({ status: 503, json: {
      error: { code: 'shutting_down', message: 'the server is shutting down' } } }));
    const stopping = await submit('stopping');
    assert.match(stopping, /server is stopping/);
    assert.doesNotMatch(stopping, /restart/);
    await page.unroute('**/api/v1/jobs');
    await page.route('**/api/v1/jobs', (route) => route.fulfill({ status: 429,
      headers: { 'Retry-After': '3' }, json: { error: { code: 'queue_full', message: 'full' } } }));
    assert.match(await submit('busy'), /queue is full; try again in 3 seconds/);
    await page.unroute('**/api/v1/jobs');

    // A key asked for on 401, kept, and sent with the retried request.
    const keys = [];
    await page.route('**/api/v1/jobs', (route) => {
      const key = route.request().headers()['x-api-key'];
      keys.push(key || '');
      if (!key) return route.fulfill({ status: 401, json: { error: { code: 'unauthorized', message: 'no key' } } });
      return route.continue();
    });
    const asked = [];
    page.on('dialog', (dialog) => { asked.push(dialog.message()); dialog.accept('k-123'); });
    await generateOn(page, 'with a key', 1);
    assert.deepEqual(keys, ['', 'k-123']);
    assert.equal(asked.length, 1);
    assert.match(asked[0], /needs an API key/);
    assert.equal(await page.evaluate(() => localStorage.getItem('muse-api-key')), 'k-123');
  } finally {
    await page.close();
  }
}

// A server that wants an API key: the page asks once, then sizes, jobs, events and Cancel all
// carry it, and a reload needs no asking.
async function testApiKey(browser) {
  const node = await startNode(await freePort(), 'browser-key');
  try {
    const page = await browser.newPage();
    try {
      const asked = [];
      page.on('dialog', (dialog) => { asked.push(dialog.message()); dialog.accept('browser-key'); });
      await page.goto(node.url + '/');
      assert.deepEqual(await page.$$eval('#size option', (o) => o.map((e) => e.value)), ['']);
      await generateOn(page, 'with the real key', 1);
      assert.equal(asked.length, 1, JSON.stringify(asked));
      await sizeOptions(page);  // the stats, read with the key once it is known
      await page.check('input[name="quality"][value="quality"]');  // 150 steps
      await page.fill('#prompt', 'cancelled with the key');
      await page.press('#prompt', 'Enter');
      const row = page.locator('#jobs .job').first();
      await row.locator('.job-status', { hasText: /^Step [1-9]/ }).waitFor({ timeout: 30000 });
      await row.locator('.job-cancel').click();
      await page.waitForFunction(() => document.querySelectorAll('#jobs .job').length === 0, null,
                                 { timeout: 30000 });
      assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
      assert.equal(await page.locator('#grid figure').count(), 1);
      await page.reload();
      await sizeOptions(page);
      await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 1);
      assert.equal(asked.length, 1, 'asked again after a reload');
    } finally {
      await page.close();
    }
  } finally {
    await node.stop();
  }
}

// Examples: the built-in model is said to draw emoji names only; clicking one fills the prompt.
async function testExamples(browser, url) {
  const page = await browser.newPage();
  try {
    await page.route('**/api/v1/stats', (route) => route.fulfill({ json: { ready: true, model: {
      name: 'muse-tiny', default_size: { width: 64, height: 64 },
      limits: { min_size: 16, max_size: 128, size_multiple: 16, default_width: 64,
                default_height: 64, max_pixels: 128 * 128, max_steps: 150,
                schedulers: ['ddim', 'euler'] } } } }));
    await page.goto(url + '/');
    await page.waitForSelector('#examples:not([hidden])');
    assert.match(await page.textContent('#examples-note'), /built-in model draws emoji from their names only/);
    await page.locator('#examples .example', { hasText: 'red apple' }).click();
    assert.equal(await page.inputValue('#prompt'), 'red apple');
  } finally {
    await page.close();
  }
}

// Every POST /api/v1/jobs body the page sends, parsed, in order.
function recordJobs(page) {
  const bodies = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/v1/jobs')
      bodies.push(JSON.parse(request.postData()));
  });
  return bodies;
}

// The size menu's options once the page knows the model's limits.
async function sizeOptions(page) {
  await page.waitForSelector('#size option:not([value=""])', { state: 'attached' });
  return page.$$eval('#size option', (options) => options.map(
    (o) => ({ value: o.value, text: o.textContent, selected: o.selected })));
}

async function generateOn(page, prompt, figures) {
  await page.fill('#prompt', prompt);
  await page.press('#prompt', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#grid figure').length === n,
                             figures, { timeout: 60000 });
  assert.ok(await page.isHidden('#error'), await page.textContent('#error'));
}

function fitsLimits(limits, w, h) {
  const m = limits.size_multiple;
  return w >= limits.min_size && h >= limits.min_size && w <= limits.max_size &&
         h <= limits.max_size && w % m === 0 && h % m === 0 && w * h <= limits.max_pixels;
}

// The menu offered for limits served to the page in place of the real model's.
async function menuFor(browser, url, limits, defaultSize) {
  const page = await browser.newPage();
  try {
    await page.route('**/api/v1/stats', (route) => route.fulfill(
      { json: { ready: true, model: { name: 'stand-in', limits, default_size: defaultSize } } }));
    await page.goto(url + '/');
    const options = await sizeOptions(page);
    for (const o of options) {
      const [w, h] = o.value.split('x').map(Number);
      assert.ok(fitsLimits(limits, w, h), o.value + ' is offered outside ' + JSON.stringify(limits));
    }
    return options;
  } finally {
    await page.close();
  }
}

async function testSizes(browser, url) {
  const stats = await (await fetch(url + '/api/v1/stats')).json();
  const limits = stats.model.limits;
  // tiny-sd: native 32x32, sizes in multiples of 4; every size expected below fits its limits.
  assert.equal(limits.size_multiple, 4, JSON.stringify(limits));
  assert.equal(limits.default_width, 32);
  assert.equal(limits.default_height, 32);
  assert.ok(limits.max_size >= 48 && limits.max_pixels >= 48 * 20, JSON.stringify(limits));
  assert.deepEqual(stats.model.default_size, { width, height });

  const page = await browser.newPage();
  try {
    const jobs = recordJobs(page);
    await page.goto(url + '/');
    const options = await sizeOptions(page);
    // The config's default, then SDXL's buckets scaled from 1024 to 32 and rounded to 4.
    assert.deepEqual(options.map((o) => o.value), ['32x24', '32x32', '36x28', '28x36', '40x28',
                                                   '28x40', '44x24', '24x44', '48x20', '20x48']);
    assert.deepEqual(options.filter((o) => o.selected).map((o) => o.text), ['32x24 (default)']);
    await page.selectOption('#size', '40x28');
    await generateOn(page, 'a wide one', 1);
    assert.deepEqual(jobs.map((j) => [j.width, j.height]), [[40, 28]]);
    assert.deepEqual((await imageOf(page, 0)).size, { width: 40, height: 28 });
  } finally {
    await page.close();
  }

  // A 1024 model: SDXL's buckets, less those past max_size.
  const sdxl = await menuFor(browser, url, { min_size: 32, max_size: 1344, size_multiple: 32,
                                             default_width: 1024, default_height: 1024,
                                             max_pixels: 1344 * 1344 }, { width: 1024, height: 1024 });
  assert.deepEqual(sdxl.map((o) => o.text), ['1024x1024 (default)', '1152x896', '896x1152',
                                             '1216x832', '832x1216', '1344x768', '768x1344']);
  // A 512 model in multiples of 64 whose memory budget allows 270000 pixels: the ratios scaled
  // to 512 and rounded (608x416 -> 640x448), less those past max_pixels.
  const small = await menuFor(browser, url, { min_size: 64, max_size: 1024, size_multiple: 64,
                                              default_width: 512, default_height: 512,
                                              max_pixels: 270000 }, { width: 512, height: 512 });
  assert.deepEqual(small.map((o) => o.value),
                   ['512x512', '576x448', '448x576', '768x320', '320x768']);
}

// The PNG inside a data: URL.
function dataUrlPng(src) {
  assert.ok(src.startsWith('data:image/png;base64,'), src.slice(0, 40));
  return Buffer.from(src.slice('data:image/png;base64,'.length), 'base64');
}

async function testImageToImage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
  try {
    const jobs = recordJobs(page);
    await page.goto(url + '/');
    await sizeOptions(page);
    assert.ok(await page.isHidden('#strength-row'));

    // A PNG of a size the model takes is sent as it is, with the strength set on the slider.
    const start = encodePng(32, 24);
    await page.setInputFiles('#init-image', { name: 'start.png', mimeType: 'image/png',
                                              buffer: start });
    await page.waitForSelector('#init-preview:not([hidden])');
    assert.equal(await page.textContent('#init-note'), '32x24');
    assert.ok(await page.isDisabled('#size'), 'the image sets the size');
    assert.equal(await page.textContent('#strength-value'), '0.80');
    await page.focus('#strength');
    for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowLeft');  // 0.8 - 6 x 0.05
    assert.equal(await page.textContent('#strength-value'), '0.50');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390),
              'the image controls make the page scroll sideways at phone width');
    await generateOn(page, 'the same, redrawn', 1);
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].init_image, start.toString('base64'));
    assert.equal(jobs[0].strength, 0.5);
    assert.ok(!('width' in jobs[0]) && !('height' in jobs[0]), JSON.stringify(Object.keys(jobs[0])));
    const redrawn = await imageOf(page, 0);
    assert.deepEqual(redrawn.size, { width: 32, height: 24 });
    assert.match(redrawn.caption, / 1 step(?!s)/);  // int(3 fast steps x 0.5) ran

    // Another size: redrawn by the page at the nearest size the model takes, and said so.
    await page.setInputFiles('#init-image', { name: 'odd.png', mimeType: 'image/png',
                                              buffer: encodePng(50, 30) });
    await page.waitForFunction(() => document.getElementById('init-note').textContent !== '32x24');
    assert.equal(await page.textContent('#init-note'), 'resized to 52x32 (was 50x30)');
    assert.deepEqual(pngSize(dataUrlPng(await page.getAttribute('#init-thumb', 'src'))),
                     { width: 52, height: 32 });
    await generateOn(page, 'the odd one', 2);
    assert.deepEqual(pngSize(Buffer.from(jobs[1].init_image, 'base64')), { width: 52, height: 32 });
    assert.deepEqual((await imageOf(page, 0)).size, { width: 52, height: 32 });

    // A 16-bit PNG (the server reads 8 bits) of a good size: redrawn at its own size.
    const deep = encodePng(32, 24, 16);
    await page.setInputFiles('#init-image', { name: 'deep.png', mimeType: 'image/png',
                                              buffer: deep });
    await page.waitForFunction(() => document.getElementById('init-note').textContent === '32x24');
    const sent = dataUrlPng(await page.getAttribute('#init-thumb', 'src'));
    assert.deepEqual(pngSize(sent), { width: 32, height: 24 });
    assert.equal(sent[24], 8, 'the PNG sent has 8 bits per sample');

    // A JPEG dropped onto the form: sent as a PNG of its size.
    await page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 32;
      canvas.height = 32;
      const context = canvas.getContext('2d');
      context.fillStyle = '#3070d0';
      context.fillRect(0, 0, 32, 32);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
      const data = new DataTransfer();
      data.items.add(new File([blob], 'photo.jpg', { type: 'image/jpeg' }));
      document.getElementById('form').dispatchEvent(
        new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => document.getElementById('init-note').textContent === '32x32');
    await generateOn(page, 'the dropped one', 3);
    assert.deepEqual(pngSize(Buffer.from(jobs[2].init_image, 'base64')), { width: 32, height: 32 });
    assert.equal(jobs[2].strength, 0.5);
    assert.deepEqual((await imageOf(page, 0)).size, { width: 32, height: 32 });

    // Removed: text to image again, at the size the menu shows.
    await page.click('#init-remove');
    assert.ok(await page.isHidden('#init-preview'));
    assert.ok(await page.isHidden('#strength-row'));
    assert.ok(await page.isEnabled('#size'));
    await generateOn(page, 'from nothing', 4);
    assert.ok(!('init_image' in jobs[3]) && !('strength' in jobs[3]), JSON.stringify(jobs[3]));
    assert.deepEqual([jobs[3].width, jobs[3].height], [width, height]);
  } finally {
    await page.close();
  }

  // A large photo for a 1024 model: scaled down into max_pixels, rounded to 32, cropped.
  const page2 = await browser.newPage();
  try {
    await page2.route('**/api/v1/stats', (route) => route.fulfill({ json: { ready: true, model: {
      name: 'stand-in', default_size: { width: 1024, height: 1024 },
      limits: { min_size: 32, max_size: 2048, size_multiple: 32, default_width: 1024,
                default_height: 1024, max_pixels: 1024 * 1024 } } } }));
    await page2.goto(url + '/');
    await sizeOptions(page2);
    await page2.setInputFiles('#init-image', { name: 'photo.png', mimeType: 'image/png',
                                               buffer: encodePng(3000, 2000) });
    await page2.waitForSelector('#init-preview:not([hidden])', { timeout: 30000 });
    // sqrt(1024^2 / (3000 x 2000)) scales it to 1254x836: 1248x832 in multiples of 32.
    assert.equal(await page2.textContent('#init-note'), 'resized to 1248x832 (was 3000x2000)');
    assert.deepEqual(pngSize(dataUrlPng(await page2.getAttribute('#init-thumb', 'src'))),
                     { width: 1248, height: 832 });
  } finally {
    await page2.close();
  }
}

async function imageOf(page, index) {
  const figure = page.locator('#grid figure').nth(index);
  const src = await figure.locator('img').getAttribute('src');
  assert.ok(src.startsWith('data:image/png;base64,'));
  const bytes = Buffer.from(src.slice('data:image/png;base64,'.length), 'base64');
  return {
    size: pngSize(bytes),
    caption: await figure.locator('figcaption').textContent(),
    download: await figure.locator('a').getAttribute('download'),
  };
}

async function testOpenAI(url) {
  const client = new OpenAI({ apiKey: 'not-checked', baseURL: url + '/v1' });
  const b64 = await client.images.generate({ model: 'tiny-sd', prompt: 'a fox', n: 2, size: `${width}x${height}`,
                                             response_format: 'b64_json', quality: 'standard' });
  assert.equal(b64.data.length, 2);
  for (const item of b64.data) assert.deepEqual(pngSize(Buffer.from(item.b64_json, 'base64')), { width, height });

  const linked = await client.images.generate({ prompt: 'a fox', response_format: 'url', quality: 'hd' });
  assert.ok(linked.data[0].url.startsWith(url + '/api/v1/images/'));
  const fetched = await fetch(linked.data[0].url);
  assert.equal(fetched.headers.get('content-type'), 'image/png');
  assert.deepEqual(pngSize(Buffer.from(await fetched.arrayBuffer())), { width, height });

  await assert.rejects(client.images.generate({ prompt: 'a fox', size: 'huge' }), (error) => {
    assert.ok(error instanceof OpenAI.BadRequestError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.param, 'size');
    return true;
  });
}

// Sum of every "steps_saved" in the stats JSON (one per worker).
function stepsSaved(stats) {
  if (Array.isArray(stats)) return stats.reduce((sum, v) => sum + stepsSaved(v), 0);
  if (stats && typeof stats === 'object')
    return Object.entries(stats).reduce(
      (sum, [k, v]) => sum + (k === 'steps_saved' && typeof v === 'number' ? v : stepsSaved(v)), 0);
  return 0;
}

// An async job followed over server-sent events, cancelled after its first step: the events end
// with "cancelled" and the worker's stats count the steps it did not run.
async function testCancel(url) {
  const before = stepsSaved(await (await fetch(url + '/api/v1/stats')).json());
  const created = await fetch(url + '/api/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'a long one', steps: 150 }),
  });
  const job = await created.json();
  assert.equal(created.status, 202, JSON.stringify(job));
  const events = await fetch(url + job.urls.events);
  assert.equal(events.headers.get('content-type'), 'text/event-stream');
  const reader = events.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let cancelled = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (!cancelled && text.includes('event: progress')) {
      cancelled = true;
      const answer = await fetch(url + job.urls.self, { method: 'DELETE' });
      assert.equal(answer.status, 202);
    }
  }
  assert.ok(cancelled, 'no progress event came: ' + text);
  assert.match(text, /event: cancelled\n/);
  const shown = await (await fetch(url + job.urls.self)).json();
  assert.equal(shown.status, 'cancelled');
  // Workers report their counters periodically: wait for the next report.
  let after = before;
  for (const start = Date.now(); after <= before && Date.now() - start < 10000;) {
    await new Promise((r) => setTimeout(r, 200));
    after = stepsSaved(await (await fetch(url + '/api/v1/stats')).json());
  }
  assert.ok(after > before, `steps_saved did not grow: ${before} -> ${after}; ` +
            JSON.stringify(await (await fetch(url + '/api/v1/stats')).json()));
}

const node = await startNode(await freePort());
let failed = false;
try {
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
                                          args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    await testPage(browser, node.url);
    console.log('ok - web page: prompt, server progress, toggle, seed, download, empty prompt, icon');
    await testSizes(browser, node.url);
    console.log('ok - web page: the size menu offers the model\'s sizes and sends the chosen one');
    await testImageToImage(browser, node.url);
    console.log('ok - web page: image to image picked or dropped, strength, resized to fit');
    await testQueueAndCancel(browser, node.url);
    console.log('ok - web page: two jobs at once, queue position, the first cancelled');
    await testAdvancedAndHistory(browser, node.url);
    console.log('ok - web page: advanced settings sent and shown, reused, curl, history kept, deleted, cleared');
    await testErrors(browser, node.url);
    console.log('ok - web page: unreachable, stopping, queue full, the API key asked for');
    await testExamples(browser, node.url);
    console.log('ok - web page: examples of what the built-in model draws');
    await testApiKey(browser);
    console.log('ok - web page: a server with an API key: asked once, sent with every call');
  } finally {
    await browser.close();
  }
  await testOpenAI(node.url);
  console.log('ok - OpenAI Images API through the openai client: b64_json, url, errors');
  await testCancel(node.url);
  console.log('ok - job events and DELETE: cancelled at the next step, steps_saved counted');
} catch (error) {
  failed = true;
  console.error('FAILED:', error);
  console.error('muse-node log:\n' + node.log());
} finally {
  const result = await node.stop();
  if (!failed && (!result || result.code !== 0)) {
    failed = true;
    console.error('muse-node did not stop cleanly:', result, '\n' + node.log());
  }
}
process.exit(failed ? 1 : 0);
