/* The soft brush and the eraser: the model of annotations/brush.py (render_strokes), which
 * replays the stroke log sent with the map. Keep the two identical, number for number: the
 * same dab placement, weights and order of operations, each dab's result stored as float32.
 * The constants (dabFlow, spacingFraction) come from brush.py through {% painter_constants %}.
 *
 * The brush (amount a = strength * pressure * dabFlow) does v += a * w * (1 - v); the eraser
 * (amount e = strength * pressure) does v *= 1 - e * min(1, w / ERASER_CORE_WEIGHT), so that
 * one dab at full strength leaves exactly 0 in its core, d <= r / 2. */

import { NONZERO_LEVEL } from "./paint_map.js";

// brush.ERASER_CORE_WEIGHT: the weight at d = r / 2, (1 - 1/4)^2. Part of the formula.
export const ERASER_CORE_WEIGHT = 0.5625;

/** brush.dab_spacing: arc length between two dabs of a stroke of this diameter. */
export function dabSpacing(size, spacingFraction) {
  return Math.max(1, size * spacingFraction);
}

/** brush.apply_dab on a PaintMap: one dab of radius `radius` at (cx, cy) in image pixels;
 *  amount: strength * pressure * dabFlow for the brush, strength * pressure for the eraser.
 *  Returns the box [x0, y0, x1, y1] (inclusive) it may have changed, or null. */
export function applyDab(paintMap, cx, cy, radius, amount, erase) {
  if (radius <= 0 || amount <= 0) return null;
  const W = paintMap.width;
  const H = paintMap.height;
  const x0 = Math.max(0, Math.floor(cx - radius - 0.5));
  const x1 = Math.min(W - 1, Math.ceil(cx + radius - 0.5));
  const y0 = Math.max(0, Math.floor(cy - radius - 0.5));
  const y1 = Math.min(H - 1, Math.ceil(cy + radius - 0.5));
  if (x0 > x1 || y0 > y1) return null;
  const map = paintMap.values;
  const coveredLevel = paintMap.coveredLevel;
  let covered = 0;
  let nonzero = 0;
  const r2 = radius * radius;
  for (let py = y0; py <= y1; py++) {
    const dy = (py + 0.5) - cy;
    const dy2 = dy * dy;
    if (dy2 >= r2) continue;
    const row = py * W;
    for (let px = x0; px <= x1; px++) {
      const dx = (px + 0.5) - cx;
      const d2 = dx * dx + dy2;
      if (d2 < r2) {
        const q = 1 - d2 / r2;
        const w = q * q;
        const v = map[row + px];
        let next;
        if (erase) {
          let core = w / ERASER_CORE_WEIGHT;
          if (core > 1) core = 1;
          next = v * (1 - amount * core);
        } else {
          next = v + amount * w * (1 - v);
        }
        next = Math.fround(next < 0 ? 0 : (next > 1 ? 1 : next)); // the value as stored
        map[row + px] = next;
        if ((v >= coveredLevel) !== (next >= coveredLevel)) covered += next >= coveredLevel ? 1 : -1;
        if ((v >= NONZERO_LEVEL) !== (next >= NONZERO_LEVEL)) nonzero += next >= NONZERO_LEVEL ? 1 : -1;
      }
    }
  }
  paintMap.covered += covered;
  paintMap.nonzero += nonzero;
  return [x0, y0, x1, y1];
}

/** Places a stroke's dabs incrementally as its points arrive, exactly as brush.stroke_dabs
 *  does. stroke: {tool, size, strength, points}; constants: {dabFlow, spacingFraction};
 *  beforeDab(x0, y0, x1, y1): the unclipped box a dab is about to touch (for undo snapshots);
 *  afterDab(box): the box applyDab returned, when it changed something. */
export class StrokeRenderer {
  constructor(stroke, paintMap, constants, beforeDab, afterDab) {
    this.stroke = stroke;
    this.paintMap = paintMap;
    this.dabFlow = constants.dabFlow;
    this.radius = stroke.size / 2;
    this.spacing = dabSpacing(stroke.size, constants.spacingFraction);
    this.erase = stroke.tool === "eraser";
    this.last = null;
    this.toNext = this.spacing; // arc length from the current segment's start to the next dab
    this.beforeDab = beforeDab;
    this.afterDab = afterDab;
  }

  dab(x, y, pressure) {
    const amount = this.erase ? this.stroke.strength * pressure : this.stroke.strength * pressure * this.dabFlow;
    const r = this.radius;
    this.beforeDab(Math.floor(x - r - 0.5), Math.floor(y - r - 0.5), Math.ceil(x + r - 0.5), Math.ceil(y + r - 0.5));
    const box = applyDab(this.paintMap, x, y, r, amount, this.erase);
    if (box) this.afterDab(box);
  }

  /** point: [x, y, pressure] in image pixels. */
  add(point) {
    const bx = point[0], by = point[1], bp = point[2];
    if (this.last === null) {
      this.last = point;
      this.dab(bx, by, bp);
      return;
    }
    const ax = this.last[0], ay = this.last[1], ap = this.last[2];
    const length = Math.hypot(bx - ax, by - ay);
    let position = this.toNext;
    while (position <= length) {
      const t = position / length;
      this.dab(ax + (bx - ax) * t, ay + (by - ay) * t, ap + (bp - ap) * t);
      position += this.spacing;
    }
    this.toNext = position - length;
    this.last = point;
  }
}
