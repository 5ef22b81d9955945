// Stage 3: pose the mesh in the image's 2.5D scene (point cloud + camera), with a live mask IoU.
//
// The scene is kept in OpenCV camera coordinates (x right, y down, z forward) under one root
// turned 180° about x, so three.js (y up, looking down -z) sees it the right way up. The mesh's
// pose is then exactly the API's: p_cam = scale * R @ p_obj + t.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { TransformControls } from 'three/addons/controls/TransformControls.js';
import { $, api, banner, decodeRLE, drawMask, imageWithMask, loadImage, shortcuts, TaskLoop, toast } from 'ui/common.js';
import { addStudioLights, disposeTree, isSoftwareGL, loadGLB, makeRenderer, neutralMaterial } from 'ui/viewer.js';

const view = $('#view'), canvas = $('#scene-canvas'), overlay = $('#target-overlay');
const renderer = makeRenderer(canvas);
// On CPU-rendered WebGL the frame is fill-bound: draw at a lower resolution while the user
// moves something, and redraw sharp once they stop.
const FULL = renderer.getPixelRatio(), MOVING = isSoftwareGL() ? 0.6 : FULL;
let sharpTimer = 0;
function quality(moving) {
  const pr = moving ? MOVING : FULL;
  if (renderer.getPixelRatio() !== pr) { renderer.setPixelRatio(pr); dirty = true; }
}
function moving() {
  quality(true); clearTimeout(sharpTimer);
  sharpTimer = setTimeout(() => { if (!window.__alwaysRender) quality(false); }, 250);
}
const scene = new THREE.Scene();
const dark = new THREE.Color(0x1b1d22);
scene.background = dark;
addStudioLights(scene);
const root = new THREE.Group(); root.rotation.x = Math.PI; scene.add(root);
const pivot = new THREE.Group(); root.add(pivot); // carries the pose (t, R, s)
const material = neutralMaterial(); material.transparent = true; material.opacity = 0.65; // the photo shows through

const camCamera = new THREE.PerspectiveCamera(); // the image's camera, set from the intrinsics
const orbitCamera = new THREE.PerspectiveCamera(40, 1, 0.01, 200);
const orbit = new OrbitControls(orbitCamera, canvas); orbit.enableDamping = false;
let active = camCamera, viewName = 'camera';
const gizmo = new TransformControls(camCamera, canvas);
gizmo.attach(pivot); scene.add(gizmo.getHelper());
gizmo.addEventListener('dragging-changed', (e) => { orbit.enabled = !e.value && active === orbitCamera; });

let task = null, p = null, intr = null, points = null, pointMaterial = null, imageTexture = null;
let meshObject = null, silhouette = null, maskPixels = null, targetOn = true, meshOn = true, gizmoOn = true;
let undo = [], redo = [], dirty = true, rect = { x: 0, y: 0, w: 1, h: 1 };

// --- viewport: letterboxed to the image's aspect, so the camera view matches the photograph ---
function layout() {
  const W = view.clientWidth, H = view.clientHeight;
  const aspect = intr ? intr.width / intr.height : 4 / 3;
  let w = W, h = W / aspect; if (h > H) { h = H; w = H * aspect; }
  rect = { x: Math.round((W - w) / 2), y: Math.round((H - h) / 2), w: Math.round(w), h: Math.round(h) };
  for (const el of [canvas, overlay]) Object.assign(el.style, { left: rect.x + 'px', top: rect.y + 'px', width: rect.w + 'px', height: rect.h + 'px' });
  renderer.setSize(rect.w, rect.h, false);
  orbitCamera.aspect = rect.w / rect.h; orbitCamera.updateProjectionMatrix();
  dirty = true;
}
new ResizeObserver(layout).observe(view);

/** Set a camera's projection from pinhole intrinsics (principal point included). */
function intrinsicsProjection(cam, k, near = 0.01, far = 200) {
  const { fx, fy, cx, cy, width: w, height: h } = k;
  cam.projectionMatrix.set(
    2 * fx / w, 0, 1 - 2 * cx / w, 0,
    0, 2 * fy / h, 2 * cy / h - 1, 0,
    0, 0, -(far + near) / (far - near), -2 * far * near / (far - near),
    0, 0, -1, 0);
  cam.projectionMatrixInverse.copy(cam.projectionMatrix).invert();
  cam.position.set(0, 0, 0); cam.quaternion.identity(); cam.updateMatrixWorld();
}

// --- the pose, its history, and the readout ---
const getPose = () => ({ t: pivot.position.toArray(), q: pivot.quaternion.toArray(), s: pivot.scale.x });
function setPose(pose) { pivot.position.fromArray(pose.t); pivot.quaternion.fromArray(pose.q); pivot.scale.setScalar(pose.s); changed(); }
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
function remember(before) { if (same(before, getPose())) return; undo.push(before); redo = []; updateHistory(); }
function doUndo() { if (!undo.length) return; redo.push(getPose()); setPose(undo.pop()); updateHistory(); }
function doRedo() { if (!redo.length) return; undo.push(getPose()); setPose(redo.pop()); updateHistory(); }
function updateHistory() { $('#btn-undo').disabled = !undo.length; $('#btn-redo').disabled = !redo.length; }
let dragStart = null;
gizmo.addEventListener('mouseDown', () => { dragStart = getPose(); });
gizmo.addEventListener('mouseUp', () => { if (dragStart) remember(dragStart); dragStart = null; });
gizmo.addEventListener('objectChange', () => { if (gizmo.mode === 'scale') uniformScale(); changed(); });
function uniformScale() { // the API's scale is one number: follow the axis the user dragged
  const s0 = dragStart ? dragStart.s : pivot.scale.x, s = pivot.scale;
  const pick = [s.x, s.y, s.z].reduce((a, b) => (Math.abs(b - s0) > Math.abs(a - s0) ? b : a));
  pivot.scale.setScalar(Math.max(1e-3, pick));
}
function changed() { dirty = true; iouDue = true; moving(); readout(); saveDraftSoon(); }

// --- drafts: the pose of a task is kept in this browser until it is submitted, so a reload loses nothing ---
const draftKey = (id) => `engine.align.draft.${id}`;
let draftTimer = 0, draftNote = '';
function saveDraftSoon() {
  if (!task || restoring) return;
  const id = task.id; clearTimeout(draftTimer);
  draftTimer = setTimeout(() => {
    try { localStorage.setItem(draftKey(id), JSON.stringify({ ...getPose(), undo: undo.slice(-50), savedAt: Date.now() })); } catch (e) { /* storage full or off: the draft is a convenience */ }
  }, 150);
}
let restoring = false;
function restoreDraft(id) {
  draftNote = '';
  let d = null;
  try { d = JSON.parse(localStorage.getItem(draftKey(id)) || 'null'); } catch (e) { d = null; }
  if (!d || !Array.isArray(d.t) || !Array.isArray(d.q)) return false;
  restoring = true; setPose({ t: d.t, q: d.q, s: d.s }); restoring = false;
  undo = Array.isArray(d.undo) ? d.undo : []; redo = []; updateHistory();
  draftNote = `Your unsubmitted pose of ${new Date(d.savedAt).toLocaleTimeString()} is back (undo steps too).`;
  return true;
}
function dropDraft(id) { clearTimeout(draftTimer); localStorage.removeItem(draftKey(id)); }
window.__alignDraft = (id) => JSON.parse(localStorage.getItem(draftKey(id)) || 'null');

/** Say plainly whether the image has a point cloud; without one the Points toggle is off and disabled. */
function showCloudState() {
  const has = !!points, b = $('#btn-points');
  b.disabled = !has; pressed('#btn-points', has && points.visible);
  b.title = has ? 'Point cloud visible / hidden (P)' : 'This image has no point cloud';
  $('#no-cloud').hidden = has;
}
function readout() {
  const t = pivot.position, e = new THREE.Euler().setFromQuaternion(pivot.quaternion, 'XYZ');
  const d = (r) => (r * 180 / Math.PI).toFixed(1);
  $('#readout').textContent = `t  ${t.x.toFixed(3)} ${t.y.toFixed(3)} ${t.z.toFixed(3)}\nR° ${d(e.x)} ${d(e.y)} ${d(e.z)}\ns  ${pivot.scale.x.toFixed(3)}`;
}

// --- keyboard nudges: fine (Alt) and coarse (Shift) steps, in camera axes ---
const STEP = { translate: 0.01, rotate: THREE.MathUtils.degToRad(1), scale: 0.01 };
function nudge(axis, sign, e) {
  if (!task) return;
  const k = e.shiftKey ? 10 : e.altKey ? 0.1 : 1, before = getPose(), mode = gizmo.mode;
  if (mode === 'translate') {
    pivot.position.setComponent(axis, pivot.position.getComponent(axis) + sign * STEP.translate * k);
  } else if (mode === 'rotate') {
    // ←/→ turn about the vertical axis, ↑/↓ tilt about the horizontal one, PgUp/PgDn roll.
    const about = [1, 0, 2][axis];
    const q = new THREE.Quaternion().setFromAxisAngle(new THREE.Vector3().setComponent(about, 1), sign * STEP.rotate * k);
    pivot.quaternion.premultiply(q); // about the camera's axes, through the object's centre
  } else {
    if (axis !== 1) return;
    pivot.scale.setScalar(Math.max(1e-3, pivot.scale.x * (1 - sign * STEP.scale * k)));
  }
  remember(before); changed();
}
function setMode(mode) {
  gizmo.setMode(mode); $('#mode').textContent = mode;
  for (const b of document.querySelectorAll('[data-mode]')) b.classList.toggle('active', b.dataset.mode === mode);
}

// --- views: front / side / top orbit around the mesh, or the image's own camera ---
function setView(name) {
  viewName = name;
  for (const b of document.querySelectorAll('[data-view]')) b.classList.toggle('active', b.dataset.view === name);
  $('#viewname').textContent = name === 'camera' ? 'camera view' : name + ' view' + (points ? '' : ' · mesh alone: no point cloud');
  if (name === 'camera') {
    active = camCamera; orbit.enabled = false;
  } else {
    const target = pivot.getWorldPosition(new THREE.Vector3());
    const d = Math.max(1.5, 3 * pivot.scale.x);
    // Directions in OpenCV camera axes, turned into the scene by the root's 180° about x.
    const dir = { front: [0, 0, -1], side: [1, 0, 0], top: [0, -1, 0] }[name];
    const offset = new THREE.Vector3(...dir).applyQuaternion(root.quaternion).multiplyScalar(d);
    orbitCamera.position.copy(target).add(offset);
    orbitCamera.up.set(0, 1, 0); if (name === 'top') orbitCamera.up.set(0, 0, -1);
    orbit.target.copy(target); orbitCamera.lookAt(target); orbit.update();
    active = orbitCamera; orbit.enabled = true;
  }
  gizmo.camera = active;
  scene.background = name === 'camera' && imageTexture ? imageTexture : dark;
  overlay.hidden = !(name === 'camera' && targetOn);
  dirty = true;
}

// --- toggles ---
function pressed(id, on) { $(id).setAttribute('aria-pressed', String(on)); }
function toggleMesh() { meshOn = !meshOn; pivot.visible = meshOn; pressed('#btn-mesh', meshOn); dirty = true; }
function toggleGizmo() { gizmoOn = !gizmoOn; gizmo.getHelper().visible = gizmoOn; gizmo.enabled = gizmoOn; pressed('#btn-gizmo', gizmoOn); dirty = true; }
function toggleTarget() { targetOn = !targetOn; paintTarget(); overlay.hidden = !(viewName === 'camera' && targetOn); pressed('#btn-target', targetOn); dirty = true; }
function togglePoints() { if (!points) { banner('This image has no point cloud: align by the photograph in the camera view and the mask IoU.', 'info'); return; } points.visible = !points.visible; pressed('#btn-points', points.visible); dirty = true; }
function pointSize(f) { if (!pointMaterial) return; pointMaterial.size = THREE.MathUtils.clamp(pointMaterial.size * f, 0.5, 12); dirty = true; }

// --- the task ---
const loop = new TaskLoop('align', { onTask: start, emptyEl: $('#empty'), onClear: clear });

function clear() {
  task = null; $('#submit').disabled = true;
  if (meshObject) { pivot.remove(meshObject); disposeTree(meshObject); meshObject = null; } // the silhouette shares its buffers
  if (points) { root.remove(points); points.geometry.dispose(); points = null; }
  undo = []; redo = []; updateHistory();
}

async function start(t) {
  task = t; p = t.payload; intr = p.intrinsics;
  layout(); intrinsicsProjection(camCamera, intr);
  $('#obj-desc').textContent = [p.object.category, p.object.description].filter(Boolean).join(' — ');
  const [img] = await Promise.all([imageWithMask($('#ref'), p.image, p.object), loadMesh(), loadMask()]);
  if (imageTexture) imageTexture.dispose();
  imageTexture = new THREE.Texture(img); imageTexture.colorSpace = THREE.SRGBColorSpace; imageTexture.needsUpdate = true;
  await loadPoints(img);
  const ip = p.initial_pose, [w, x, y, z] = ip.rotation.quaternion;
  restoring = true; setPose({ t: ip.translation, q: [x, y, z, w], s: ip.scale }); restoring = false; // no draft of its own
  restoreDraft(t.id); showCloudState(); $('#start-note').textContent = draftNote || (p.initial_pose_note || {}).text || '';
  drawOverlay(); setView('camera'); setMode('translate');
  $('#submit').disabled = false;
  // The server says why there is no point cloud (no estimator, or not estimated yet), or that it is estimated.
  $('#status').textContent = p.point_cloud_note || (p.point_cloud_url ? '' : 'No point cloud: align by the image and the mesh IoU.');
  firstFrameDue = true;
  window.__align = { ready: true, taskId: t.id };
}

async function loadMesh() {
  const group = await loadGLB(p.mesh_url, material);
  meshObject = group; pivot.add(group);
  silhouette = group.clone(true);
  const white = new THREE.MeshBasicMaterial({ color: 0xffffff, side: THREE.DoubleSide });
  silhouette.traverse((o) => { if (o.isMesh) o.material = white; });
  silScene.add(silRoot); silRoot.clear(); silRoot.add(silPivot); silPivot.clear(); silPivot.add(silhouette);
}

async function loadPoints(img) {
  if (!p.point_cloud_url) return;
  const res = await fetch(p.point_cloud_url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`The point cloud could not be downloaded (HTTP ${res.status}).`);
  const xyz = new Float32Array(await res.arrayBuffer());
  const n = Math.floor(xyz.length / 3);
  // Colour each point by the pixel it projects to, and remember which points fall in the mask.
  const c = document.createElement('canvas'); c.width = intr.width; c.height = intr.height;
  const ctx = c.getContext('2d', { willReadFrequently: true }); ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, intr.width, intr.height).data;
  const mask = decodeRLE(p.object.mask);
  const colors = new Float32Array(n * 3), base = new Float32Array(n * 3), inMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const X = xyz[3 * i], Y = xyz[3 * i + 1], Z = xyz[3 * i + 2];
    const u = Math.round(intr.fx * X / Z + intr.cx), v = Math.round(intr.fy * Y / Z + intr.cy);
    if (Z > 0 && u >= 0 && v >= 0 && u < intr.width && v < intr.height) {
      const j = (v * intr.width + u) * 4;
      base[3 * i] = px[j] / 255; base[3 * i + 1] = px[j + 1] / 255; base[3 * i + 2] = px[j + 2] / 255;
      inMask[i] = mask[v * intr.width + u];
    } else { base[3 * i] = base[3 * i + 1] = base[3 * i + 2] = 0.5; }
  }
  colors.set(base);
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.BufferAttribute(xyz.subarray(0, n * 3), 3));
  geometry.setAttribute('color', new THREE.BufferAttribute(colors, 3));
  pointMaterial = pointMaterial || new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true });
  points = new THREE.Points(geometry, pointMaterial);
  points.userData = { base, inMask };
  root.add(points);
  paintTarget();
}

function paintTarget() { // the target indicator: the object's points tinted orange
  if (!points) return;
  const { base, inMask } = points.userData, col = points.geometry.attributes.color;
  for (let i = 0; i < inMask.length; i++) {
    if (!inMask[i]) continue;
    if (targetOn) { col.array[3 * i] = 1.0; col.array[3 * i + 1] = 0.55 + 0.2 * base[3 * i + 1]; col.array[3 * i + 2] = 0.1; }
    else { col.array[3 * i] = base[3 * i]; col.array[3 * i + 1] = base[3 * i + 1]; col.array[3 * i + 2] = base[3 * i + 2]; }
  }
  col.needsUpdate = true;
}

function drawOverlay() { // the target's outline over the photograph, in the camera view
  overlay.width = intr.width; overlay.height = intr.height;
  const ctx = overlay.getContext('2d'); ctx.clearRect(0, 0, intr.width, intr.height);
  drawMask(ctx, decodeRLE(p.object.mask), intr.width, intr.height, { stroke: '#ff9d2e', fill: null, width: Math.max(1, Math.round(intr.width / 400)) });
}

// --- the live mask IoU: the posed mesh's silhouette through the image's camera, at low resolution ---
const silScene = new THREE.Scene(); silScene.background = new THREE.Color(0x000000);
const silRoot = new THREE.Group(); silRoot.rotation.x = Math.PI; const silPivot = new THREE.Group();
let silTarget = null, silSize = null, iouDue = true, lastIou = 0;
async function loadMask() {
  const img = await loadImage(p.object.mask_url);
  const s = Math.min(1, 192 / Math.max(intr.width, intr.height));
  silSize = { w: Math.max(8, Math.round(intr.width * s)), h: Math.max(8, Math.round(intr.height * s)) };
  const c = document.createElement('canvas'); c.width = silSize.w; c.height = silSize.h;
  const ctx = c.getContext('2d', { willReadFrequently: true }); ctx.drawImage(img, 0, 0, silSize.w, silSize.h);
  const d = ctx.getImageData(0, 0, silSize.w, silSize.h).data;
  maskPixels = new Uint8Array(silSize.w * silSize.h);
  for (let i = 0; i < maskPixels.length; i++) maskPixels[i] = d[4 * i] > 127 ? 1 : 0;
  if (silTarget) silTarget.dispose();
  silTarget = new THREE.WebGLRenderTarget(silSize.w, silSize.h);
}
const silBuffer = { data: null };
function computeIou() {
  if (!silTarget || !silhouette || !maskPixels) return null;
  silPivot.position.copy(pivot.position); silPivot.quaternion.copy(pivot.quaternion); silPivot.scale.copy(pivot.scale);
  renderer.setRenderTarget(silTarget); renderer.setScissorTest(false);
  renderer.render(silScene, camCamera);
  renderer.setRenderTarget(null);
  const n = silSize.w * silSize.h;
  if (!silBuffer.data || silBuffer.data.length !== 4 * n) silBuffer.data = new Uint8Array(4 * n);
  renderer.readRenderTargetPixels(silTarget, 0, 0, silSize.w, silSize.h, silBuffer.data);
  let inter = 0, union = 0;
  for (let y = 0; y < silSize.h; y++) {
    const row = (silSize.h - 1 - y) * silSize.w; // GL rows run bottom-up
    for (let x = 0; x < silSize.w; x++) {
      const a = silBuffer.data[4 * (row + x)] > 127, b = maskPixels[y * silSize.w + x] === 1;
      if (a && b) inter++; if (a || b) union++;
    }
  }
  return union ? inter / union : 0;
}

// --- render loop ---
let lastIouAt = 0, frames = 0, firstFrameDue = false;
function frame(now) {
  requestAnimationFrame(frame);
  if (task && iouDue && now - lastIouAt > 100) {
    iouDue = false; lastIouAt = now;
    const iou = computeIou();
    if (iou != null) { lastIou = iou; $('#iou').textContent = `IoU ${(iou * 100).toFixed(1)}%`; }
  }
  if (active === orbitCamera) orbit.update();
  if (!dirty && !window.__alwaysRender) return;
  dirty = false;
  renderer.setViewport(0, 0, rect.w, rect.h); renderer.setScissorTest(false);
  renderer.render(scene, active);
  frames++;
  if (firstFrameDue) { // from asking for the task (claim or resume) to the first frame with the posed mesh
    firstFrameDue = false;
    performance.mark('align-first-frame-end');
    const d = performance.measure('align-first-frame', 'task-request', 'align-first-frame-end').duration;
    (window.__perf.alignFirstFrame = window.__perf.alignFirstFrame || []).push({ fromRequest: d, fromPageStart: performance.now() });
  }
}
requestAnimationFrame(frame);
orbit.addEventListener('change', () => { dirty = true; moving(); });
gizmo.addEventListener('change', () => { dirty = true; if (gizmo.dragging) moving(); });

window.__alignPoints = () => (points ? points.geometry.attributes.position.count : 0);
// What the browser tests read: the state of every tool.
window.__alignState = () => ({
  mesh: pivot.visible, gizmo: gizmo.getHelper().visible && gizmo.enabled, target: targetOn, overlay: !overlay.hidden,
  points: !!points && points.visible, pointSize: pointMaterial ? pointMaterial.size : null, view: viewName,
  camera: active === camCamera ? 'image' : 'orbit', mode: gizmo.mode, iou: lastIou, undo: undo.length, redo: redo.length,
});

/** Measure the frame rate while rendering every frame, at the resolution used while moving or at rest. */
window.__measureFps = (ms = 3000, whileMoving = false) => new Promise((resolve) => {
  quality(whileMoving);
  window.__alwaysRender = true; const f0 = frames, t0 = performance.now();
  performance.mark('fps-start');
  setTimeout(() => {
    performance.mark('fps-end'); window.__alwaysRender = false; quality(false);
    const fps = (frames - f0) * 1000 / (performance.now() - t0);
    window.__perf.fps.push(fps); resolve(fps);
  }, ms);
});

async function submitPose() {
  if (!task || $('#submit').disabled) return;
  $('#submit').disabled = true;
  const q = pivot.quaternion, t = pivot.position;
  try {
    const id = task.id;
    await loop.submit({ rotation: { quaternion: [q.w, q.x, q.y, q.z] }, translation: [t.x, t.y, t.z], scale: pivot.scale.x });
    dropDraft(id);
    toast(`Pose submitted (mask IoU ${(lastIou * 100).toFixed(1)}%).`);
    window.__align = { ready: false };
    await loop.next();
  } catch (err) { $('#submit').disabled = false; loop.fail(err); }
}

// --- wiring ---
for (const b of document.querySelectorAll('[data-mode]')) b.addEventListener('click', () => setMode(b.dataset.mode));
for (const b of document.querySelectorAll('[data-view]')) b.addEventListener('click', () => setView(b.dataset.view));
$('#btn-mesh').addEventListener('click', toggleMesh);
$('#btn-gizmo').addEventListener('click', toggleGizmo);
$('#btn-target').addEventListener('click', toggleTarget);
$('#btn-points').addEventListener('click', togglePoints);
$('#btn-smaller').addEventListener('click', () => pointSize(1 / 1.4));
$('#btn-larger').addEventListener('click', () => pointSize(1.4));
$('#btn-undo').addEventListener('click', doUndo);
$('#btn-redo').addEventListener('click', doRedo);
$('#submit').addEventListener('click', submitPose);
$('#retry').addEventListener('click', () => loop.next());
$('#release').addEventListener('click', () => loop.giveBack('Task'));
const arrows = {
  ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 1], ArrowUp: [1, -1], PageDown: [2, -1], PageUp: [2, 1],
};
const keymap = {
  w: () => setMode('translate'), e: () => setMode('rotate'), r: () => setMode('scale'),
  m: toggleMesh, p: togglePoints, t: toggleTarget, h: toggleGizmo, '[': () => pointSize(1 / 1.4), ']': () => pointSize(1.4),
  1: () => setView('front'), 2: () => setView('side'), 3: () => setView('top'), 4: () => setView('camera'), 0: () => setView('camera'),
  'ctrl+z': doUndo, 'ctrl+Z': doRedo, 'ctrl+shift+z': doRedo, 'ctrl+y': doRedo, Enter: submitPose, x: () => loop.extend(),
};
for (const [key, [axis, sign]] of Object.entries(arrows)) {
  keymap[key] = (e) => nudge(axis, sign, e);
  keymap['shift+' + key] = (e) => nudge(axis, sign, e);
}
shortcuts(keymap);
layout();
loop.next();
