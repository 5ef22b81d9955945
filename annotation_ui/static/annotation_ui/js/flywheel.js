// The dashboard's flywheel panel: start iteration k (POST /api/projects/<id>/flywheel/) and follow
// the newest run live (GET /api/flywheel/runs/<id>/ every 2 s while it runs, every 15 s after).
import { api } from 'ui/common.js';

const panel = document.querySelector('[data-flywheel]');
const STEPS = ['collect', 'aggregate', 'sft', 'dpo', 'evaluate', 'promote', 'redeploy'];
const TRAINER = ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies'];
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
const num = (v, d = 4) => (typeof v === 'number' ? v.toPrecision(d) : '–');

function metrics(run) {
  const before = run.metrics_before?.metrics || {}, after = run.metrics_after?.metrics || {};
  const delta = run.comparison?.delta || {}, se = run.comparison?.delta_se || {};
  const rows = Object.keys(delta).map((k) => `<tr><td>${esc(k)}</td><td class="num">${num(before[k])}</td>` +
    `<td class="num">${num(after[k])}</td><td class="num">${num(delta[k], 3)} ± ${num(se[k], 2)}</td></tr>`);
  const pref = run.comparison?.preference?.a;
  return rows.length ? `<table><tr><th>held-out metric</th><th class="num">π_{k−1}</th><th class="num">π_k</th>` +
    `<th class="num">paired Δ ± SE</th></tr>${rows.join('')}</table>` +
    `<p>held-out preference accuracy: ${pref ? `${num(pref.accuracy, 3)} ± ${num(pref.se, 2)} on ${pref.n} pairs` : '–'}</p>` : '';
}

function render(run) {
  const done = run.step_seconds || {};
  const steps = STEPS.map((s) => {
    const state = s in done ? `✓ ${done[s].toFixed(1)} s` : (run.step === s && run.status === 'running' ? '…' : '');
    return `<li class="${run.step === s ? 'current' : ''}">${s} <span class="muted">${state}</span></li>`;
  }).join('');
  const p = run.progress || {};
  const live = p.stage ? `<p>${esc(p.stage)} step ${p.step ?? '?'} / ${p.steps ?? '?'} · ` +
    TRAINER.filter((k) => k in p).map((k) => `${k} ${num(p[k])}`).join(' · ') + '</p>' : '';
  const c = run.counts?.collection;
  return `<p><strong>run ${run.id}</strong> · iteration ${run.iteration} · α_k = ${run.alpha} · ` +
    `<strong>${esc(run.status)}</strong>${run.decision ? ` · ${esc(run.decision)}` : ''}</p>` +
    `<ol class="row">${steps}</ol>${live}` +
    (c ? `<p class="muted">collected ${c.samples} / ${c.target} samples · acceptance ` +
      `${run.acceptance_rate == null ? '–' : Math.round(100 * run.acceptance_rate) + ' %'}</p>` : '') +
    metrics(run) + (run.comparison?.dpo_stage ? `<p data-dpo-stage>${esc(run.comparison.dpo_stage.reason)}</p>` : '') +
    (run.reason ? `<p>${esc(run.reason)}</p>` : '') +
    (run.error ? `<pre class="error">${esc(run.error.split('\n')[0])}</pre>` : '');
}

let current = null;
async function poll() {
  let run = null;
  try {
    run = current ? await api('GET', `/api/flywheel/runs/${current}/`)
      : (await api('GET', `/api/projects/${panel.dataset.flywheel}/flywheel/`))[0] || null;
  } catch (err) { panel.querySelector('[data-flywheel-message]').textContent = `cannot read the run: ${err.message}`; }
  if (run) {
    current = run.id;
    panel.querySelector('[data-flywheel-run]').innerHTML = render(run);
  }
  const active = run && (run.status === 'queued' || run.status === 'running');
  setTimeout(poll, active ? 2000 : 15000);
}

panel?.querySelector('[data-flywheel-form]').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target), body = {};
  for (const [k, v] of form.entries()) if (v !== '') body[k] = k === 'config' ? v : Number(v);
  const message = panel.querySelector('[data-flywheel-message]');
  try {
    const run = await api('POST', `/api/projects/${panel.dataset.flywheel}/flywheel/`, body);
    current = run.id; message.textContent = `run ${run.id} queued`;
    panel.querySelector('[data-flywheel-run]').innerHTML = render(run);
  } catch (err) {
    message.textContent = Object.keys(err.fields).length
      ? Object.entries(err.fields).map(([f, m]) => `${f}: ${m}`).join('; ') : err.message;
  }
});
if (panel) poll();
