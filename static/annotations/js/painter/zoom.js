/* Zoom and pan of the painting surface, as in a photo app: two fingers pinch and move the image
 * (pointer.js hands them over), Ctrl + wheel (a trackpad pinch on desktop) zooms at the pointer,
 * and "Reset zoom" goes back to the whole image.
 *
 * The view is a CSS transform on the wrapper of the image and the canvas: the map keeps the
 * image's own resolution, and since getBoundingClientRect() includes the transform, a pointer's
 * image coordinates come out right at every zoom. The translation is kept as a share of the stage
 * (CSS % of the wrapper, which is the stage's size), so a resized stage keeps the same view. */

export const MIN_SCALE = 1;
export const MAX_SCALE = 6;

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

export class ZoomView {
  /**
   * stage: the element that clips (#painter); wrapper: the transformed element inside it;
   * levelEl, resetButton: optional indicator and button; onChange(scale): after every change;
   * image: the <img> (optional), whose srcset rendition follows the zoom (sharpen).
   */
  constructor(stage, wrapper, levelEl, resetButton, onChange, image) {
    this.stage = stage;
    this.wrapper = wrapper;
    this.image = image || null;
    this.sizedFor = 0; // the widest display (CSS px) the image's `sizes` has asked for
    this.sharpenTimer = 0;
    this.levelEl = levelEl;
    this.resetButton = resetButton;
    this.onChange = onChange;
    this.scale = 1;
    this.tx = 0; // translation, as a share of the stage's width
    this.ty = 0; // ... and height
    this.pinch = null; // {scale, tx, ty, mid: [x, y], distance} when the gesture began
    if (resetButton) resetButton.addEventListener("click", () => this.reset());
    stage.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    this.apply();
  }

  get zoomed() {
    return this.scale > MIN_SCALE;
  }

  /** A client point in the stage's own (untransformed) pixels. */
  local(clientX, clientY) {
    const rect = this.stage.getBoundingClientRect();
    // clientLeft/Top: the stage's border, outside the box the wrapper fills
    return [clientX - rect.left - this.stage.clientLeft, clientY - rect.top - this.stage.clientTop];
  }

  /** Set the view: `scale` with the stage point `anchor` (local px) showing what `point`
   *  (a share of the unzoomed image) shows; the image always covers the whole stage. */
  setView(scale, point, anchor) {
    const width = this.stage.clientWidth || 1;
    const height = this.stage.clientHeight || 1;
    scale = clamp(scale, MIN_SCALE, MAX_SCALE);
    this.scale = scale;
    this.tx = clamp(anchor[0] / width - point[0] * scale, 1 - scale, 0);
    this.ty = clamp(anchor[1] / height - point[1] * scale, 1 - scale, 0);
    this.apply();
  }

  /** What the stage point (local px) shows now, as a share of the unzoomed image. */
  pointAt(local) {
    const width = this.stage.clientWidth || 1;
    const height = this.stage.clientHeight || 1;
    return [(local[0] / width - this.tx) / this.scale, (local[1] / height - this.ty) / this.scale];
  }

  reset() {
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.pinch = null;
    this.apply();
  }

  apply() {
    const s = this.scale;
    this.wrapper.style.transform = s === 1 ? "" :
      "translate(" + (this.tx * 100) + "%, " + (this.ty * 100) + "%) scale(" + s + ")";
    this.stage.classList.toggle("zoomed", s > 1);
    if (this.levelEl) this.levelEl.textContent = "Zoom " + Math.round(s * 100) + " %";
    if (this.resetButton) this.resetButton.disabled = s === 1;
    if (this.onChange) this.onChange(s);
  }

  /** Two fingers are down (client coordinates): the gesture starts from the current view. */
  startPinch(a, b) {
    const pa = this.local(a[0], a[1]);
    const pb = this.local(b[0], b[1]);
    const mid = [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2];
    this.pinch = {
      scale: this.scale,
      point: this.pointAt(mid),
      distance: Math.max(1, Math.hypot(pb[0] - pa[0], pb[1] - pa[1])),
    };
  }

  /** The fingers moved: scale by the change of their distance, and keep what was under their
   *  midpoint under it (which pans when both move together). */
  movePinch(a, b) {
    if (!this.pinch) return;
    const pa = this.local(a[0], a[1]);
    const pb = this.local(b[0], b[1]);
    const mid = [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2];
    const distance = Math.max(1, Math.hypot(pb[0] - pa[0], pb[1] - pa[1]));
    this.setView(this.pinch.scale * distance / this.pinch.distance, this.pinch.point, mid);
  }

  endPinch() {
    this.pinch = null;
    this.sharpen();
  }

  /** A zoomed image asks for the rendition its zoomed size needs (where the page offers a
   *  srcset): `sizes` follows the largest zoom yet, and never shrinks (no swapping back). */
  sharpen() {
    const img = this.image;
    if (!img || !img.srcset || this.scale <= 1) return;
    const wanted = Math.ceil(this.stage.clientWidth * this.scale);
    if (wanted <= this.sizedFor) return;
    this.sizedFor = wanted;
    const sizes = wanted + "px";
    const picture = img.parentElement;
    if (picture && picture.tagName === "PICTURE") {
      for (const source of picture.querySelectorAll("source")) source.sizes = sizes;
    }
    img.sizes = sizes;
  }

  /** Ctrl + wheel (what a trackpad pinch sends on desktop) zooms at the pointer; a plain wheel
   *  scrolls the page as usual. */
  onWheel(event) {
    if (!event.ctrlKey) return;
    event.preventDefault();
    const anchor = this.local(event.clientX, event.clientY);
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    this.setView(this.scale * Math.exp(-delta / 200), this.pointAt(anchor), anchor);
    window.clearTimeout(this.sharpenTimer);
    this.sharpenTimer = window.setTimeout(() => this.sharpen(), 250);
  }
}
