'use strict';
// The Muse web page: submits an async job, follows its server-sent events (read through fetch,
// so an API key can travel in a header), and adds each finished image to the grid.

const form = document.getElementById('form');
const promptBox = document.getElementById('prompt');
const seedBox = document.getElementById('seed');
const button = document.getElementById('generate');
const progressBar = document.getElementById('progress');
const statusText = document.getElementById('status-text');
const errorBox = document.getElementById('error');
const grid = document.getElementById('grid');

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

function apiKey() { return localStorage.getItem('muse-api-key') || ''; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h['X-API-Key'] = key;
  return h;
}

function showError(code, message, status) {
  const known = messages[code];
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
  seed.textContent = 'seed ' + image.seed + ' · ' + steps + ' steps';
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
  setBusy(true);
  statusText.textContent = 'Queued';
  try {
    const created = await post(body);
    const job = await created.json();
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
