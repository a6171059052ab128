/* The painted map: one float per image pixel in [0, 1], at the image's own resolution, with
 * counts of the pixels that are painted, kept up to date by every change so that neither the
 * coverage nor "is anything painted" needs a scan of the whole map. */

// What the 16-bit PNG can show: a value from here on rounds to at least 1/65535.
export const NONZERO_LEVEL = 0.5 / 65535;

export class PaintMap {
  /** coveredLevel: a pixel counts towards the coverage from this value on (the server's). */
  constructor(width, height, coveredLevel) {
    this.width = width;
    this.height = height;
    this.values = new Float32Array(width * height);
    this.coveredLevel = coveredLevel;
    this.covered = 0; // pixels >= coveredLevel (and >= NONZERO_LEVEL)
    this.nonzero = 0; // pixels >= NONZERO_LEVEL
  }

  /** [covered, nonzero] among values[start:end]. */
  countRange(start, end) {
    const values = this.values;
    const coveredLevel = this.coveredLevel;
    let covered = 0;
    let nonzero = 0;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (v >= NONZERO_LEVEL) {
        nonzero++;
        if (v >= coveredLevel) covered++;
      }
    }
    return [covered, nonzero];
  }

  recount() {
    const counts = this.countRange(0, this.values.length);
    this.covered = counts[0];
    this.nonzero = counts[1];
  }

  /** The painted share of the image. */
  get coverage() {
    return this.covered / this.values.length;
  }

  get hasPaint() {
    return this.nonzero > 0;
  }

  clear() {
    this.values.fill(0);
    this.covered = 0;
    this.nonzero = 0;
  }

  /** Replace every value (a Float32Array of the same length). */
  restore(values) {
    this.values.set(values);
    this.recount();
  }

  /** A copy of the rectangle x0..x1, y0..y1 (inclusive), row by row. */
  copyRect(x0, y0, x1, y1) {
    const W = this.width;
    const tw = x1 - x0 + 1;
    const out = new Float32Array(tw * (y1 - y0 + 1));
    for (let y = y0, k = 0; y <= y1; y++, k += tw) {
      out.set(this.values.subarray(y * W + x0, y * W + x0 + tw), k);
    }
    return out;
  }

  /** Write back a copy made by copyRect of the same rectangle. */
  writeRect(x0, y0, x1, y1, rect) {
    const W = this.width;
    const tw = x1 - x0 + 1;
    for (let y = y0, k = 0; y <= y1; y++, k += tw) {
      const start = y * W + x0;
      const before = this.countRange(start, start + tw);
      this.values.set(rect.subarray(k, k + tw), start);
      const after = this.countRange(start, start + tw);
      this.covered += after[0] - before[0];
      this.nonzero += after[1] - before[1];
    }
  }
}
