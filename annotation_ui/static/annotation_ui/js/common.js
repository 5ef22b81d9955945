// What every page shares: API calls with CSRF, the task loop with its lease timer, banners, help.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || 'http_' + status;
    this.fields = (body && body.fields) || {};
  }
}

function cookie(name) {
  const m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
  return m ? decodeURIComponent(m[1]) : '';
}

/** Call the engine's API; resolve to the JSON body (null on 204), reject with ApiError. */
export async function api(method, url, body, headers = {}) {
  const init = { method, credentials: 'same-origin', headers: { 'X-CSRFToken': cookie('csrftoken'), ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  let res;
  try { res = await fetch(url, init); } catch (e) { throw new ApiError(0, { code: 'network', detail: 'The server cannot be reached; check your connection and retry.' }); }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 403 && data && data.code === 'not_authenticated') location.href = '/login/?next=' + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(res.status, data);
  }
  return data;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const projectId = () => { const el = document.getElementById('project-id'); return el ? JSON.parse(el.textContent) : null; };

/** Show a message under the top bar; kind is info, warn or error. actions: [[label, fn], ...]. */
export function banner(text, kind = 'info', actions = []) {
  const el = $('#banner');
  el.className = 'banner ' + kind;
  el.textContent = text;
  for (const [label, fn] of actions) {
    const b = document.createElement('button'); b.type = 'button'; b.className = 'small'; b.textContent = label;
    b.addEventListener('click', fn); el.appendChild(b);
  }
  el.hidden = false;
  clearTimeout(banner._t);
  if (kind === 'info') banner._t = setTimeout(() => { el.hidden = true; }, 4000);
}
export function clearBanner() { $('#banner').hidden = true; }

/**
 * A short message that outlives loading the next task (next() clears the banner): the confirmation of
 * a submit (kind 'ok'), or why a key press did nothing (kind 'warn'). Hidden again after `ms`.
 */
export function toast(text, kind = 'ok', ms = kind === 'ok' ? 4000 : 3500) {
  let el = $('#toast');
  if (!el) {
    el = document.createElement('div'); el.id = 'toast'; el.setAttribute('role', 'status'); el.setAttribute('aria-live', 'polite');
    document.body.appendChild(el);
  }
  el.className = 'toast ' + kind; el.textContent = text; el.hidden = false;
  clearTimeout(toast._t); toast._t = setTimeout(() => { el.hidden = true; }, ms);
}

/** Explain an API error to a person, with the fix where there is one. */
export function explain(err) {
  switch (err.code) {
    case 'lease_expired': return 'Your lease on this task expired and it went back to the pool. Load the next task to continue.';
    case 'lease_not_held': return 'You no longer hold this task (someone else may have it now). Load the next task to continue.';
    case 'task_closed': return 'This task is already closed. Load the next task to continue.';
    default: return err.message;
  }
}
const LEASE_CODES = new Set(['lease_expired', 'lease_not_held', 'task_closed']);

function isTyping(e) {
  const t = e.target;
  return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

/** Register page shortcuts: map of key (e.key, or 'ctrl+z' style) to handler; skipped while typing. */
export function shortcuts(map) {
  document.addEventListener('keydown', (e) => {
    if (e.key === '?' && !isTyping(e)) { toggleHelp(); e.preventDefault(); return; }
    if ($('#help').open) return;
    const k = (e.ctrlKey || e.metaKey ? 'ctrl+' : '') + (e.shiftKey && e.key.length > 1 ? 'shift+' : '') + e.key;
    const fn = map[k] || map[k.toLowerCase()];
    if (!fn) return;
    if (isTyping(e) && !(fn.whileTyping)) return;
    if (fn(e) !== false) e.preventDefault();
  });
}
export function toggleHelp() { const d = $('#help'); d.open ? d.close() : d.showModal(); }
document.addEventListener('DOMContentLoaded', () => { const b = $('#help-button'); if (b) b.addEventListener('click', toggleHelp); });

const fmt = (s) => { s = Math.max(0, Math.floor(s)); return String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0'); };

/**
 * Claim tasks of one stage one after another, without page reloads.
 * onTask(task) renders it; the loop keeps the lease timer, resumes a held task after a reload
 * (its id is kept in sessionStorage), and says clearly when the queue is empty or a lease expired.
 */
export class TaskLoop {
  constructor(stage, { onTask, onEmpty, onClear, emptyEl }) {
    this.stage = stage; this.onTask = onTask; this.onEmpty = onEmpty; this.onClear = onClear || (() => {});
    this.emptyEl = emptyEl; this.task = null; this.expiresAt = 0; this.started = 0;
    this.filter = {}; // extra claim fields, e.g. {failure_category} on the artist page
    this.key = `engine.task.${stage}.${projectId()}`;
    this.leaseEl = $('#lease'); this.leaseTime = $('#lease-time');
    // Without a task the side panel shows this line instead of the last task's details and buttons (see app.css).
    this.work = $('.work');
    const side = this.work && this.work.querySelector('.side:not(.left)');
    if (side) {
      const note = document.createElement('p'); note.className = 'side-idle muted';
      note.textContent = 'No task is open here: the controls come back with the next task.';
      side.prepend(note);
    }
    $('#lease-extend').addEventListener('click', () => this.extend());
    setInterval(() => this.tick(), 500);
  }

  get seconds() { return this.started ? (performance.now() - this.started) / 1000 : 0; }

  async next() {
    performance.mark('task-request');
    this.onClear();
    this.task = null; this.leaseEl.hidden = true; clearBanner();
    const project = projectId();
    if (!project) return this.empty('No project exists yet; ask an engineer to create one.');
    let task = null;
    const held = sessionStorage.getItem(this.key);
    if (held) {
      task = await api('GET', `/api/tasks/${held}/`).catch(() => null);
      if (task && (task.status !== 'leased' || task.stage !== this.stage)) task = null;
      if (!task) sessionStorage.removeItem(this.key);
    }
    if (!task) {
      try { task = await api('POST', '/api/tasks/claim/', { project, stage: this.stage, ...this.filter }); }
      catch (err) { return this.empty(explain(err)); }
    }
    if (!task) return this.empty('The queue is empty: nothing to do in this stage right now.');
    sessionStorage.setItem(this.key, String(task.id));
    this.task = task; this.started = performance.now(); this.idle(false);
    // The server's clock, from the claim: expiry minus seconds left; Extend answers in its time.
    this.skew = Date.parse(task.lease_expires_at) - task.lease_seconds_left * 1000 - Date.now();
    this.setLease(task.lease_seconds_left);
    if (this.emptyEl) this.emptyEl.hidden = true;
    try { await this.onTask(task); }
    catch (err) { this.fail(err); }
    return task;
  }

  /** With no task, the side panel drops the last task's details and buttons. */
  idle(on) { if (this.work) this.work.classList.toggle('idle', on); }

  empty(text, poll = true) {
    this.leaseEl.hidden = true; this.idle(true);
    if (this.emptyEl) {
      this.emptyEl.hidden = false;
      this.emptyEl.querySelector('.empty-text').textContent = text;
    }
    if (this.onEmpty) this.onEmpty(text);
    // Look again now and then: new work arrives as other stages finish theirs.
    clearTimeout(this._poll);
    if (poll) this._poll = setTimeout(() => { if (!this.task) this.next(); }, 30000);
  }

  setLease(secondsLeft) {
    this.expiresAt = performance.now() + secondsLeft * 1000;
    this._warnedExpired = false;
    this.leaseEl.hidden = false;
    this.tick();
  }

  tick() {
    if (!this.task) return;
    const left = (this.expiresAt - performance.now()) / 1000;
    this.leaseTime.textContent = left > 0 ? fmt(left) : 'expired';
    this.leaseEl.classList.toggle('low', left > 0 && left < 120);
    this.leaseEl.classList.toggle('expired', left <= 0);
    if (left <= 0 && !this._warnedExpired) {
      this._warnedExpired = true;
      banner('Your lease on this task expired; another annotator may take it. Extend now to keep working on it, or load the next task.', 'error',
        [['Extend', () => this.extend()], ['Next task', () => this.next()]]);
    }
  }

  async extend() {
    if (!this.task) return;
    try {
      const r = await api('POST', `/api/tasks/${this.task.id}/extend/`);
      this.setLease((Date.parse(r.lease_expires_at) - (Date.now() + (this.skew || 0))) / 1000);
      banner('Lease renewed.', 'info');
    } catch (err) { this.fail(err); }
  }

  /** Give the task back to the queue; with skip, the server keeps it from coming back to this person. */
  async release(skip = false) {
    if (!this.task) return;
    const id = this.task.id;
    sessionStorage.removeItem(this.key);
    await api('POST', `/api/tasks/${id}/release/`, skip ? { skip: true } : undefined).catch(() => null);
  }

  /** Skip the task: it goes back to the queue for someone else, and the next one loads at once. */
  async giveBack(what) {
    await this.release(true);
    this.task = null; this.onClear();
    const said = `${what} skipped: it went back to the queue for someone else.`;
    if (await this.next()) banner(said, 'info');
    else this.empty(`${said} Nothing else is waiting for you in this stage right now.`);
  }

  /** Submit the task once (an Idempotency-Key makes a retried click harmless), then load the next. */
  async submit(body) {
    const id = this.task.id;
    const key = `${id}-${this.started}`;
    const result = await api('POST', `/api/tasks/${id}/submit/`, { ...body, seconds: this.seconds }, { 'Idempotency-Key': key });
    sessionStorage.removeItem(this.key);
    this.task = null;
    return result;
  }

  /** Show an error; a lost lease offers the next task. */
  fail(err) {
    console.warn('task error', err.code, err.message);
    if (LEASE_CODES.has(err.code)) {
      sessionStorage.removeItem(this.key);
      this.task = null; this.leaseEl.hidden = true; this.idle(true);
      banner(explain(err), 'error', [['Next task', () => this.next()]]);
    } else {
      banner(explain(err), 'error');
    }
  }
}

/** Decode the engine's RLE ({size: [h, w], counts}, row-major, background first) to a Uint8Array. */
export function decodeRLE(rle) {
  const [h, w] = rle.size; const out = new Uint8Array(h * w);
  let i = 0, v = 0;
  for (const n of rle.counts) { if (v) out.fill(1, i, i + n); i += n; v ^= 1; }
  return out;
}

/** Draw a mask's outline (`width` image pixels wide) and optionally a fill onto a 2D context. */
export function drawMask(ctx, mask, w, h, { stroke = '#ff9d2e', fill = null, scale = 1, width = 1 } = {}) {
  const img = ctx.createImageData(w, h);
  const s = hex(stroke), f = fill ? hex(fill) : null;
  const outside = (x, y) => x < 0 || y < 0 || x >= w || y >= h || !mask[y * w + x];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = y * w + x; if (!mask[i]) continue;
    let edge = false;
    for (let r = 1; r <= width && !edge; r++) edge = outside(x - r, y) || outside(x + r, y) || outside(x, y - r) || outside(x, y + r);
    const c = edge ? s : f; if (!c) continue;
    img.data.set(edge ? [c[0], c[1], c[2], 255] : [c[0], c[1], c[2], c[3]], i * 4);
  }
  const tmp = document.createElement('canvas'); tmp.width = w; tmp.height = h;
  tmp.getContext('2d').putImageData(img, 0, 0);
  ctx.drawImage(tmp, 0, 0, w * scale, h * scale);
}
function hex(c) {
  const m = c.match(/^#(..)(..)(..)(..)?$/);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16), m[4] ? parseInt(m[4], 16) : 90];
}

/** Image with its object mask outlined, into a <canvas> (the reference view of stages 2, 2.5, 3). */
export async function imageWithMask(canvas, image, object) {
  const img = await loadImage(image.url);
  canvas.width = image.width; canvas.height = image.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  // Drawn small beside the 3D views: a line a few pixels wide stays visible when scaled down.
  const width = Math.max(2, Math.round(Math.max(image.width, image.height) / 150));
  if (object && object.mask) drawMask(ctx, decodeRLE(object.mask), image.width, image.height, { fill: '#ff9d2e40', width });
  return img;
}
export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image(); img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('Could not load ' + url)); img.src = url;
  });
}

// Timings the measurement script reads (performance.mark/measure are the source of truth).
window.__perf = window.__perf || { swaps: [], firstFrame: [], fps: [] };
