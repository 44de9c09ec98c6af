'use strict';
// The Muse web page: each Generate submits an async job (several may wait at once), follows its
// server-sent events (read through fetch, so an API key can travel in a header) with its queue
// position and steps, and can cancel it. Finished images become cards kept in the browser
// (IndexedDB) across reloads. The size menu, samplers and the image to start from follow the
// served model (GET /api/v1/stats).

const form = document.getElementById('form');
const promptBox = document.getElementById('prompt');
const seedBox = document.getElementById('seed');
const negativeBox = document.getElementById('negative');
const stepsBox = document.getElementById('steps');
const guidanceBox = document.getElementById('guidance');
const samplerMenu = document.getElementById('sampler');
const countBox = document.getElementById('count');
const advanced = document.getElementById('advanced');
const errorBox = document.getElementById('error');
const jobList = document.getElementById('jobs');
const grid = document.getElementById('grid');
const historyBar = document.getElementById('history-bar');
const historyNote = document.getElementById('history-note');
const clearButton = document.getElementById('clear-history');
const examples = document.getElementById('examples');
const examplesNote = document.getElementById('examples-note');
const exampleList = document.getElementById('example-list');
const sizeMenu = document.getElementById('size');
const fileInput = document.getElementById('init-image');
const preview = document.getElementById('init-preview');
const thumb = document.getElementById('init-thumb');
const initNote = document.getElementById('init-note');
const removeButton = document.getElementById('init-remove');
const strengthRow = document.getElementById('strength-row');
const strengthHint = document.getElementById('strength-hint');
const strength = document.getElementById('strength');
const strengthValue = document.getElementById('strength-value');

const messages = {
  invalid_request: 'Please check the request',
  invalid_json: 'The request could not be read',
  unauthorized: 'This server needs an API key, and none was accepted. Reload the page to enter one',
  too_many_jobs: 'The server has too many images waiting; please try again in a minute',
  no_worker: 'No model is ready yet; please try again shortly',
  not_ready: 'No model is ready yet; please try again shortly',
  shutting_down: 'The server is stopping and takes no new images',
  timeout: 'The image took too long and was stopped; please try again',
  cancelled: 'The image was cancelled',
  payload_too_large: 'The prompt is too long',
  unreachable: 'The server cannot be reached: check that it is running and the network is up',
  lost: 'The connection to the server was lost before the image was finished',
};

// The served model: {name, limits, defaultSize} once /api/v1/stats names it, else null.
let model = null;
// The image to start from: {file, base64, width, height} once read, else null.
let initImage = null;
let imageToken = 0;  // the latest image picked: an older one still being read is dropped

function apiKey() { return localStorage.getItem('muse-api-key') || ''; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h['X-API-Key'] = key;
  return h;
}

// `code` from the server's error (or 'unreachable', 'lost'); `retryAfter` in seconds.
function errorText(code, message, status, retryAfter) {
  let known = messages[code];
  if (code === 'payload_too_large' && initImage) known = 'The image is too large for this server';
  if (code === 'queue_full') {
    const wait = retryAfter > 0 ? retryAfter : 5;
    known = 'The server\u2019s queue is full; try again in ' + wait +
            (wait === 1 ? ' second' : ' seconds');
  }
  let text = known ? known : 'Something went wrong';
  if (message && code === 'invalid_request') text += ': ' + message;
  else if (!known && message) text += ': ' + message;
  if (status) text += ' (' + status + ')';
  return text;
}

function showError(code, message, status, retryAfter) {
  errorBox.textContent = errorText(code, message, status, retryAfter);
  errorBox.dataset.code = code || '';
  errorBox.hidden = false;
}

function hideError() {
  errorBox.hidden = true;
  errorBox.dataset.code = '';
}

// ---- history: finished images, kept in IndexedDB ----

// Each record: {key, created, png_base64, seed, steps, width, height, prompt, params}, `params`
// being the request's fields (less the init image) that made it.
let database = null;
function openHistory() {
  return new Promise((resolve) => {
    if (!window.indexedDB) return resolve(null);
    const request = indexedDB.open('muse', 1);
    request.onupgradeneeded = () =>
      request.result.createObjectStore('images', { keyPath: 'key', autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);  // private windows may refuse: no history then
  });
}

function historyCall(mode, call) {
  return new Promise((resolve, reject) => {
    if (!database) return resolve(null);
    const transaction = database.transaction('images', mode);
    const request = call(transaction.objectStore('images'));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

function updateHistoryBar() {
  const count = grid.querySelectorAll('figure').length;
  historyBar.hidden = count === 0;
  historyNote.textContent = count + (count === 1 ? ' image' : ' images') +
                            (database ? ', kept in this browser' : ' (not kept: storage is off)');
}

async function loadHistory() {
  database = await openHistory();
  const records = (await historyCall('readonly', (store) => store.getAll())) || [];
  records.sort((a, b) => a.key - b.key);
  for (const record of records) addCard(record);
  updateHistoryBar();
  grid.dataset.history = 'loaded';
}

async function keepImage(record) {
  const figure = addCard(record);
  updateHistoryBar();
  try {
    const key = await historyCall('readwrite', (store) => store.add(record));
    if (key !== null) figure.dataset.key = key;
  } catch (error) {
    showError('', 'the image could not be kept in this browser: ' + error.message);
  }
}

async function deleteCard(figure) {
  const key = Number(figure.dataset.key);
  figure.remove();
  updateHistoryBar();
  if (figure.dataset.key) await historyCall('readwrite', (store) => store.delete(key));
}

clearButton.addEventListener('click', async () => {
  if (!window.confirm('Delete every image kept in this browser?')) return;
  grid.replaceChildren();
  updateHistoryBar();
  await historyCall('readwrite', (store) => store.clear());
});

// ---- cards ----

function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }

// What a card says of its settings, beyond prompt, seed and steps.
function describe(record) {
  const p = record.params;
  const parts = [record.width + 'x' + record.height];
  if (p.scheduler) parts.push(p.scheduler);
  if (p.guidance_scale !== undefined) parts.push('guidance ' + p.guidance_scale);
  if (p.strength !== undefined) parts.push('from an image, strength ' + p.strength);
  if (p.negative_prompt) parts.push('not: ' + p.negative_prompt);
  return parts.join(' \u00b7 ');
}

function shellQuote(text) { return "'" + String(text).replace(/'/g, "'\\''") + "'"; }

// The same request as a curl command for POST /api/v1/generate, this image's seed and n = 1.
// An image to start from is sent as a file part (start.png stands for it).
function curlFor(record) {
  const fields = Object.assign({}, record.params, { seed: record.seed });
  delete fields.n;
  const url = location.origin + '/api/v1/generate';
  const lines = ['curl -s ' + url];
  if (apiKey()) lines.push('-H "X-API-Key: $MUSE_API_KEY"');
  if (fields.strength !== undefined) {
    for (const [name, value] of Object.entries(fields)) lines.push('-F ' + shellQuote(name + '=' + value));
    lines.push('-F init_image=@start.png');
  } else {
    lines.push("-H 'Content-Type: application/json'");
    lines.push('-d ' + shellQuote(JSON.stringify(fields)));
  }
  return lines.join(' \\\n  ') +
         " \\\n  | python3 -c 'import base64,json,sys; sys.stdout.buffer.write(" +
         "base64.b64decode(json.load(sys.stdin)[\"images\"][0][\"png_base64\"]))' > muse-" +
         record.seed + '.png';
}

// Puts a card's settings back into the form (the image to start from is not kept).
function reuse(record) {
  const p = record.params;
  promptBox.value = record.prompt;
  negativeBox.value = p.negative_prompt || '';
  stepsBox.value = p.steps !== undefined ? p.steps : '';
  guidanceBox.value = p.guidance_scale !== undefined ? p.guidance_scale : '';
  samplerMenu.value = p.scheduler || '';
  countBox.value = 1;
  seedBox.value = record.seed;
  form.quality.value = p.quality || 'fast';
  if (p.width && p.height && !initImage) {
    const value = p.width + 'x' + p.height;
    if (![...sizeMenu.options].some((o) => o.value === value)) sizeMenu.append(new Option(value, value));
    sizeMenu.value = value;
  }
  if (p.negative_prompt || p.steps !== undefined || p.guidance_scale !== undefined || p.scheduler)
    advanced.open = true;
  promptBox.focus();
}

function addCard(record) {
  const figure = document.createElement('figure');
  if (record.key !== undefined) figure.dataset.key = record.key;
  const img = document.createElement('img');
  const url = 'data:image/png;base64,' + record.png_base64;
  img.src = url;
  img.alt = record.prompt;
  // Smaller than any card: drawn with square pixels, not blurred.
  if (record.width < 256 || record.height < 256) img.className = 'small';
  const caption = document.createElement('figcaption');
  const prompt = document.createElement('p');
  prompt.className = 'card-prompt';
  prompt.textContent = record.prompt;
  const seed = document.createElement('span');
  seed.className = 'image-seed';
  seed.textContent = 'seed ' + record.seed + ' \u00b7 ' + plural(record.steps, 'step');
  seed.title = 'Use this seed';
  seed.addEventListener('click', () => { seedBox.value = record.seed; });
  const params = document.createElement('span');
  params.className = 'card-params';
  params.textContent = describe(record);
  const actions = document.createElement('div');
  actions.className = 'card-actions';
  const link = document.createElement('a');
  link.href = url;
  link.download = 'muse-' + record.seed + '.png';
  link.textContent = 'Download PNG';
  const again = button('Use these settings', 'reuse', () => reuse(record));
  const curlText = document.createElement('textarea');
  curlText.className = 'curl-text';
  curlText.readOnly = true;
  curlText.hidden = true;
  curlText.setAttribute('aria-label', 'curl command');
  const curl = button('Copy as curl', 'copy-curl', async () => {
    curlText.value = curlFor(record);
    curlText.hidden = false;
    curlText.select();
    try {
      await navigator.clipboard.writeText(curlText.value);
      curl.textContent = 'Copied';
    } catch {
      curl.textContent = 'Select and copy below';
    }
  });
  const remove = button('Delete', 'delete', () => deleteCard(figure));
  actions.append(link, again, curl, remove);
  caption.append(prompt, seed, params, actions, curlText);
  figure.append(img, caption);
  grid.prepend(figure);
  return figure;
}

function button(text, className, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

// ---- jobs: each submitted prompt, from sending until its images arrive ----

// Calls `onEvent(name, data)` for each event of the stream until it ends.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      onEvent(name, data ? JSON.parse(data) : null);
    }
  }
}

// POST /api/v1/jobs, asking for the API key while the server answers 401.
async function post(body) {
  let asked = 'This server needs an API key. Enter it (it is kept in this browser):';
  for (;;) {
    const response = await fetch('/api/v1/jobs', {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body),
    });
    if (response.status !== 401) return response;
    const key = window.prompt(asked);
    if (!key || !key.trim()) return response;
    localStorage.setItem('muse-api-key', key.trim());
    asked = 'That API key was not accepted. Enter another:';
  }
}

// One row in the list of jobs: the prompt, its queue position or step, live previews of its
// images while they run, and Cancel.
function jobRow(prompt) {
  const row = document.createElement('div');
  row.className = 'job';
  const text = document.createElement('span');
  text.className = 'job-prompt';
  text.textContent = prompt;
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = 0;
  const status = document.createElement('span');
  status.className = 'job-status';
  status.textContent = 'Sending';
  const cancel = button('Cancel', 'job-cancel', () => {});
  const previews = document.createElement('div');
  previews.className = 'job-previews';
  row.append(text, bar, status, cancel, previews);
  jobList.append(row);
  return {
    row, cancel,
    queued(position) {
      row.dataset.state = 'queued';
      status.textContent = position > 1 ? 'Queued: ' + (position - 1) + ' ahead'
                                         : 'Queued: next in line';
    },
    step(step, total) {
      row.dataset.state = 'running';
      bar.max = total || 1;
      bar.value = step;
      status.textContent = 'Step ' + step + ' of ' + total;
    },
    // The latest preview of each image (data: URLs, null where none has come yet).
    preview(urls) {
      urls.forEach((url, index) => {
        if (!url) return;
        let image = previews.children[index];
        while (!image) {
          const added = document.createElement('img');
          added.className = 'job-preview';
          added.alt = 'preview of image ' + (previews.children.length + 1);
          previews.append(added);
          image = previews.children[index];
        }
        image.src = url;
      });
    },
    say(text) { status.textContent = text; },
  };
}

// The request's fields from the form.
function requestBody(prompt) {
  const body = { prompt, quality: form.quality.value, previews: true };
  const negative = negativeBox.value.trim();
  if (negative) body.negative_prompt = negative;
  if (stepsBox.value !== '') body.steps = Number(stepsBox.value);
  if (guidanceBox.value !== '') body.guidance_scale = Number(guidanceBox.value);
  if (samplerMenu.value) body.scheduler = samplerMenu.value;
  const count = Number(countBox.value);
  if (countBox.value !== '' && count !== 1) body.n = count;
  if (seedBox.value !== '') body.seed = Number(seedBox.value);
  if (initImage) {
    // The image's size is the output's: the server takes it from the PNG.
    body.init_image = initImage.base64;
    body.strength = Number(strength.value);
  } else if (sizeMenu.value) {
    const [width, height] = sizeMenu.value.split('x').map(Number);
    Object.assign(body, { width, height });
  }
  return body;
}

async function generate() {
  hideError();
  const prompt = promptBox.value.trim();
  if (!prompt) {
    showError('invalid_request', 'enter a prompt first');
    promptBox.focus();
    return;
  }
  const body = requestBody(prompt);
  const params = Object.assign({}, body);
  delete params.init_image;
  delete params.previews;
  const job = jobRow(prompt);
  let id = null;
  let cancelled = false;
  job.cancel.addEventListener('click', async () => {
    cancelled = true;
    job.cancel.disabled = true;
    job.say('Cancelling');
    if (id) await fetch('/api/v1/jobs/' + id, { method: 'DELETE', headers: headers() }).catch(() => {});
  });
  try {
    let created;
    try {
      created = await post(body);
    } catch {
      showError('unreachable');
      return;
    }
    const answer = await created.json().catch(() => ({}));
    if (!model) loadModel();  // stats may have needed the API key the job asked for
    if (created.status !== 202) {
      const error = answer.error || {};
      showError(error.code, error.message, created.status,
                Number(created.headers.get('Retry-After')));
      return;
    }
    id = answer.id;
    if (cancelled) {
      await fetch('/api/v1/jobs/' + id, { method: 'DELETE', headers: headers() }).catch(() => {});
      return;
    }
    job.queued(answer.queue_position || 1);
    let events;
    try {
      events = await fetch(answer.urls.events, { headers: headers() });
    } catch {
      showError('unreachable');
      return;
    }
    if (!events.ok) throw new Error('the progress stream answered ' + events.status);
    let finished = false;
    try {
      await readEvents(events, (name, data) => {
        if (name === 'progress') {
          job.step(data.step, data.total);
          if (data.previews) job.preview(data.previews);
        }
        else if (name === 'status' && data.status === 'queued') job.queued(data.queue_position);
        else if (name === 'status' && data.status === 'running')
          job.step(data.progress.step, data.progress.total);
        else if (name === 'done') {
          finished = true;
          for (const image of data.images) {
            const png = base64Size(image.png_base64);
            keepImage({ created: Date.now(), png_base64: image.png_base64, seed: image.seed,
                        steps: data.progress.total, width: png.width, height: png.height,
                        prompt, params });
          }
        } else if (name === 'failed' || name === 'cancelled') {
          finished = true;
          if (name === 'cancelled' && cancelled) return;  // asked for: nothing to report
          const error = data.error || {};
          showError(error.code || name, error.message);
        }
      });
    } catch {
      if (!finished) {
        showError('lost');
        return;
      }
    }
    if (!finished) showError('lost');
  } catch (error) {
    showError('', error.message);
  } finally {
    job.row.remove();
  }
}

// Width and height of a base64 PNG, from its IHDR chunk.
function base64Size(base64) {
  const head = atob(base64.slice(0, 44));
  const word = (at) => ((head.charCodeAt(at) << 24) | (head.charCodeAt(at + 1) << 16) |
                        (head.charCodeAt(at + 2) << 8) | head.charCodeAt(at + 3)) >>> 0;
  return { width: word(16), height: word(20) };
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  generate();
});

// ---- examples of what the served model draws ----

// The built-in model learnt emoji from their names and draws nothing else.
const builtInExamples = ['red apple', 'rainbow', 'large blue circle', 'grinning face', 'fire',
                         'green heart', 'banana', 'snowman'];
const generalExamples = ['a lighthouse on a cliff at sunset, oil painting',
                         'a red fox in the snow, photograph', 'a bowl of ramen, watercolor'];

function showExamples() {
  const builtIn = /muse-tiny/.test(model.name || '');
  examplesNote.textContent = builtIn
    ? 'The built-in model draws emoji from their names only (other prompts give blobs). Try:'
    : 'Try:';
  exampleList.replaceChildren(...(builtIn ? builtInExamples : generalExamples).map((text) =>
    button(text, 'example', () => { promptBox.value = text; promptBox.focus(); })));
  examples.hidden = false;
}

function fillSamplers() {
  for (const name of model.limits.schedulers || [])
    if (![...samplerMenu.options].some((o) => o.value === name)) samplerMenu.append(new Option(name, name));
  if (model.limits.max_steps) stepsBox.max = model.limits.max_steps;
}

// ---- sizes: the model's default and SDXL's aspect buckets, scaled to the model ----

// SDXL's usual training buckets at its native 1024x1024.
const buckets = [[1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216],
                 [1344, 768], [768, 1344], [1536, 640], [640, 1536]];

function fits(limits, width, height) {
  const m = limits.size_multiple;
  return width >= limits.min_size && height >= limits.min_size && width <= limits.max_size &&
         height <= limits.max_size && width % m === 0 && height % m === 0 &&
         width * height <= limits.max_pixels;
}

// The default size first, then each bucket scaled to the model's native size (rounded to its
// size multiple): those the model accepts, each once.
function sizeChoices(limits, defaultSize) {
  const m = limits.size_multiple;
  const scale = Math.sqrt(limits.default_width * limits.default_height) / 1024;
  const round = (v) => Math.max(m, Math.round(v * scale / m) * m);
  const candidates = [[defaultSize.width, defaultSize.height]]
    .concat(buckets.map(([w, h]) => [round(w), round(h)]));
  const choices = [];
  for (const [width, height] of candidates) {
    if (!fits(limits, width, height)) continue;
    if (choices.some((c) => c.width === width && c.height === height)) continue;
    choices.push({ width, height });
  }
  return choices;
}

function fillSizeMenu() {
  sizeMenu.replaceChildren();
  const choices = model ? sizeChoices(model.limits, model.defaultSize) : [];
  if (!choices.length) {
    // No limits known (yet): the server's default size.
    sizeMenu.append(new Option('Default', ''));
    return;
  }
  for (const { width, height } of choices) {
    const value = width + 'x' + height;
    const isDefault = width === model.defaultSize.width && height === model.defaultSize.height;
    sizeMenu.append(new Option(isDefault ? value + ' (default)' : value, value, isDefault, isDefault));
  }
}

// Asks the server for the served model until it names one (workers may still be loading).
let modelRequest = null;
function loadModel() {
  if (modelRequest) return modelRequest;
  modelRequest = (async () => {
    for (let wait = 1000; !model; wait = Math.min(wait * 2, 10000)) {
      try {
        const response = await fetch('/api/v1/stats', { headers: headers() });
        if (response.status === 401) return;  // asked again once a job has the key
        const stats = response.ok ? await response.json() : null;
        if (stats && stats.model && stats.model.limits) {
          const limits = stats.model.limits;
          const size = stats.model.default_size ||
                       { width: limits.default_width, height: limits.default_height };
          model = { name: stats.model.name, limits, defaultSize: size };
          if (errorBox.dataset.code === 'unreachable') hideError();
          fillSizeMenu();
          fillSamplers();
          showExamples();
          if (initImage) await useImage(initImage.file);
          return;
        }
      } catch {
        // Down, or stopping: say so, and ask again.
        if (errorBox.hidden) showError('unreachable');
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  })().finally(() => { modelRequest = null; });
  return modelRequest;
}

// ---- the image to start from ----

// The valid size nearest to width x height: scaled into the model's bounds, each side rounded to
// the size multiple (the page crops what rounding leaves over).
function nearestSize(limits, width, height) {
  const m = limits.size_multiple;
  const low = Math.ceil(limits.min_size / m) * m;
  const high = Math.floor(limits.max_size / m) * m;
  let scale = Math.min(1, limits.max_size / Math.max(width, height),
                       Math.sqrt(limits.max_pixels / (width * height)));
  scale = Math.max(scale, limits.min_size / Math.min(width, height));
  const side = (v) => Math.min(high, Math.max(low, Math.round(v * scale / m) * m));
  let w = side(width);
  let h = side(height);
  while (w * h > limits.max_pixels && Math.max(w, h) > low) {
    if (w >= h) w -= m;
    else h -= m;
  }
  return { width: w, height: h };
}

// Width, height and bit depth from a PNG's IHDR chunk; null when the bytes are not a PNG.
function pngHeader(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 29 || signature.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20), depth: bytes[24] };
}

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// Draws the picture into width x height, scaled to cover it and centred (the overflow is cropped),
// and returns the PNG's bytes.
async function redraw(file, width, height) {
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const scale = Math.max(width / bitmap.width, height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  canvas.getContext('2d').drawImage(bitmap, (width - w) / 2, (height - h) / 2, w, h);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  return new Uint8Array(await blob.arrayBuffer());
}

// Reads the picture and makes the PNG the server is sent: the file's own bytes when it is a PNG
// the server reads (8 bits or fewer) of a size the model accepts; otherwise redrawn at the
// nearest size it accepts (or its own size when the model's limits are not known).
async function useImage(file) {
  const token = ++imageToken;
  hideError();
  const bytes = new Uint8Array(await file.arrayBuffer());
  let width;
  let height;
  try {
    const bitmap = await createImageBitmap(file);
    width = bitmap.width;
    height = bitmap.height;
    bitmap.close();
  } catch {
    showError('invalid_request', 'the file is not an image this browser can read');
    return;
  }
  const target = model ? nearestSize(model.limits, width, height) : { width, height };
  const png = pngHeader(bytes);
  const asIs = png && png.depth <= 8 && png.width === width && png.height === height &&
               target.width === width && target.height === height;
  const sent = asIs ? bytes : await redraw(file, target.width, target.height);
  if (token !== imageToken) return;
  initImage = { file, base64: toBase64(sent), width: target.width, height: target.height };
  thumb.src = 'data:image/png;base64,' + initImage.base64;
  const size = target.width + 'x' + target.height;
  initNote.textContent = target.width === width && target.height === height
    ? size : 'resized to ' + size + ' (was ' + width + 'x' + height + ')';
  preview.hidden = false;
  strengthRow.hidden = false;
  strengthHint.hidden = false;
  sizeMenu.disabled = true;
  sizeMenu.title = 'The image sets the size';
}

function clearImage() {
  imageToken++;
  initImage = null;
  fileInput.value = '';
  thumb.removeAttribute('src');
  initNote.textContent = '';
  preview.hidden = true;
  strengthRow.hidden = true;
  strengthHint.hidden = true;
  sizeMenu.disabled = false;
  sizeMenu.title = '';
}

function takeFile(file) {
  if (!file) return;
  if (!file.type.startsWith('image/')) {
    showError('invalid_request', 'drop or pick an image file (PNG or JPEG)');
    return;
  }
  useImage(file).catch((error) => showError('', error.message));
}

fileInput.addEventListener('change', () => takeFile(fileInput.files[0]));
removeButton.addEventListener('click', clearImage);
strength.addEventListener('input', () => {
  strengthValue.textContent = Number(strength.value).toFixed(2);
});
form.addEventListener('dragover', (event) => {
  event.preventDefault();
  form.classList.add('dropping');
});
form.addEventListener('dragleave', () => form.classList.remove('dropping'));
form.addEventListener('drop', (event) => {
  event.preventDefault();
  form.classList.remove('dropping');
  takeFile(event.dataTransfer.files[0]);
});

fillSizeMenu();
loadModel();
loadHistory();
