// Stage 1: choose target objects. Clicks ask the assisted-segmentation endpoint for a mask.
// Imported annotations arrive as proposals, drawn dashed: the annotator confirms, fixes or rejects each.
import { $, api, banner, decodeRLE, drawMask, explain, loadImage, projectId, shortcuts, TaskLoop, toast } from 'ui/common.js';
import { GenerationWatch } from 'ui/generation.js';

import { PromptEditor } from 'ui/prompt.js';

const canvas = $('#img-canvas'), ctx = canvas.getContext('2d');
const COLORS = ['#ff9d2e', '#4fd1c5', '#f06292', '#9ccc65', '#ba68c8', '#ffd54f'];
let task = null, p = null, img = null, points = [], proposal = null, seq = 0, objectStarted = 0, accepting = false;
let categories = [], category = null, suggestions = [], highlighted = 0;
let fixing = null; // the imported proposal being fixed: Accept confirms it with the mask and category shown

// --- drawing ---
function fit() { // scale the canvas to the view, keeping the image's aspect
  if (!p) return;
  const view = $('#view'), s = Math.min(view.clientWidth / p.image.width, view.clientHeight / p.image.height);
  canvas.style.width = Math.floor(p.image.width * s) + 'px'; canvas.style.height = Math.floor(p.image.height * s) + 'px';
}
new ResizeObserver(fit).observe($('#view'));

function draw() {
  if (!p || !img) return;
  const { width: w, height: h } = p.image;
  ctx.drawImage(img, 0, 0, w, h);
  const lw = Math.max(1, Math.round(Math.max(w, h) / 400));
  p.objects.forEach((o, i) => {
    if (o.status === 'rejected' || (fixing && o.id === fixing.id)) return;
    ctx.setLineDash(o.status === 'proposed' ? [3 * lw, 2 * lw] : []);
    drawMask(ctx, decodeRLE(o.mask), w, h, { stroke: COLORS[i % COLORS.length], width: lw });
  });
  ctx.setLineDash([]);
  if (proposal) drawMask(ctx, decodeRLE(proposal.mask), w, h, { stroke: '#4f9cf7', fill: '#4f9cf770', width: lw });
  editor.draw(ctx, lw);
  const r = Math.max(4, Math.round(w / 120));
  for (const [x, y, pos] of points) {
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = pos ? '#3fb27f' : '#e05252'; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = '#fff'; ctx.stroke();
  }
}

// --- clicks to mask proposals ---
function imagePoint(e) {
  const r = canvas.getBoundingClientRect();
  const x = Math.min(p.image.width - 1, Math.max(0, (e.clientX - r.left) * p.image.width / r.width));
  const y = Math.min(p.image.height - 1, Math.max(0, (e.clientY - r.top) * p.image.height / r.height));
  return [Math.round(x), Math.round(y)];
}
// Clicks, a box and brush strokes (ui/prompt.js); every change asks for the mask of the whole prompt.
const editor = new PromptEditor(canvas, {
  size: () => (p ? p.image : { width: 1, height: 1 }),
  onStart: () => { objectStarted = performance.now(); },
  onChange: (asked) => { if (!task) { editor.clear(); return; } if (asked) propose(); else { draw(); tools(); } },
});
window.__prompt = editor; // the browser tests read the prompt's state

function tools() { // the tool buttons say which tool is on, and what undo and redo would do
  const on = (id, yes) => { const b = $(id); if (b) { b.classList.toggle('active', yes); b.setAttribute('aria-pressed', String(yes)); } };
  on('#tool-point', editor.tool === 'point'); on('#tool-brush', editor.tool === 'brush' && !editor.erase); on('#tool-erase', editor.tool === 'brush' && editor.erase);
  if ($('#undo-point')) $('#undo-point').disabled = editor.empty;
  if ($('#redo-point')) $('#redo-point').disabled = !editor.redo.length;
}

async function propose() {
  const mine = ++seq;
  draw(); tools();
  if (editor.empty) { proposal = null; refresh('Drag a box around an object, or click it.'); draw(); return; }
  if (!editor.hasPositive()) { proposal = null; refresh('Add a positive click on the object, or drag a box around it: a negative click alone says what it is not.'); draw(); return; }
  refresh('Segmenting…');
  const sent = performance.now();
  try {
    const r = await api('POST', `/api/images/${p.image.id}/segment/`, editor.body());
    if (mine !== seq) return; // a newer action is on its way; its answer wins
    const ms = Math.round(performance.now() - sent);
    (window.__perf.segmentMs = window.__perf.segmentMs || []).push(ms);
    proposal = r.area ? r : null;
    if (r.warning) { refresh(r.warning); banner(r.warning, 'warn'); }
    else refresh(proposal ? `Proposal: ${r.area.toLocaleString()} pixels (${ms} ms). Click to add (Shift+click to remove), brush (B) for details, or pick the category and accept.`
      : 'No mask found here: click closer to the object.');
    if (r.note) console.warn('segmenter:', r.note);
  } catch (err) { if (mine === seq) { proposal = null; refresh(''); loop.fail(err); } }
  draw();
}
function undoPoint() { if (editor.undo()) return; clearProposal(); }
function redoPoint() { editor.redoOne(); }
function clearProposal() {
  points = []; proposal = null; seq++; editor.clear(); tools();
  if (fixing) { fixing = null; $('#accept').textContent = 'Accept object'; $('#accept').append(' ', Object.assign(document.createElement('kbd'), { textContent: 'Enter' })); }
  refresh('Click an object to get a mask proposal.'); draw();
}

function refresh(status) {
  if (status !== undefined) $('#hint').textContent = status;
  $('#accept').disabled = !proposal || !category || accepting;
}

// --- category type-ahead over names, slugs and synonyms ---
const input = $('#category'), list = $('#suggest');
function matches(q) {
  q = q.trim().toLowerCase(); if (!q) return categories.slice(0, 8);
  const score = (c) => {
    const names = [c.name.toLowerCase(), c.slug, ...(c.synonyms || []).map((s) => s.toLowerCase())];
    if (names.some((n) => n.startsWith(q))) return names[0].startsWith(q) || names[1].startsWith(q) ? 0 : 1;
    return names.some((n) => n.includes(q)) ? 2 : 9;
  };
  return categories.map((c) => [score(c), c]).filter(([s]) => s < 9).sort((a, b) => a[0] - b[0]).slice(0, 8).map(([, c]) => c);
}
function showSuggestions() {
  suggestions = matches(input.value); highlighted = 0; list.innerHTML = '';
  suggestions.forEach((c, i) => {
    const li = document.createElement('li'); li.dataset.slug = c.slug;
    const syn = (c.synonyms || []).slice(0, 3).join(', ');
    li.innerHTML = `${c.name} <small>${c.group || ''}${syn ? ' · ' + syn : ''}</small>`;
    li.addEventListener('mousedown', (e) => { e.preventDefault(); pick(i); });
    list.appendChild(li);
  });
  const q = input.value.trim(), other = categories.find((c) => c.slug === 'other');
  if (!suggestions.length && q) { // nothing matches: say that Other exists, and let Enter pick it
    const li = document.createElement('li'); li.className = 'hint-other';
    li.textContent = other ? `No category matches “${q}”. Enter picks Other; then say what it is in the description.`
      : `No category matches “${q}”; this project has no Other: flag the image or ask an engineer to add the category.`;
    if (other) { suggestions = [other]; li.dataset.slug = 'other'; li.addEventListener('mousedown', (e) => { e.preventDefault(); pick(0); }); }
    list.appendChild(li);
  }
  list.hidden = !list.children.length; mark();
}
function mark() { [...list.children].forEach((li, i) => li.classList.toggle('on', i === highlighted)); }
function pick(i) {
  const c = suggestions[i]; if (!c) return;
  category = c.slug; input.value = c.name; list.hidden = true; refresh();
  $('#description').focus();
}
input.addEventListener('input', () => { category = null; showSuggestions(); refresh(); });
input.addEventListener('focus', showSuggestions);
input.addEventListener('blur', () => { list.hidden = true; });
input.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown') { highlighted = Math.min(highlighted + 1, suggestions.length - 1); mark(); e.preventDefault(); }
  else if (e.key === 'ArrowUp') { highlighted = Math.max(highlighted - 1, 0); mark(); e.preventDefault(); }
  else if ((e.key === 'Enter' || e.key === 'Tab') && !list.hidden && suggestions.length) { pick(highlighted); e.preventDefault(); e.stopPropagation(); }
  else if (e.key === 'Escape') { list.hidden = true; input.blur(); e.stopPropagation(); }
});

// --- accept an object; finish the image ---
async function accept(confirmMulti = false) {
  if (!proposal || !category || accepting || !task) {
    if (task && proposal && !category) { banner('Pick a category for this object first (C).', 'warn'); input.focus(); }
    return;
  }
  accepting = true; refresh();
  if (fixing) { await review(fixing, 'confirm', { mask: proposal.mask, category, description: $('#description').value, confirm_multi_region: confirmMulti }); accepting = false; refresh(); return; }
  try {
    const o = await api('POST', `/api/tasks/${task.id}/objects/`, {
      mask: proposal.mask, category, description: $('#description').value, confirm_multi_region: confirmMulti,
      seconds: (performance.now() - objectStarted) / 1000,
    });
    p.objects.push(o); renderObjects();
    input.value = ''; category = null; $('#description').value = '';
    clearProposal(); document.activeElement.blur();
    banner(`Object ${o.id} (${o.category}) added.`, 'info');
  } catch (err) {
    const maskIssue = (err.fields && err.fields.mask || []).join(' ');
    if (maskIssue.includes('separate regions')) {
      banner(maskIssue, 'warn', [['It is one occluded object: keep it', () => accept(true)], ['Fix the mask', () => banner('Add clicks to join or drop regions.', 'info')]]);
    } else loop.fail(err);
  } finally { accepting = false; refresh(); }
}

/** Confirm (with the fixes in `fields`) or reject an imported proposal. */
async function review(o, decision, fields = {}) {
  try {
    const r = await api('POST', `/api/tasks/${task.id}/objects/${o.id}/review/`, { decision, seconds: (performance.now() - objectStarted) / 1000, ...fields });
    p.objects[p.objects.findIndex((x) => x.id === o.id)] = r;
    if (fixing && fixing.id === o.id) { input.value = ''; category = null; $('#description').value = ''; clearProposal(); }
    renderObjects();
    banner(`Object ${r.id} (${r.category}) ${decision === 'reject' ? 'rejected' : r.edited ? 'fixed and confirmed' : 'confirmed'}.`, 'info');
  } catch (err) {
    const maskIssue = (err.fields && err.fields.mask || []).join(' ');
    if (maskIssue.includes('separate regions')) banner(maskIssue, 'warn', [['It is one occluded object: keep it', () => review(o, decision, { ...fields, confirm_multi_region: true })]]);
    else loop.fail(err);
  }
}

/** Load a proposal into the editor: its mask as the current proposal, its category and description in the fields. */
function fix(o) {
  clearProposal();
  fixing = o; objectStarted = performance.now();
  proposal = { mask: o.mask, area: o.area };
  const c = categories.find((x) => x.slug === o.category);
  category = o.category; input.value = c ? c.name : o.category; $('#description').value = o.description || '';
  $('#accept').textContent = 'Confirm the fix';
  $('#accept').append(' ', Object.assign(document.createElement('kbd'), { textContent: 'Enter' }));
  refresh(`Fixing imported object ${o.id}: click to segment it anew, change the category or description, then confirm.`); draw();
}

function renderObjects() {
  const ul = $('#objects'); ul.innerHTML = '';
  p.objects.forEach((o, i) => {
    const li = document.createElement('li'); li.dataset.id = o.id; li.dataset.status = o.status;
    li.innerHTML = `<span style="color:${COLORS[i % COLORS.length]}">■</span> <strong></strong> <span class="muted"></span>`;
    li.querySelector('strong').textContent = o.category; li.querySelector('.muted').textContent = o.description || '';
    if (o.status === 'rejected') li.classList.add('rejected');
    if (o.source) li.title = `imported: ${o.source}`;
    if (o.status === 'proposed') {
      li.classList.add('proposed');
      const actions = document.createElement('div'); actions.className = 'row';
      for (const [label, fn] of [['Confirm', () => review(o, 'confirm')], ['Fix', () => fix(o)], ['Reject', () => review(o, 'reject')]]) {
        const b = document.createElement('button'); b.type = 'button'; b.className = 'small'; b.textContent = label;
        b.dataset.action = label.toLowerCase(); b.addEventListener('click', fn); actions.appendChild(b);
      }
      li.appendChild(actions);
    }
    ul.appendChild(li);
  });
  const kept = p.objects.filter((o) => o.status !== 'rejected').length;
  const waiting = p.objects.filter((o) => o.status === 'proposed').length;
  $('#count').textContent = `${kept} object${kept === 1 ? '' : 's'} in this image` + (waiting ? ` · ${waiting} imported to review` : '');
  draw();
}

async function finish(force = false) {
  if (!task || accepting) return;
  if (force !== 'empty' && force !== true && !proposal && !p.objects.some((o) => o.status !== 'rejected')) {
    // F with nothing selected is more often a slip than a decision: ask.
    banner('No object is selected in this image. Finish it with none, or flag it?', 'warn', [
      ['Flag it: no object worth a 3D shape', () => { $('#flag-reason').value = 'no_objects'; flag(); }],
      ['Finish with no object', () => finish('empty')],
      ['Keep working', () => { $('#banner').hidden = true; }]]);
    return;
  }
  const waiting = p.objects.filter((o) => o.status === 'proposed');
  if (waiting.length) {
    banner(`${waiting.length} imported object${waiting.length === 1 ? '' : 's'} still to review: confirm, fix or reject each first.`, 'warn');
    return;
  }
  if (proposal && force !== true) {
    banner('The current proposal is not accepted yet.', 'warn', [['Accept it first (Enter)', () => accept()], ['Finish without it', () => finish(true)]]);
    return;
  }
  try {
    const r = await loop.submit({});
    const n = r.objects.length;
    toast(`Image done: ${n} new object${n === 1 ? '' : 's'} sent to candidate generation.`
      + (n ? ' It runs in the background; the panel shows when the candidates are ready.' : ''));
    generation.add(r.objects);
    await loop.next();
  } catch (err) { loop.fail(err); }
}

/** Take an unusable image out of the queue, with the reason (the engineers see it on the image). */
async function flag() {
  if (!task) return;
  const reason = $('#flag-reason').value, note = $('#flag-note').value.trim();
  if (!reason) { banner('Pick why this image cannot be annotated.', 'warn'); return; }
  if (reason === 'other' && !note) { banner('Say why in the note when the reason is Other.', 'warn'); return; }
  const id = task.id;
  try {
    await api('POST', `/api/tasks/${id}/flag/`, { reason, note, seconds: loop.seconds }, { 'Idempotency-Key': `${id}-flag-${loop.started}` });
  } catch (err) { loop.fail(err); return; }
  sessionStorage.removeItem(loop.key); loop.task = null;
  $('#flag-reason').value = ''; $('#flag-note').value = ''; $('#flag-box').open = false;
  await loop.next();
  banner('Image flagged: it is out of the queue, with your reason.', 'info');
}

const generation = new GenerationWatch($('#generation'), `engine.generation.${projectId()}`);
const loop = new TaskLoop('select', { onTask: start, emptyEl: $('#empty'), onClear: () => { task = null; p = null; clearProposal(); } });
async function start(t) {
  task = t; p = t.payload;
  img = await loadImage(p.image.url);
  canvas.width = p.image.width; canvas.height = p.image.height;
  fit(); clearProposal(); renderObjects();
  $('#status').textContent = `Image ${p.image.id} · ${p.image.width}×${p.image.height}`;
  window.__select = { ready: true, taskId: t.id };
}

$('#accept').addEventListener('click', () => accept());
$('#finish').addEventListener('click', () => finish());
$('#undo-point').addEventListener('click', undoPoint);
$('#redo-point').addEventListener('click', redoPoint);
$('#tool-point').addEventListener('click', () => editor.setTool('point'));
$('#tool-brush').addEventListener('click', () => editor.setErase(false));
$('#tool-erase').addEventListener('click', () => editor.setErase(true));
$('#clear').addEventListener('click', clearProposal);
$('#retry').addEventListener('click', () => loop.next());
$('#release').addEventListener('click', () => loop.giveBack('Image'));
$('#flag').addEventListener('click', () => flag());
const acceptKey = (e) => { if (e.target === input && !list.hidden) return false; accept(); };
const acceptInField = Object.assign(() => accept(), { whileTyping: true });
shortcuts({
  Enter: acceptKey, 'ctrl+Enter': acceptInField, Backspace: undoPoint, 'ctrl+z': undoPoint, Escape: clearProposal,
  'ctrl+y': redoPoint, 'ctrl+Z': redoPoint, 'ctrl+shift+z': redoPoint, v: () => editor.setTool('point'),
  b: () => editor.setErase(false), e: () => editor.setErase(!(editor.tool === 'brush' && editor.erase)),
  '[': () => editor.resize(1 / 1.4), ']': () => editor.resize(1.4),
  f: () => finish(), c: () => input.focus(), d: () => $('#description').focus(), x: () => loop.extend(),
});
api('GET', `/api/categories/?project=${projectId()}`).then((c) => { categories = c; }).catch((err) => banner(explain(err), 'error'));
loop.next();
