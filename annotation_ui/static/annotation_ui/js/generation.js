// What became of the objects a finished image sent to candidate generation: the side panel follows
// them (generating, ready for Stage 2, with the artists) while the annotator goes on with the next image.
import { api } from 'ui/common.js';

const POLL_MS = 1500, KEEP = 8;
const SAID = {
  generating: 'generating candidates…',
  ranking: 'candidates ready: in Stage 2',
  artist: 'no candidate could be made: sent to the artists',
  aligning: 'in Stage 3', done: 'a training sample', failed: 'failed',
};

export class GenerationWatch {
  /** el: a section with a <ul>; key: where the followed ids survive a reload (sessionStorage). */
  constructor(el, key) {
    this.el = el; this.list = el.querySelector('ul'); this.key = key;
    this.rows = new Map(JSON.parse(sessionStorage.getItem(key) || '[]'));
    this.render();
    if (this.waiting().length) this.poll();
  }

  waiting() { return [...this.rows.values()].filter((r) => !r.status || r.status === 'generating' || r.status === 'selected'); }

  /** Follow these object ids (the answer of a Stage 1 submit). */
  add(ids) {
    for (const id of ids) this.rows.set(id, { id, status: 'generating', category: '', candidates: 0 });
    const keep = [...this.rows.entries()].slice(-KEEP);
    this.rows = new Map(keep);
    this.save(); this.render();
    if (ids.length) this.poll();
  }

  save() { sessionStorage.setItem(this.key, JSON.stringify([...this.rows.entries()])); }

  async poll() {
    clearTimeout(this.timer);
    const ids = this.waiting().map((r) => r.id);
    if (!ids.length) return;
    try {
      for (const o of await api('GET', `/api/objects/status/?ids=${ids.join(',')}`)) this.rows.set(o.id, o);
      this.save(); this.render();
    } catch (err) { /* a network blip: the next poll tries again */ }
    if (this.waiting().length) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  render() {
    this.el.hidden = !this.rows.size;
    this.list.innerHTML = '';
    for (const r of [...this.rows.values()].reverse()) {
      const li = document.createElement('li'); li.dataset.object = r.id; li.dataset.status = r.status;
      const busy = r.status === 'generating' || r.status === 'selected';
      const what = SAID[r.status] || r.label || r.status;
      li.innerHTML = `${busy ? '<span class="spinner" aria-hidden="true"></span>' : '<span class="done-mark">✓</span>'} `
        + `<strong></strong> <span class="muted"></span>`;
      li.querySelector('strong').textContent = `#${r.id}${r.category ? ' ' + r.category : ''}`;
      li.querySelector('.muted').textContent = r.status === 'ranking' && r.candidates ? `${r.candidates} ${what}` : what;
      this.list.appendChild(li);
    }
    const n = this.waiting().length;
    this.el.querySelector('.generation-summary').textContent = n
      ? `${n} object${n === 1 ? '' : 's'} in candidate generation (in the background: go on with the next image).`
      : 'Candidate generation finished for these objects.';
  }
}
