// Stage 1's prompt: what the annotator tells the segmenter, as a list of actions with undo and redo.
//
// Point tool (V): a click is a positive point, Shift+click or a right click a negative one, and a
// drag draws a box around the object (a new box replaces the last). Brush tool (B): a drag paints
// into the mask; Shift, a right drag or the eraser (E) erases. The mask is the segmenter's answer
// to the whole list, so undo (Ctrl+Z) is "drop the last action and ask again".

const DRAG = 5; // screen pixels a press must travel to be a drag (a box) rather than a click

export class PromptEditor {
  constructor(canvas, { size, onChange, onStart }) {
    this.canvas = canvas; this.size = size; this.onChange = onChange; this.onStart = onStart || (() => {});
    this.actions = []; this.redo = []; this.tool = 'point'; this.erase = false; this.brush = 0.015; // of the longer side
    this.live = null; // the box or stroke being drawn
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', () => { this.live = null; this.onChange(false); });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** The request body: every point, the last box, every stroke, in order. */
  body() {
    const points = [], strokes = []; let box = null;
    for (const a of this.actions) {
      if (a.type === 'point') points.push([a.x, a.y, a.positive ? 1 : 0]);
      else if (a.type === 'box') box = a.box;
      else strokes.push({ positive: a.positive, radius: a.radius, path: a.path });
    }
    return { points, box, strokes };
  }

  hasPositive() { return this.actions.some((a) => a.type === 'box' || a.positive); }
  get empty() { return !this.actions.length; }
  counts() {
    const n = (f) => this.actions.filter(f).length;
    return { points: n((a) => a.type === 'point'), boxes: n((a) => a.type === 'box'), strokes: n((a) => a.type === 'stroke') };
  }

  push(action) {
    if (!this.actions.length) this.onStart();
    this.actions.push(action); this.redo = []; this.onChange(true);
  }
  undo() { if (!this.actions.length) return false; this.redo.push(this.actions.pop()); this.onChange(true); return true; }
  redoOne() { if (!this.redo.length) return false; this.actions.push(this.redo.pop()); this.onChange(true); return true; }
  clear() { this.actions = []; this.redo = []; this.live = null; }
  setTool(tool) { this.tool = tool; if (tool === 'point') this.erase = false; this.canvas.dataset.tool = tool; this.onChange(false); }
  setErase(on) { this.erase = on; this.setTool('brush'); }
  radius() { const { width, height } = this.size(); return Math.max(1, Math.round(this.brush * Math.max(width, height))); }
  resize(f) { this.brush = Math.min(0.1, Math.max(0.003, this.brush * f)); this.onChange(false); }

  imagePoint(e) {
    const r = this.canvas.getBoundingClientRect(), { width, height } = this.size();
    const x = Math.min(width - 1, Math.max(0, (e.clientX - r.left) * width / r.width));
    const y = Math.min(height - 1, Math.max(0, (e.clientY - r.top) * height / r.height));
    return [Math.round(x), Math.round(y)];
  }

  down(e) {
    if (e.button !== 0 && e.button !== 2) return;
    this.canvas.setPointerCapture(e.pointerId);
    const negative = e.shiftKey || e.button === 2;
    const at = this.imagePoint(e);
    if (this.tool === 'brush') this.live = { type: 'stroke', positive: !(negative || this.erase), radius: this.radius(), path: [at] };
    else this.live = { type: 'press', negative, at, screen: [e.clientX, e.clientY] };
    this.onChange(false);
  }

  move(e) {
    const l = this.live; if (!l) return;
    const at = this.imagePoint(e);
    if (l.type === 'stroke') {
      const last = l.path[l.path.length - 1];
      if (Math.hypot(at[0] - last[0], at[1] - last[1]) >= Math.max(1, l.radius / 3)) { l.path.push(at); this.onChange(false); }
    } else if (l.type === 'press' && Math.hypot(e.clientX - l.screen[0], e.clientY - l.screen[1]) > DRAG) {
      this.live = { type: 'drag', from: l.at, to: at };
      this.onChange(false);
    } else if (l.type === 'drag') { l.to = at; this.onChange(false); }
  }

  up(e) {
    const l = this.live; if (!l) return;
    this.live = null;
    if (l.type === 'stroke') this.push({ type: 'stroke', positive: l.positive, radius: l.radius, path: l.path });
    else if (l.type === 'press') this.push({ type: 'point', x: l.at[0], y: l.at[1], positive: !l.negative });
    else {
      const [x0, y0] = l.from, [x1, y1] = this.imagePoint(e);
      if (Math.abs(x1 - x0) < 3 || Math.abs(y1 - y0) < 3) { this.onChange(false); return; }
      this.push({ type: 'box', box: [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)] });
    }
  }

  /** Draw the prompt over the image: points, the box, strokes (those drawn and the one in progress). */
  draw(ctx, lw) {
    const { width } = this.size(), r = Math.max(4, Math.round(width / 120));
    const all = this.live && this.live.type !== 'press' ? [...this.actions, this.live] : this.actions;
    let box = null;
    for (const a of all) {
      if (a.type === 'box') box = a.box;
      else if (a.type === 'drag') box = [Math.min(a.from[0], a.to[0]), Math.min(a.from[1], a.to[1]), Math.max(a.from[0], a.to[0]), Math.max(a.from[1], a.to[1])];
      else if (a.type === 'stroke') {
        ctx.save(); ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.lineWidth = 2 * a.radius;
        ctx.strokeStyle = a.positive ? '#3fb27f88' : '#e0525288'; ctx.fillStyle = ctx.strokeStyle;
        ctx.beginPath(); ctx.moveTo(a.path[0][0], a.path[0][1]);
        if (a.path.length === 1) { ctx.arc(a.path[0][0], a.path[0][1], a.radius, 0, 2 * Math.PI); ctx.fill(); } else { for (const [x, y] of a.path.slice(1)) ctx.lineTo(x, y); ctx.stroke(); }
        ctx.restore();
      }
    }
    if (box) {
      ctx.save(); ctx.setLineDash([4 * lw, 3 * lw]); ctx.lineWidth = 2 * lw; ctx.strokeStyle = '#ffd54f';
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]); ctx.restore();
    }
    for (const a of this.actions) {
      if (a.type !== 'point') continue;
      ctx.beginPath(); ctx.arc(a.x, a.y, r, 0, 2 * Math.PI);
      ctx.fillStyle = a.positive ? '#3fb27f' : '#e05252'; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = '#fff'; ctx.stroke();
    }
  }
}
