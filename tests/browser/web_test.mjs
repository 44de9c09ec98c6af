// End-to-end test of what users meet: a real muse-node serving the tiny test pipeline on
// 127.0.0.1, the web page driven in Debian's Chromium (headless, through playwright-core), and
// the OpenAI Images API through the official `openai` client.
// Usage: node web_test.mjs MUSE_NODE_BINARY MODEL_DIR
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
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

const width = 32;
const height = 32;
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

async function startNode(port) {
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
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config, null, 2));
  const child = spawn(binary, ['--role=all', '--config', join(folder, 'config.json')],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
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

async function testPage(url) {
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
                                          args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await page.goto(url + '/');
    assert.equal(await page.title(), 'Muse');
    // Usable at phone width: nothing wider than the screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390),
              'the page scrolls sideways at phone width');

    // An empty prompt is refused with a message, and nothing is generated.
    await page.click('#generate');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /enter a prompt/);
    assert.equal(await page.locator('figure').count(), 0);

    // Progress shown is the server's: record every status text the page shows.
    await page.evaluate(() => {
      window.seenStatus = [];
      const status = document.getElementById('status-text');
      new MutationObserver(() => window.seenStatus.push(status.textContent))
        .observe(status, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#prompt', 'a red circle');
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('figure', { timeout: 60000 });
    assert.ok(await page.isHidden('#error'));
    const fast = await imageOf(page, 0);
    assert.deepEqual(fast.size, { width, height });
    assert.match(fast.caption, new RegExp(`${fastSteps} steps`));

    // The toggle changes the step count; a set seed is used and shown.
    await page.check('input[name="quality"][value="quality"]');
    await page.fill('#seed', '7');
    await page.press('#prompt', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('figure').length === 2, null,
                               { timeout: 60000 });
    const quality = await imageOf(page, 0);  // the newest comes first
    assert.deepEqual(quality.size, { width, height });
    assert.match(quality.caption, new RegExp(`seed 7 · ${qualitySteps} steps`));
    assert.equal(quality.download, 'muse-7.png');
    const seen = await page.evaluate(() => window.seenStatus);
    assert.ok(seen.some((s) => new RegExp(`^Step [1-9]\\d* of ${qualitySteps}$`).test(s)),
              'no server progress was shown: ' + JSON.stringify(seen));
  } finally {
    await browser.close();
  }
}

async function imageOf(page, index) {
  const figure = page.locator('figure').nth(index);
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
  const b64 = await client.images.generate({ model: 'muse', prompt: 'a fox', n: 2, size: `${width}x${height}`,
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
  await testPage(node.url);
  console.log('ok - web page: prompt, server progress, toggle, seed, download, empty prompt');
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
