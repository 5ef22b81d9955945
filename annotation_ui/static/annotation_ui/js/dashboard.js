// The engineers' dashboard stays live: it re-reads its own page every few seconds and swaps
// the figures in place (no reload, so the chosen iteration and the scroll position stay).
import { banner, clearBanner } from 'ui/common.js';

const everyMs = 1000 * (Number((document.querySelector('.dash') || {}).dataset?.refresh) || 15);
let failing = false;

async function refresh() {
  let html;
  try {
    const res = await fetch(location.href, { credentials: 'same-origin' });
    if (res.redirected || !res.ok) throw new Error(`HTTP ${res.status}`);
    html = await res.text();
  } catch (err) {
    if (!failing) banner(`The dashboard could not refresh (${err.message}); the figures shown may be old. Retrying.`, 'warn');
    failing = true; return;
  }
  if (failing) { clearBanner(); failing = false; }
  const fresh = new DOMParser().parseFromString(html, 'text/html');
  const now = document.querySelector('.dash'), next = fresh.querySelector('.dash');
  if (!now || !next) { document.querySelector('main').innerHTML = fresh.querySelector('main').innerHTML; return; }
  for (const el of next.querySelectorAll('[id]')) {
    const here = document.getElementById(el.id);
    if (!here || el.tagName === 'IMG') continue;
    if (here.innerHTML !== el.innerHTML) here.innerHTML = el.innerHTML;
  }
  // The ratings plot: load the new SVG off-screen, then swap, so the picture never flashes empty.
  const plot = document.getElementById('ratings-plot');
  if (plot) {
    const url = new URL(plot.src, location.href); url.searchParams.set('t', Date.now());
    const img = new Image(); img.onload = () => { plot.src = img.src; }; img.src = url.href;
  }
  window.__dashboard.refreshes += 1;
}

window.__dashboard = { refreshes: 0, refresh };
// One refresh at a time: the next is scheduled when the last one is done, however slow the server.
(function loop() { setTimeout(() => refresh().finally(loop), everyMs); })();
