'use strict';
// The Muse web page: submits an async job, follows its server-sent events (read through fetch,
// so an API key can travel in a header), and adds each finished image to the grid. The size menu
// and the image to start from follow the served model's limits (GET /api/v1/stats).

const form = document.getElementById('form');
const promptBox = document.getElementById('prompt');
const seedBox = document.getElementById('seed');
const button = document.getElementById('generate');
const progressBar = document.getElementById('progress');
const statusText = document.getElementById('status-text');
const errorBox = document.getElementById('error');
const grid = document.getElementById('grid');
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
  unauthorized: 'An API key is needed',
  queue_full: 'The server is busy right now; please try again in a moment',
  too_many_jobs: 'The server is busy right now; please try again in a moment',
  no_worker: 'No model is ready yet; please try again shortly',
  not_ready: 'No model is ready yet; please try again shortly',
  shutting_down: 'The server is restarting; please try again shortly',
  timeout: 'The image took too long and was stopped; please try again',
  cancelled: 'The image was cancelled',
  payload_too_large: 'The prompt is too long',
};

// The served model: {limits, defaultSize} once /api/v1/stats names it, else null.
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

function showError(code, message, status) {
  let known = messages[code];
  if (code === 'payload_too_large' && initImage) known = 'The image is too large for this server';
  let text = known ? known : 'Something went wrong';
  if (message && code === 'invalid_request') text += ': ' + message;
  else if (!known && message) text += ': ' + message;
  if (status) text += ' (' + status + ')';
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function setBusy(busy) {
  button.disabled = busy;
  promptBox.disabled = busy;
  fileInput.disabled = busy;
  removeButton.disabled = busy;
}

function setProgress(step, total) {
  progressBar.hidden = false;
  progressBar.max = total || 1;
  progressBar.value = step;
  statusText.textContent = 'Step ' + step + ' of ' + total;
}

function clearStatus() {
  progressBar.hidden = true;
  statusText.textContent = '';
}

function addImage(image, prompt, steps) {
  const figure = document.createElement('figure');
  const img = document.createElement('img');
  const url = 'data:image/png;base64,' + image.png_base64;
  img.src = url;
  img.alt = prompt;
  const caption = document.createElement('figcaption');
  const seed = document.createElement('span');
  seed.className = 'image-seed';
  seed.textContent = 'seed ' + image.seed + ' · ' + steps + (steps === 1 ? ' step' : ' steps');
  seed.title = 'Use this seed';
  seed.addEventListener('click', () => { seedBox.value = image.seed; });
  const link = document.createElement('a');
  link.href = url;
  link.download = 'muse-' + image.seed + '.png';
  link.textContent = 'Download PNG';
  caption.append(seed, link);
  figure.append(img, caption);
  grid.prepend(figure);
}

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

async function post(body) {
  for (;;) {
    const response = await fetch('/api/v1/jobs', {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body),
    });
    if (response.status !== 401) return response;
    const key = window.prompt('This server needs an API key:');
    if (!key) return response;
    localStorage.setItem('muse-api-key', key.trim());
  }
}

async function generate() {
  errorBox.hidden = true;
  const prompt = promptBox.value.trim();
  if (!prompt) {
    showError('invalid_request', 'enter a prompt first');
    promptBox.focus();
    return;
  }
  const body = { prompt, quality: form.quality.value };
  if (seedBox.value !== '') body.seed = Number(seedBox.value);
  if (initImage) {
    // The image's size is the output's: the server takes it from the PNG.
    body.init_image = initImage.base64;
    body.strength = Number(strength.value);
  } else if (sizeMenu.value) {
    const [width, height] = sizeMenu.value.split('x').map(Number);
    Object.assign(body, { width, height });
  }
  setBusy(true);
  statusText.textContent = 'Queued';
  try {
    const created = await post(body);
    const job = await created.json();
    if (!model) loadModel();  // stats may have needed the API key the job asked for
    if (created.status !== 202) {
      clearStatus();
      showError(job.error && job.error.code, job.error && job.error.message, created.status);
      return;
    }
    setProgress(0, job.progress.total);
    const events = await fetch(job.urls.events, { headers: headers() });
    if (!events.ok) throw new Error('events answered ' + events.status);
    let finished = false;
    await readEvents(events, (name, data) => {
      if (name === 'progress') setProgress(data.step, data.total);
      else if (name === 'status' && data.status === 'running')
        setProgress(data.progress.step, data.progress.total);
      else if (name === 'done') {
        finished = true;
        clearStatus();
        for (const image of data.images) addImage(image, prompt, data.progress.total);
      } else if (name === 'failed' || name === 'cancelled') {
        finished = true;
        clearStatus();
        const error = data.error || {};
        showError(error.code || name, error.message);
      }
    });
    if (!finished) throw new Error('the progress stream ended early');
  } catch (error) {
    clearStatus();
    showError('', error.message);
  } finally {
    setBusy(false);
    promptBox.focus();
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  generate();
});

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
          model = { limits, defaultSize: size };
          fillSizeMenu();
          if (initImage) await useImage(initImage.file);
          return;
        }
      } catch { /* the server is restarting: ask again */ }
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
  errorBox.hidden = true;
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
  if (!button.disabled) takeFile(event.dataTransfer.files[0]);
});

fillSizeMenu();
loadModel();
