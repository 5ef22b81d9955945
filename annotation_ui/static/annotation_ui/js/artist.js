// Stage 2.5: the artist's case: why it failed, the best candidate, the archive; upload and check a mesh.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { $, api, banner, imageWithMask, projectId, shortcuts, TaskLoop, toast } from 'ui/common.js';
import { addStudioLights, disposeTree, frameCamera, loadGLB, makeRenderer, neutralMaterial } from 'ui/viewer.js';

const material = neutralMaterial();
const clock = new THREE.Clock();

/** A small turntable viewer: one renderer, one camera, a holder for the mesh. */
function viewer(canvas, { alpha = false } = {}) {
  const renderer = makeRenderer(canvas, { alpha });
  const scene = new THREE.Scene(); if (!alpha) scene.background = new THREE.Color(0x24272d);
  addStudioLights(scene);
  const holder = new THREE.Group(); scene.add(holder);
  const camera = new THREE.PerspectiveCamera(30, 1, 0.05, 50); camera.position.set(2.0, 1.3, 3.0);
  const controls = new OrbitControls(camera, canvas); controls.autoRotate = true; controls.autoRotateSpeed = 1.5;
  const v = { renderer, scene, holder, camera, controls, canvas, size: [0, 0] };
  v.resize = () => {
    const w = canvas.clientWidth, h = canvas.clientHeight; if (!w || !h) return;
    renderer.setSize(w, h, false); camera.aspect = w / h; frameCamera(camera, controls.target, v.radius);
  };
  v.radius = 0.95;
  new ResizeObserver(v.resize).observe(canvas);
  return v;
}
function fit(group) {
  const box = new THREE.Box3().setFromObject(group), size = box.getSize(new THREE.Vector3());
  group.children[0].position.sub(box.getCenter(new THREE.Vector3()));
  group.scale.setScalar(1.3 / Math.max(size.x, size.y, size.z, 1e-6)); return group;
}
const best = viewer($('#best-canvas'));
const upload = viewer($('#upload-canvas'), { alpha: true });
upload.camera.position.set(0, 0.25, 3.6); upload.radius = 0.75; // near the image's view, so the overlay reads as "in the photo"
function frame() {
  requestAnimationFrame(frame);
  const dt = clock.getDelta();
  for (const v of [best, upload]) { v.controls.update(dt); v.renderer.render(v.scene, v.camera); }
}
requestAnimationFrame(frame);

// --- the upload shown over the object's place in the image ---
let p = null, task = null, uploads = [], overlayOn = true;
const stage = $('#overlay-stage'), img = $('#overlay-img');
function placeOverlay() {
  const c = upload.canvas;
  if (!p || !overlayOn) { Object.assign(c.style, { left: '0px', top: '0px', width: '100%', height: '100%' }); upload.resize(); return; }
  const W = stage.clientWidth, H = stage.clientHeight, s = Math.min(W / p.image.width, H / p.image.height);
  const ox = (W - p.image.width * s) / 2, oy = (H - p.image.height * s) / 2;
  const [x0, y0, x1, y1] = p.object.bbox, pad = 0.15 * Math.max(x1 - x0, y1 - y0);
  Object.assign(c.style, {
    left: ox + (x0 - pad) * s + 'px', top: oy + (y0 - pad) * s + 'px',
    width: (x1 - x0 + 2 * pad) * s + 'px', height: (y1 - y0 + 2 * pad) * s + 'px',
  });
  upload.resize();
}
new ResizeObserver(placeOverlay).observe(stage);
function toggleOverlay() {
  overlayOn = !overlayOn; stage.classList.toggle('alone', !overlayOn);
  $('#overlay-mode').textContent = overlayOn ? 'over the image' : 'alone';
  upload.scene.background = overlayOn ? null : new THREE.Color(0x24272d); placeOverlay();
}

// --- uploading ---
async function send(file) {
  if (!task || !file) return;
  $('#upload-error').textContent = ''; $('#upload-status').textContent = `Uploading ${file.name} (${(file.size / 1e6).toFixed(2)} MB)…`;
  const form = new FormData(); form.append('mesh', file);
  try {
    const m = await api('POST', `/api/tasks/${task.id}/upload/`, form);
    uploads.push(m); renderUploads();
    $('#upload-status').textContent = `Accepted: ${m.triangles.toLocaleString()} triangles, ${m.vertices.toLocaleString()} vertices (${m.format}). Check it over the image, then submit.`;
    await showUpload(m);
  } catch (err) {
    $('#upload-status').textContent = '';
    if (err.code === 'upload_rejected' || err.code === 'invalid') {
      $('#upload-error').textContent = `${file.name} was refused: ${err.message}`;
    } else loop.fail(err);
  } finally { $('#file').value = ''; }
}
async function showUpload(m) {
  const g = fit(await loadGLB(m.mesh_url, material));
  disposeTree(upload.holder); upload.holder.clear(); upload.holder.add(g);
  $('#no-upload').hidden = true; $('#submit').disabled = false;
  window.__artist.uploaded = m.id;
}
function renderUploads() {
  const ul = $('#uploads'); ul.innerHTML = '';
  uploads.forEach((m, i) => {
    const li = document.createElement('li');
    li.textContent = `#${m.id} · ${m.format} · ${m.triangles.toLocaleString()} triangles${i === uploads.length - 1 ? ' (will be submitted)' : ''}`;
    ul.appendChild(li);
  });
}

// --- the case ---
const loop = new TaskLoop('artist', { onTask: start, emptyEl: $('#empty'), onClear: clear });
function clear() {
  task = null; p = null; uploads = []; renderUploads();
  for (const v of [best, upload]) { disposeTree(v.holder); v.holder.clear(); }
  $('#submit').disabled = true; $('#no-upload').hidden = false; $('#upload-error').textContent = ''; $('#upload-status').textContent = '';
}
async function start(t) {
  task = t; p = t.payload; window.__artist = { ready: false };
  $('#reason').textContent = `Reason: ${p.failure_label}`; $('#reason-inline').textContent = p.failure_label;
  $('#rating').textContent = `Best candidate rated r = ${p.rating} in Stage 2 (below the bar).`;
  $('#obj-desc').textContent = [p.object.category, p.object.description].filter(Boolean).join(' — ');
  $('#bundle').href = p.bundle_url; $('#bundle').setAttribute('download', `case-${t.id}.zip`);
  img.src = p.image.url; placeOverlay();
  const jobs = [imageWithMask($('#ref'), p.image, p.object)];
  $('#no-best').hidden = !!p.best_candidate;
  if (p.best_candidate) jobs.push(loadGLB(p.best_candidate.mesh_url, material).then((g) => { best.holder.add(fit(g)); }));
  await Promise.all(jobs);
  uploads = p.uploads || []; renderUploads();
  if (uploads.length) await showUpload(uploads[uploads.length - 1]);
  window.__artist.ready = true;
  refreshGroups();
}
async function refreshGroups() {
  const r = await fetch(`/ui-api/artist-queue/?project=${projectId()}`, { credentials: 'same-origin' }).then((x) => x.json()).catch(() => null);
  const ul = $('#groups'); ul.innerHTML = '';
  if (!r || !r.categories.length) { ul.innerHTML = '<li class="muted">No open cases.</li>'; return; }
  // Each category is a button: the next case comes from it (the one in hand is given back first).
  const pick = (value) => async () => {
    loop.filter = value ? { failure_category: value } : {};
    if (task && value && task.payload.failure_category !== value) await loop.release();
    if (!task || !value || task.payload.failure_category !== value) await loop.next();
  };
  for (const c of [{ value: '', count: r.categories.reduce((n, x) => n + x.count, 0) }, ...r.categories]) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.className = 'link group'; b.dataset.category = c.value;
    b.textContent = `${c.value ? c.value.replace('_', ' ') : 'any category'}: ${c.count} open`;
    const chosen = (loop.filter.failure_category || '') === c.value;
    b.setAttribute('aria-pressed', String(chosen));
    if (chosen) b.style.fontWeight = '700';
    b.addEventListener('click', pick(c.value));
    li.appendChild(b); ul.appendChild(li);
  }
}
async function submit() {
  if (!task || $('#submit').disabled || !uploads.length) return;
  $('#submit').disabled = true;
  try {
    await loop.submit({ mesh: uploads[uploads.length - 1].id });
    toast('Mesh submitted: the case goes on to pose alignment (Stage 3).');
    await loop.next();
  } catch (err) { $('#submit').disabled = false; loop.fail(err); }
}

// --- wiring ---
const drop = $('#drop');
$('#file').addEventListener('change', (e) => send(e.target.files[0]));
for (const ev of ['dragenter', 'dragover']) document.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
document.addEventListener('dragleave', () => drop.classList.remove('over'));
document.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]); });
function turntable() { const on = !best.controls.autoRotate; best.controls.autoRotate = upload.controls.autoRotate = on; $('#btn-turntable').setAttribute('aria-pressed', String(on)); }
function wireframe() { material.wireframe = !material.wireframe; $('#btn-wire').setAttribute('aria-pressed', String(material.wireframe)); }
$('#btn-turntable').addEventListener('click', turntable);
$('#btn-wire').addEventListener('click', wireframe);
$('#submit').addEventListener('click', submit);
$('#retry').addEventListener('click', () => loop.next());
$('#release').addEventListener('click', () => loop.giveBack('Case'));
shortcuts({
  b: () => { if (task) $('#bundle').click(); }, u: () => $('#file').click(), o: toggleOverlay, t: turntable, w: wireframe,
  Enter: submit, x: () => loop.extend(),
});
window.__artist = { ready: false };
loop.next();
