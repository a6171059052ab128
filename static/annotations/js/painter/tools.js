/* The toolbar: brush or eraser, brush size and strength (remembered in localStorage),
 * overlay opacity, show/hide the image. The size's range is the #brush-size input's
 * (templates/annotations/_painter_tools.html). */

const STORAGE_SIZE = "painter.brushSize";
const STORAGE_STRENGTH = "painter.brushStrength";

function storedNumber(key, fallback, min, max) {
  try {
    const value = parseFloat(window.localStorage.getItem(key));
    if (isFinite(value) && value >= min && value <= max) return value;
  } catch (error) { /* storage blocked: use the default */ }
  return fallback;
}

function store(key, value) {
  try { window.localStorage.setItem(key, String(value)); } catch (error) { /* ignore */ }
}

export class Tools {
  /**
   * el: {toolBrush, toolEraser, sizeInput, sizeValue, strengthInput, strengthValue,
   *      opacityInput, showImage, image} (elements).
   * onChange(): the size or the tool changed (the cursor follows);
   * onOpacity(opacity in [0, 1]): the overlay opacity changed.
   */
  constructor(el, onChange, onOpacity) {
    this.el = el;
    this.onChange = onChange;
    this.onOpacity = onOpacity;
    this.minSize = parseFloat(el.sizeInput.min);
    this.maxSize = parseFloat(el.sizeInput.max);
    if (!(this.minSize > 0 && this.maxSize >= this.minSize)) throw new Error("#brush-size needs a min and a max");
    this.brushSize = Math.round(storedNumber(STORAGE_SIZE, parseFloat(el.sizeInput.value) || 40,
      this.minSize, this.maxSize));
    this.strengthPercent = Math.round(storedNumber(STORAGE_STRENGTH, parseFloat(el.strengthInput.value) || 35,
      parseFloat(el.strengthInput.min) || 1, 100));

    el.sizeInput.addEventListener("input", () => this.setBrushSize(parseFloat(el.sizeInput.value)));
    el.strengthInput.addEventListener("input", () => this.setStrength(parseFloat(el.strengthInput.value)));
    el.opacityInput.addEventListener("input", () => this.onOpacity(this.opacity));
    el.showImage.addEventListener("change", () => {
      el.image.style.visibility = el.showImage.checked ? "" : "hidden";
    });
    el.toolBrush.addEventListener("change", () => this.onChange());
    el.toolEraser.addEventListener("change", () => this.onChange());
  }

  get tool() {
    return this.el.toolEraser.checked ? "eraser" : "brush";
  }

  get opacity() {
    return parseFloat(this.el.opacityInput.value) / 100;
  }

  /** The settings of a new stroke: {tool, size, strength in [0, 1]}. */
  strokeSettings() {
    return { tool: this.tool, size: this.brushSize, strength: this.strengthPercent / 100 };
  }

  setBrushSize(size) {
    this.brushSize = Math.max(this.minSize, Math.min(this.maxSize, Math.round(size)));
    this.el.sizeInput.value = String(this.brushSize);
    this.el.sizeValue.textContent = String(this.brushSize);
    store(STORAGE_SIZE, this.brushSize);
    this.onChange();
  }

  /** The [ and ] keys: about 15 % bigger or smaller. */
  stepBrushSize(direction) {
    const step = Math.max(1, Math.round(this.brushSize * 0.15));
    this.setBrushSize(this.brushSize + direction * step);
  }

  setStrength(percent) {
    this.strengthPercent = Math.max(1, Math.min(100, Math.round(percent)));
    this.el.strengthInput.value = String(this.strengthPercent);
    this.el.strengthValue.textContent = String(this.strengthPercent);
    store(STORAGE_STRENGTH, this.strengthPercent);
  }

  /** No more painting: the tool can no longer be changed. */
  disable() {
    this.el.toolBrush.disabled = this.el.toolEraser.disabled = true;
  }
}
