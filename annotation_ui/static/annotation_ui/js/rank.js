// Stage 2: best of N by pairwise comparison, two synchronized viewports, preloaded candidates.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { $, api, banner, explain, imageWithMask, shortcuts, TaskLoop, toast } from 'ui/common.js';
import { addStudioLights, disposeTree, fetchGLB, frameCamera, isSoftwareGL, makeRenderer, neutralMaterial, parseGLB } from 'ui/viewer.js';

const view = $('#view'), canvas = $('#pair-canvas');
const renderer = makeRenderer(canvas);
const material = neutralMaterial();
const camera = new THREE.PerspectiveCamera(30, 1, 0.05, 50);
const controls = new OrbitControls(camera, canvas); // one camera for both sides: orbiting one orbits both
controls.enableDamping = true; controls.autoRotate = true; controls.autoRotateSpeed = 1.5;
const sides = { left: makeSide(), right: makeSide() };
let single = false; // the rating step shows the survivor alone
const clock = new THREE.Clock();

function makeSide() {
  const scene = new THREE.Scene(); scene.background = new THREE.Color(0x24272d);
  addStudioLights(scene);
  const holder = new THREE.Group(); scene.add(holder);
  return { scene, holder, id: null };
}

function resetView() {
  camera.position.set(2.0, 1.3, 3.0); controls.target.set(0, 0, 0); frameCamera(camera, controls.target, 0.8); camera.lookAt(0, 0, 0); controls.update();
}

function resize() {
  const w = view.clientWidth, h = view.clientHeight;
  renderer.setSize(w, h, false); dirty = true;
  camera.aspect = (single ? w : w / 2) / h; frameCamera(camera, controls.target, 0.8);
}
new ResizeObserver(resize).observe(view);

// --- candidates: fetched and parsed ahead, so a swap only moves an already built object ---
let cache = new Map(); // candidate id -> Promise<Group>
function preload(candidates) {
  cache = new Map();
  const bytes = candidates.map((c) => [c.id, fetchGLB(c.mesh_url)]);
  let chain = Promise.resolve();
  for (const [id, buf] of bytes) {
    // Parse one at a time, in the order they will be needed, off the critical path of input.
    const parsed = chain.then(() => buf).then((b) => parseGLB(b, material)).then(fit);
    chain = parsed.catch(() => null);
    cache.set(id, parsed);
  }
}
function fit(group) { // centre and scale to a unit box, so views compare shapes at one size
  const box = new THREE.Box3().setFromObject(group), size = box.getSize(new THREE.Vector3());
  const s = 1 / Math.max(size.x, size.y, size.z, 1e-6), c = box.getCenter(new THREE.Vector3());
  group.children[0].position.sub(c); group.scale.setScalar(s);
  const outer = new THREE.Group(); outer.add(group); return outer;
}

function show(side, id) {
  const s = sides[side]; dirty = true;
  if (s.id === id) return true;
  const ready = cache.get(id) && cache.get(id).resolved;
  s.holder.clear(); s.id = id;
  if (ready) { s.holder.add(ready); return true; }
  cache.get(id).then((g) => { if (s.id === id) { s.holder.clear(); s.holder.add(g); dirty = true; } });
  return false;
}

// --- render loop; performance marks for the swap and first-frame figures ---
let pendingMarks = [], dirty = true, lastFrame = 0;
const SOFTWARE = isSoftwareGL();
function frame(now) {
  requestAnimationFrame(frame);
  // While an Equal answer is on its way, hold the frame: on a CPU-rendered machine the
  // turntable would compete with the request for the same cores.
  if (busy && !dirty) return;
  // On software WebGL the turntable runs at 30 fps; a swap or a drag still draws at once.
  if (SOFTWARE && !dirty && !pendingMarks.length && now - lastFrame < 30) return;
  const moved = controls.update(clock.getDelta());
  if (!moved && !dirty && !pendingMarks.length) return; // nothing changed: spare the CPU for the rest
  dirty = false; lastFrame = now;
  const w = view.clientWidth, h = view.clientHeight;
  renderer.setScissorTest(true);
  if (single) {
    renderer.setViewport(0, 0, w, h); renderer.setScissor(0, 0, w, h); renderer.render(sides.left.scene, camera);
  } else {
    const half = Math.floor(w / 2);
    renderer.setViewport(0, 0, half, h); renderer.setScissor(0, 0, half, h); renderer.render(sides.left.scene, camera);
    renderer.setViewport(w - half, 0, half, h); renderer.setScissor(w - half, 0, half, h); renderer.render(sides.right.scene, camera);
  }
  pendingMarks = pendingMarks.filter((m) => {
    if (!m.ready()) return true;
    performance.mark(m.end);
    const d = performance.measure(m.name, m.start, m.end).duration;
    (m.list)(d);
    return false;
  });
}
requestAnimationFrame(frame);

// --- the task ---
const loop = new TaskLoop('rank', { onTask: start, emptyEl: $('#empty'), onClear: clear });
let task = null, p = null, cur = null, order = [], answerChain = Promise.resolve(), shownAt = 0, busy = false;
let level = null, failure = '';

function clear() {
  view.classList.remove('stale');
  for (const pr of cache.values()) if (pr.resolved) disposeTree(pr.resolved);
  cache = new Map();
  task = null; p = null; cur = null; sides.left.holder.clear(); sides.right.holder.clear();
  sides.left.id = sides.right.id = null; $('#rating').hidden = true; setSingle(false);
}

function allParsed(ids) { return () => ids.every((id) => cache.get(id) && cache.get(id).resolved && (sides.left.id === id || sides.right.id === id)); }

async function start(t) {
  // A copy of a set you already ranked (payload.refused, already_ranked) cannot be played: it goes to someone else.
  if (t.payload.refused) return loop.giveBack('A copy of a set you already ranked was');
  task = t; p = t.payload; order = p.candidates.map((c) => c.id);
  preload(p.candidates);
  for (const [id, pr] of cache) pr.then((g) => { pr.resolved = g; }).catch((e) => banner(`Candidate mesh ${id}: ${e.message}`, 'error'));
  imageWithMask($('#ref'), p.image, p.object).catch((e) => banner(e.message, 'error'));
  $('#obj-desc').textContent = [p.object.category, p.object.description].filter(Boolean).join(' — ');
  $('#alpha').textContent = p.alpha;
  level = null; failure = '';
  resetView();
  apply(p.state);
  const first = [p.state.left, p.state.right].filter((x) => x != null);
  // From asking for the task (claim or resume) to the first frame with both candidates drawn.
  pendingMarks.push({ name: 'first-frame', start: 'task-request', end: 'first-frame-end', ready: allParsed(first),
    list: (d) => window.__perf.firstFrame.push({ fromRequest: d, fromPageStart: performance.now() }) });
}

function apply(state) {
  cur = state;
  if (state.done) return rating();
  show('left', state.left); show('right', state.right);
  shownAt = performance.now();
  $('#progress').textContent = `${state.shown} of ${state.total} shown`;
  $('#status').textContent = `Comparison ${state.position + 1} of ${state.total - 1}`;
}

/** Mirror the server's rule for a Left/Right answer: the loser's side gets the next candidate. */
function predict(state, kept) {
  const position = state.position + 1, next = state.shown;
  if (next >= state.total) return { ...state, left: null, right: null, position, done: true, winner: kept };
  const incoming = order[next];
  const [left, right] = kept === state.left ? [kept, incoming] : [incoming, kept];
  return { ...state, left, right, position, shown: next + 1, done: false, winner: null };
}

/** Say why a key press did nothing (every refused key explains itself). */
function refuse(text) { toast(text, 'warn'); }
const NO_SET = 'No set is open: nothing to compare right now.';

function answer(choice, ev) {
  if (!task || !cur) return refuse(NO_SET);
  if (cur.done) return refuse('The comparisons are done: rate the survivor (0–4), or N if none of these is the object.');
  if (busy) return refuse('One moment: the Equal answer is being recorded.');
  const t0 = ev && ev.timeStamp ? ev.timeStamp : performance.now();
  const n = cur.position;
  performance.mark(`swap-start-${n}`, { startTime: t0 });
  const body = { position: n, answer: choice, seconds: (performance.now() - shownAt) / 1000 };
  const before = cur;
  const flash = $('#btn-' + choice); flash.classList.remove('flash'); void flash.offsetWidth; flash.classList.add('flash');
  let predicted = null;
  // Left/Right are decided here, and so is Equal: the session's draw of the side an Equal keeps
  // came with the task. Swap now, confirm with the server after.
  const side = choice === 'equal' ? (p.equal_keeps || [])[n] : choice;
  if (side === 'left' || side === 'right') {
    predicted = predict(before, side === 'left' ? before.left : before.right);
    apply(predicted);
    if (choice === 'equal') $('#status').textContent = `Equal: kept one at random. ${$('#status').textContent}`;
    // Both meshes of the new pair were already parsed at the key press (the prefetch did its job).
    markSwap(n, predicted, choice, predicted.done || allParsed([predicted.left, predicted.right])());
  } else { // an older server without the draw: wait for its answer
    busy = true; $('#status').textContent = 'Equal: drawing which one stays…';
  }
  const taskId = task.id;
  answerChain = answerChain.then(() => {
    const sent = performance.now();
    return api('POST', `/api/tasks/${taskId}/compare/`, body).then((r) => { window.__perf.compareMs = (window.__perf.compareMs || []).concat(performance.now() - sent); return r; });
  }).then((r) => {
    if (!task || task.id !== taskId) return;
    if (!predicted) { busy = false; apply(r.state); markSwap(n, r.state, choice); }
    // Reconcile only with the latest answer: an older reply must not undo a newer optimistic swap.
    else if (cur && r.state.position === cur.position
      && (r.state.left !== cur.left || r.state.right !== cur.right || r.state.done !== cur.done)) apply(r.state);
    if (r.tie_break && !predicted) $('#status').textContent = `Equal: kept one at random. ${$('#status').textContent}`;
  }).catch((err) => {
    busy = false;
    loop.fail(err);
    if (!loop.task) { task = null; cur = null; view.classList.add('stale'); } // the lease is gone: stop answering
    if (err.code === 'out_of_order' || err.code === 'invalid') resync(taskId);
  });
}

function markSwap(n, state, choice, readyAtPress = null) {
  if (state.done) return;
  const ids = [state.left, state.right];
  pendingMarks.push({ name: `swap-${n}`, start: `swap-start-${n}`, end: `swap-end-${n}`, ready: allParsed(ids),
    list: (d) => window.__perf.swaps.push({ position: n, answer: choice, ms: d, readyAtPress }) });
}

async function resync(taskId) {
  const t = await api('GET', `/api/tasks/${taskId}/`).catch(() => null);
  if (t && task && task.id === taskId) apply(t.payload.state);
}

// --- the rating step: the survivor alone, the rubric, and a failure category below the bar ---
function setSingle(on) {
  single = on; $('#pair').classList.toggle('single', on); $('#answer-bar').hidden = on;
  $('#side').classList.toggle('rating-step', on); resize();
}

function rating() {
  setSingle(true);
  sides.right.holder.clear(); sides.right.id = null;
  show('left', cur.winner);
  $('#progress').textContent = `All ${cur.total} shown`;
  $('#status').textContent = 'The survivor of the comparisons: rate it.';
  const list = $('#rubric'); list.innerHTML = '';
  for (const r of p.rubric) {
    const b = document.createElement('button'); b.type = 'button'; b.dataset.level = r.level;
    b.className = r.rating >= p.alpha ? 'above' : 'below';
    b.innerHTML = `<kbd>${r.level}</kbd><span><strong>r = ${r.rating}</strong> ${r.text}</span>`;
    b.addEventListener('click', () => pickLevel(r.level)); list.appendChild(b);
  }
  const fl = $('#failure-list'); fl.innerHTML = '';
  $('#no-match').hidden = !p.no_match;
  p.failure_categories.forEach((f, i) => {
    const b = document.createElement('button'); b.type = 'button'; b.dataset.failure = f.value;
    b.innerHTML = `<kbd>${'abcde'[i] || ''}</kbd><span>${f.label}</span>`;
    b.addEventListener('click', () => pickFailure(f.value)); fl.appendChild(b);
  });
  $('#rating').hidden = false; refreshRating();
}
function ratingOf(lv) { return p.rubric.find((r) => r.level === lv).rating; }
/** Why the rating step cannot take an answer yet, or null when it can. */
function notRating() {
  if (!task || !cur) return NO_SET;
  if (!cur.done) {
    const left = cur.total - 1 - cur.position;
    return `Rate after the comparisons: ${left} more to answer (← → ↓).`;
  }
  return null;
}
function pickLevel(lv) {
  const why = notRating(); if (why) return refuse(why);
  level = lv; if (ratingOf(lv) >= p.alpha || failure === NO_MATCH) failure = ''; refreshRating();
}
function pickFailure(v) {
  const why = notRating(); if (why) return refuse(why);
  if (level == null) return refuse('Pick the rating first (0–4); a reason is asked for only below the bar.');
  if (ratingOf(level) >= p.alpha) return refuse(`r = ${ratingOf(level)} meets the bar α = ${p.alpha}: no reason is needed. Enter submits.`);
  failure = v; refreshRating();
}
/** "None of these is this object": r = 0, and the set goes to the artists under a category of its own. */
const NO_MATCH = 'no_match';
function noMatch() {
  const why = notRating(); if (why) return refuse(why);
  if (!p.no_match) return refuse('This server does not take "none of these" answers.');
  level = p.no_match.level; failure = NO_MATCH; refreshRating();
}
function refreshRating() {
  for (const b of $('#rubric').children) b.classList.toggle('active', Number(b.dataset.level) === level && failure !== NO_MATCH);
  $('#no-match').classList.toggle('active', failure === NO_MATCH);
  const below = level != null && ratingOf(level) < p.alpha;
  $('#failure').hidden = !below || failure === NO_MATCH;
  for (const b of $('#failure-list').children) b.classList.toggle('active', b.dataset.failure === failure);
  $('#submit').disabled = level == null || (below && !failure);
}

async function submitRating() {
  const why = notRating(); if (why) return refuse(why);
  if (busy) return refuse('The rating is being sent…');
  if (level == null) return refuse('Pick a rating (0–4) before submitting, or N if none of these is the object.');
  if ($('#submit').disabled) return refuse(`Below the bar α = ${p.alpha}: pick why (A–E) before submitting.`);
  busy = true; $('#submit').disabled = true;
  try {
    await answerChain; // every comparison is recorded before the rating
    const r = await loop.submit({ level, failure_category: failure });
    toast(r.routed_to === 'align' ? `Rating r = ${r.rating} recorded: the winner goes on to pose alignment.`
      : r.routed_to === 'artist' ? (failure === NO_MATCH ? 'Recorded: none of these is the object. The set goes to the artists.'
        : `Rating r = ${r.rating} recorded: below the bar, the set goes to the artists.`)
        : `Rating r = ${r.rating} recorded.`);
    busy = false;
    await loop.next();
  } catch (err) { busy = false; refreshRating(); loop.fail(err); }
}

// --- controls ---
function toggle(btn, on) { btn.setAttribute('aria-pressed', String(on)); }
function turntable() { controls.autoRotate = !controls.autoRotate; toggle($('#btn-turntable'), controls.autoRotate); }
function wireframe() { dirty = true; material.wireframe = !material.wireframe; toggle($('#btn-wire'), material.wireframe); }
for (const b of document.querySelectorAll('[data-answer]')) b.addEventListener('click', (e) => answer(b.dataset.answer, e));
$('#btn-turntable').addEventListener('click', turntable);
$('#btn-wire').addEventListener('click', wireframe);
$('#btn-reset').addEventListener('click', resetView);
$('#submit').addEventListener('click', submitRating);
$('#no-match').addEventListener('click', noMatch);
$('#retry').addEventListener('click', () => loop.next());
$('#release').addEventListener('click', () => loop.giveBack('Set'));
controls.addEventListener('start', () => { if (controls.autoRotate) turntable(); }); // a drag takes over from the turntable
shortcuts({
  ArrowLeft: (e) => answer('left', e), ArrowRight: (e) => answer('right', e),
  ArrowDown: (e) => answer('equal', e), '=': (e) => answer('equal', e),
  0: () => pickLevel(0), 1: () => pickLevel(1), 2: () => pickLevel(2), 3: () => pickLevel(3), 4: () => pickLevel(4),
  ...Object.fromEntries([...'abcde'].map((k, i) => [k, () => pickFailure(p && p.failure_categories[i] ? p.failure_categories[i].value : '')])),
  n: noMatch, Enter: submitRating, t: turntable, w: wireframe, v: resetView, x: () => loop.extend(),
});
// What the browser tests read: the shared camera, the toggles, and how many candidates are parsed.
window.__rank = {
  azimuth: () => controls.getAzimuthalAngle(), distance: () => controls.getDistance(), turntable: () => controls.autoRotate, wireframe: () => material.wireframe,
  parsed: () => [...cache.values()].filter((pr) => pr.resolved).length,
};
resize();
loop.next();
