// three.js pieces shared by the 3D stages: renderer, neutral studio lighting, GLB loading.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const loader = new GLTFLoader();

let software = null;

/** Return true when WebGL is rendered on the CPU (SwiftShader, llvmpipe): then we skip MSAA. */
export function isSoftwareGL() {
  if (software !== null) return software;
  const probe = document.createElement('canvas');
  const gl = probe.getContext('webgl2') || probe.getContext('webgl');
  let name = '';
  if (gl) {
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const lose = gl.getExtension('WEBGL_lose_context'); if (lose) lose.loseContext();
  }
  software = /swiftshader|llvmpipe|softpipe|software/i.test(name);
  return software;
}

/** Return a renderer drawing into `canvas`; on software WebGL it drops MSAA and high-DPI to stay fast. */
export function makeRenderer(canvas, { alpha = false, preserve = false } = {}) {
  const cpu = isSoftwareGL();
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: !cpu, alpha, preserveDrawingBuffer: preserve });
  renderer.setPixelRatio(cpu ? 1 : Math.min(window.devicePixelRatio || 1, 1.5));
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  return renderer;
}

/** Add lights that show shape: a hemisphere fill and two directional keys. */
export function addStudioLights(scene) {
  scene.add(new THREE.HemisphereLight(0xffffff, 0x40444c, 1.4));
  const key = new THREE.DirectionalLight(0xffffff, 2.0); key.position.set(2, 3, 2.5); scene.add(key);
  const rim = new THREE.DirectionalLight(0xffffff, 0.8); rim.position.set(-2.5, 1, -2); scene.add(rim);
}

/** The neutral material every candidate gets, so only shape differs between them. */
export function neutralMaterial() {
  return new THREE.MeshStandardMaterial({ color: 0xb8bcc4, roughness: 0.55, metalness: 0.05, flatShading: false, side: THREE.DoubleSide });
}

/** Fetch a GLB's bytes (the network half of loading; done ahead of time for preloading). */
export async function fetchGLB(url) {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`Mesh ${url} could not be downloaded (HTTP ${res.status}).`);
  return res.arrayBuffer();
}

/** Parse GLB bytes into a group of meshes with the neutral material; compute normals if absent. */
export async function parseGLB(buffer, material) {
  const gltf = await loader.parseAsync(buffer, '');
  const group = new THREE.Group();
  const root = gltf.scene;
  root.traverse((o) => {
    if (o.isMesh) {
      if (!o.geometry.attributes.normal) o.geometry.computeVertexNormals();
      o.material = material;
    }
  });
  group.add(root);
  return group;
}

export async function loadGLB(url, material) { return parseGLB(await fetchGLB(url), material); }

/** Return the variance of the canvas's pixel values (0 for a blank frame); for tests. */
export function canvasVariance(canvas) {
  const c = document.createElement('canvas'); c.width = 96; c.height = 64;
  const ctx = c.getContext('2d'); ctx.drawImage(canvas, 0, 0, 96, 64);
  const d = ctx.getImageData(0, 0, 96, 64).data; let s = 0, s2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; s += v; s2 += v * v; n++; }
  return s2 / n - (s / n) ** 2;
}
window.__canvasVariance = (sel) => canvasVariance(document.querySelector(sel));

/** Move the camera along its line of sight so a sphere of `radius` at the target fills the view. */
export function frameCamera(camera, target, radius) {
  const vfov = THREE.MathUtils.degToRad(camera.fov);
  const hfov = 2 * Math.atan(Math.tan(vfov / 2) * camera.aspect);
  const d = radius / Math.sin(Math.min(vfov, hfov) / 2);
  const dir = camera.position.clone().sub(target);
  if (dir.lengthSq() < 1e-12) dir.set(0.55, 0.35, 0.76);
  camera.position.copy(target).add(dir.normalize().multiplyScalar(d));
  camera.updateProjectionMatrix();
}

/** Free the GPU buffers of every mesh under `root` (a day of tasks must not pile up geometry). */
export function disposeTree(root) {
  if (!root) return;
  root.traverse((o) => { if (o.geometry) o.geometry.dispose(); });
}
