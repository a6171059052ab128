/* The map drawn in colour over the image: a canvas at the image's resolution, redrawn once
 * per animation frame and only in the box that changed since the last frame. */

import { NONZERO_LEVEL } from "./paint_map.js";

// The palette: magenta -> violet -> deep purple as the value grows, with an opacity that
// starts at ALPHA_FLOOR x the overlay opacity for the faintest paint and grows with the
// value's square root. Magenta and violet are rare in photographs: paint stays plain on warm
// (wood, crema, skin, an orange suit, red), dark, bright, blue (sky) and green images alike,
// where the former yellow -> red ramp vanished on warm ones (tests/browser/test_visibility.py).
// analysis/render.py (PAINTER_RAMP, PAINTER_ALPHA_FLOOR) renders the instructions' worked
// example with the same palette; tests/annotations/test_brush.py checks that they agree.
export const RAMP = [[0, 255, 0, 220], [0.5, 190, 0, 255], [1, 90, 0, 170]];
export const ALPHA_FLOOR = 0.3;
const LUT_SIZE = 256;

export class Overlay {
  /** onDraw(): called after each frame that drew something. */
  constructor(canvas, paintMap, onDraw) {
    this.paintMap = paintMap;
    this.width = paintMap.width;
    this.height = paintMap.height;
    this.ctx = canvas.getContext("2d");
    this.pixels = this.ctx.createImageData(this.width, this.height);
    this.onDraw = onDraw || function () {};
    this.dirty = null; // {x0, y0, x1, y1} inclusive, in image pixels
    this.frameRequested = false;
    this.lutR = new Uint8ClampedArray(LUT_SIZE);
    this.lutG = new Uint8ClampedArray(LUT_SIZE);
    this.lutB = new Uint8ClampedArray(LUT_SIZE);
    this.lutA = new Uint8ClampedArray(LUT_SIZE);
    this.draw = this.draw.bind(this);
    this.buildRamp();
  }

  buildRamp() {
    for (let i = 0; i < LUT_SIZE; i++) {
      const v = i / (LUT_SIZE - 1);
      let k = 1;
      while (k < RAMP.length - 1 && v > RAMP[k][0]) k++;
      const lo = RAMP[k - 1];
      const hi = RAMP[k];
      const t = (v - lo[0]) / (hi[0] - lo[0]);
      this.lutR[i] = lo[1] + (hi[1] - lo[1]) * t;
      this.lutG[i] = lo[2] + (hi[2] - lo[2]) * t;
      this.lutB[i] = lo[3] + (hi[3] - lo[3]) * t;
    }
  }

  /** opacity in [0, 1]; takes effect with the next redraw (redrawAll). */
  setOpacity(opacity) {
    for (let i = 0; i < LUT_SIZE; i++) {
      // Any paint shows (from ALPHA_FLOOR), stronger paint more (square root of the value).
      const v = i / (LUT_SIZE - 1);
      this.lutA[i] = i === 0 ? 0 : 255 * opacity * (ALPHA_FLOOR + (1 - ALPHA_FLOOR) * Math.sqrt(v));
    }
  }

  /** Draw the box x0..x1, y0..y1 (inclusive, clipped to the image) at the next frame. */
  markDirty(x0, y0, x1, y1) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > this.width - 1) x1 = this.width - 1;
    if (y1 > this.height - 1) y1 = this.height - 1;
    if (x0 > x1 || y0 > y1) return;
    const dirty = this.dirty;
    if (dirty === null) {
      this.dirty = { x0: x0, y0: y0, x1: x1, y1: y1 };
    } else {
      if (x0 < dirty.x0) dirty.x0 = x0;
      if (y0 < dirty.y0) dirty.y0 = y0;
      if (x1 > dirty.x1) dirty.x1 = x1;
      if (y1 > dirty.y1) dirty.y1 = y1;
    }
    if (!this.frameRequested) {
      this.frameRequested = true;
      window.requestAnimationFrame(this.draw);
    }
  }

  redrawAll() {
    this.markDirty(0, 0, this.width - 1, this.height - 1);
  }

  draw() {
    this.frameRequested = false;
    if (this.dirty === null) return;
    const box = this.dirty;
    this.dirty = null;
    const W = this.width;
    const map = this.paintMap.values;
    const data = this.pixels.data;
    const lutR = this.lutR, lutG = this.lutG, lutB = this.lutB, lutA = this.lutA;
    const top = LUT_SIZE - 1;
    for (let y = box.y0; y <= box.y1; y++) {
      let i = y * W + box.x0;
      let o = i * 4;
      for (let x = box.x0; x <= box.x1; x++, i++, o += 4) {
        const v = map[i];
        let level = (v * top + 0.5) | 0;
        if (level === 0 && v >= NONZERO_LEVEL) level = 1; // any paint the map keeps shows
        data[o] = lutR[level];
        data[o + 1] = lutG[level];
        data[o + 2] = lutB[level];
        data[o + 3] = lutA[level];
      }
    }
    this.ctx.putImageData(this.pixels, 0, 0, box.x0, box.y0, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1);
    this.onDraw();
  }
}
