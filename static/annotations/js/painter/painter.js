/* The painter: paint a graded heatmap over an image, with undo/redo, clear, a true-size
 * cursor and keyboard shortcuts; what the trial page and the admin's target-region page share.
 *
 * Elements (by id): painter, painter-image, painter-canvas, brush-cursor, the tools of
 * templates/annotations/_painter_tools.html, submit, status and (optional) coverage; optional
 * too, the zoom (templates/annotations/_painter_surface.html): painter-zoom (the transformed
 * wrapper of the image and canvas), zoom-level and zoom-reset. */

import { PaintMap } from "./paint_map.js";
import { Overlay } from "./overlay.js";
import { History } from "./history.js";
import { BrushCursor } from "./cursor.js";
import { Tools } from "./tools.js";
import { StrokeInput } from "./pointer.js";
import { ZoomView } from "./zoom.js";
import { encodePng16 } from "./png16.js";

/** The painted share, rounded down (never shows "enough" before it is). */
function formatPercent(fraction) {
  const percent = fraction * 100;
  if (percent <= 0) return "0";
  if (percent < 0.1) return "< 0.1";
  if (percent < 10) return (Math.floor(percent * 10) / 10).toFixed(1);
  return String(Math.floor(percent));
}

function formatRequirement(fraction) {
  return String(Math.round(fraction * 100 * 100) / 100); // 0.005 -> "0.5", 0.1 -> "10"
}

function isTextInput(target) {
  return target && (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
    (target.tagName === "INPUT" && /^(text|search|email|number|password)$/.test(target.type)));
}

/**
 * config: {width, height, minCoverage (optional, share in [0, 1])}, the page's json_script;
 * constants: readConstants() (the brush model's and the painted level, from the server).
 * Returns the painter (see the object at the end).
 */
export function createPainter(config, constants) {
  const W = config.width;
  const H = config.height;
  const minCoverage = typeof config.minCoverage === "number" && isFinite(config.minCoverage) ?
    Math.max(0, Math.min(1, config.minCoverage)) : 0;

  const byId = (id) => document.getElementById(id);
  const painterEl = byId("painter");
  const image = byId("painter-image");
  const canvas = byId("painter-canvas");
  const undoButton = byId("undo");
  const redoButton = byId("redo");
  const clearButton = byId("clear");
  const submitButton = byId("submit");
  const statusEl = byId("status");
  const coverageEl = byId("coverage");

  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  painterEl.style.setProperty("--w", String(W));
  painterEl.style.setProperty("--h", String(H));

  let busy = false; // a submission is in flight
  let locked = false; // painting is over (the time is up)
  let shownCoverage = null;

  const paintMap = new PaintMap(W, H, constants.paintedLevel);
  // While a stroke is drawn the coverage text follows it; the buttons change when it ends.
  const overlay = new Overlay(canvas, paintMap, () => { if (input.active) updateCoverage(); });
  const history = new History(paintMap, (x0, y0, x1, y1) => overlay.markDirty(x0, y0, x1, y1));
  const cursor = new BrushCursor(byId("brush-cursor"), painterEl, canvas, W);
  const tools = new Tools({
    toolBrush: byId("tool-brush"),
    toolEraser: byId("tool-eraser"),
    sizeInput: byId("brush-size"),
    sizeValue: byId("brush-size-value"),
    strengthInput: byId("brush-strength"),
    strengthValue: byId("brush-strength-value"),
    opacityInput: byId("overlay-opacity"),
    showImage: byId("show-image"),
    image: image,
  }, updateCursorSize, (opacity) => { overlay.setOpacity(opacity); overlay.redrawAll(); });
  const zoomWrapper = byId("painter-zoom");
  const zoom = zoomWrapper ?
    new ZoomView(painterEl, zoomWrapper, byId("zoom-level"), byId("zoom-reset"), () => updateCursorSize(), image) :
    null;
  const input = new StrokeInput(canvas, paintMap, history, overlay, constants, {
    canStart: () => !busy && !locked,
    settings: () => tools.strokeSettings(),
    cursor: cursor,
    onCommit: changed,
    onCancel: changed,
    zoom: zoom,
  });

  function updateCursorSize() {
    cursor.resize(tools.brushSize, tools.tool === "eraser");
  }

  /** Whether the map may be submitted now; once painting is locked whatever is there goes. */
  function canSubmit() {
    if (busy) return false;
    if (locked) return true;
    return paintMap.hasPaint && paintMap.coverage >= minCoverage;
  }

  function updateCoverage() {
    if (!coverageEl) return;
    const coverage = paintMap.coverage;
    let text = "Painted: " + formatPercent(coverage) + " % of the image";
    if (minCoverage > 0) text += " (at least " + formatRequirement(minCoverage) + " % needed)";
    if (text === shownCoverage) return;
    shownCoverage = text;
    coverageEl.textContent = text;
    coverageEl.classList.toggle("enough", coverage >= minCoverage && paintMap.hasPaint);
  }

  function changed() {
    undoButton.disabled = busy || locked || !history.canUndo;
    redoButton.disabled = busy || locked || !history.canRedo;
    clearButton.disabled = busy || locked || !paintMap.hasPaint;
    submitButton.disabled = !canSubmit();
    updateCoverage();
  }

  function undo() {
    if (busy || input.active || locked) return;
    if (history.undo()) changed();
  }

  function redo() {
    if (busy || input.active || locked) return;
    if (history.redo()) changed();
  }

  function clear() {
    if (busy || input.active || locked || !paintMap.hasPaint) return;
    history.clear();
    changed();
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  function setBusy(value) {
    busy = value;
    painterEl.classList.toggle("busy", value);
    changed();
  }

  /** Painting is over: end the stroke in progress and accept no more input. */
  function lock() {
    locked = true;
    input.finish();
    painterEl.classList.add("locked");
    cursor.disabled = true;
    cursor.hide();
    tools.disable();
    changed();
  }

  undoButton.addEventListener("click", undo);
  redoButton.addEventListener("click", redo);
  clearButton.addEventListener("click", clear);

  document.addEventListener("keydown", (event) => {
    if (isTextInput(event.target)) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "z" || key === "Z")) {
      event.preventDefault();
      if (event.shiftKey) redo(); else undo();
    } else if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "y" || key === "Y")) {
      event.preventDefault();
      redo();
    } else if (!event.ctrlKey && !event.metaKey && !event.altKey && (key === "[" || key === "]")) {
      event.preventDefault();
      tools.stepBrushSize(key === "]" ? 1 : -1);
    }
  });

  const painter = {
    width: W,
    height: H,
    map: paintMap.values,
    submitted: false, // set when the server took the map: leaving the page is fine then
    get strokes() { return history.effectiveStrokes(); },
    get brushSize() { return tools.brushSize; },
    get busy() { return busy; },
    get locked() { return locked; },
    get coverage() { return paintMap.coverage; },
    get zoom() { return zoom ? zoom.scale : 1; },
    /** Whether a submission may start now (none in flight, no stroke in progress, enough paint). */
    readyToSubmit() { return !input.active && canSubmit(); },
    encodePng() { return encodePng16(paintMap.values, W, H); },
    setStatus: setStatus,
    setBusy: setBusy,
    lock: lock,
    undo: undo,
    redo: redo,
    clear: clear,
  };

  window.addEventListener("beforeunload", (event) => {
    if (!painter.submitted && !history.isEmpty && paintMap.hasPaint) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  if (typeof ResizeObserver === "function") {
    new ResizeObserver(updateCursorSize).observe(canvas);
  } else {
    window.addEventListener("resize", updateCursorSize);
  }
  image.addEventListener("error", () => {
    setStatus("The image could not be loaded. Please reload the page.", true);
  });

  tools.setBrushSize(tools.brushSize);
  tools.setStrength(tools.strengthPercent);
  overlay.setOpacity(tools.opacity);
  changed();
  canvas.style.visibility = ""; // hidden by the template until it listens (_painter_surface.html)
  return painter;
}

/** What the page puts on window.painter (read by the browser tests and scripts/screenshots.py):
 *  the painter's map and state, plus `extra` (property descriptors). */
export function windowApi(painter, extra) {
  const api = {
    map: painter.map,
    width: painter.width,
    height: painter.height,
    encodePng: painter.encodePng,
    undo: painter.undo,
    redo: painter.redo,
    clear: painter.clear,
  };
  for (const name of ["strokes", "brushSize", "busy", "coverage", "zoom"]) {
    Object.defineProperty(api, name, { get: () => painter[name], enumerable: true });
  }
  return Object.defineProperties(api, extra || {});
}
