/* Pointer input (mouse, touch, pen with pressure) -> strokes in image pixel coordinates.
 *
 * A stroke: {tool, size, strength, points: [[x, y, pressure], ...], pointer}, painted as its
 * points arrive (coalesced events included) and committed to the history when the pointer
 * lifts, with snapshots of the tiles it touched for undo.
 *
 * Touch: one finger paints; two fingers zoom and pan (options.zoom, a ZoomView) and never paint.
 * A stroke begun by the first finger is taken back when the second lands (its tiles restored,
 * nothing committed), and no finger paints again until all have lifted. */

import { StrokeRenderer } from "./brush.js";

function round(value, places) {
  const f = Math.pow(10, places);
  return Math.round(value * f) / f;
}

function pressureOf(event) {
  if (event.pointerType !== "pen") return 1; // mouse reports 0.5 while pressed; touch varies
  const p = event.pressure;
  if (!(p > 0)) return 0.5; // a pen that reports no pressure
  return Math.max(0.001, Math.min(1, round(p, 3)));
}

export class StrokeInput {
  /**
   * canvas: the canvas over the image, showing paintMap; constants: {dabFlow, spacingFraction}.
   * options.canStart(): whether a stroke may begin now (not busy, not locked).
   * options.settings(): {tool, size, strength} for a new stroke.
   * options.cursor: a BrushCursor. options.onCommit(): a stroke was added to the history.
   * options.onCancel(): a stroke in progress was taken back. options.zoom: a ZoomView (optional).
   */
  constructor(canvas, paintMap, history, overlay, constants, options) {
    this.canvas = canvas;
    this.paintMap = paintMap;
    this.history = history;
    this.overlay = overlay;
    this.constants = constants;
    this.options = options;
    this.active = null; // {pointerId, stroke, renderer, tiles: Map index -> before}
    this.touches = new Map(); // touch pointerId -> [clientX, clientY], while the finger is down
    this.pinchIds = null; // the two fingers that zoom, while they do
    this.gesture = false; // two fingers were down since the last time none was
    canvas.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    canvas.addEventListener("pointermove", (event) => this.onPointerMove(event));
    canvas.addEventListener("pointerup", (event) => this.onPointerUp(event));
    canvas.addEventListener("pointercancel", (event) => this.onPointerUp(event));
    canvas.addEventListener("lostpointercapture", (event) => {
      if (this.active && event.pointerId === this.active.pointerId) this.finish();
    });
    canvas.addEventListener("pointerleave", () => { if (!this.active) options.cursor.hide(); });
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  /** The point of an event in image pixels, [x, y, pressure], to 2 decimals. */
  imagePoint(event, rect) {
    const x = (event.clientX - rect.left) * (this.paintMap.width / rect.width);
    const y = (event.clientY - rect.top) * (this.paintMap.height / rect.height);
    return [round(x, 2), round(y, 2), pressureOf(event)];
  }

  addPoint(point) {
    const points = this.active.stroke.points;
    const last = points[points.length - 1];
    if (last && last[0] === point[0] && last[1] === point[1] && last[2] === point[2]) return;
    points.push(point);
    this.active.renderer.add(point);
  }

  /** Track fingers; true when this event belongs to a zoom gesture (and must not paint). */
  touchDown(event) {
    if (event.pointerType !== "touch" || !this.options.zoom) return false;
    this.touches.set(event.pointerId, [event.clientX, event.clientY]);
    // Every finger's moves and lift come here, wherever it goes (touch captures implicitly; this
    // says so for browsers that do not).
    try { this.canvas.setPointerCapture(event.pointerId); } catch (error) { /* synthetic pointer */ }
    if (this.touches.size === 2 && !this.pinchIds) {
      this.cancel();
      this.gesture = true;
      this.startPinch();
    }
    return this.gesture;
  }

  startPinch() {
    const ids = Array.from(this.touches.keys()).slice(0, 2);
    this.pinchIds = ids;
    this.options.zoom.startPinch(this.touches.get(ids[0]), this.touches.get(ids[1]));
  }

  onPointerDown(event) {
    if (this.touchDown(event)) {
      event.preventDefault();
      return;
    }
    if (this.active || !this.options.canStart()) return;
    if (event.pointerType === "mouse" && event.button !== 0) return;
    if (!event.isPrimary) return;
    event.preventDefault();
    const settings = this.options.settings();
    let tool = settings.tool;
    if (event.pointerType === "pen" && event.button === 5) tool = "eraser"; // the pen's eraser end
    const stroke = {
      tool: tool,
      size: settings.size,
      strength: settings.strength,
      points: [],
      pointer: event.pointerType || "mouse",
    };
    const tiles = new Map();
    const active = { pointerId: event.pointerId, stroke: stroke, tiles: tiles };
    active.renderer = new StrokeRenderer(stroke, this.paintMap, this.constants,
      (x0, y0, x1, y1) => this.history.snapshot(tiles, x0, y0, x1, y1),
      (box) => this.overlay.markDirty(box[0], box[1], box[2], box[3]));
    this.active = active;
    try { this.canvas.setPointerCapture(event.pointerId); } catch (error) { /* synthetic pointer */ }
    this.addPoint(this.imagePoint(event, this.canvas.getBoundingClientRect()));
    this.options.cursor.move(event);
  }

  onPointerMove(event) {
    if (this.touches.has(event.pointerId)) {
      this.touches.set(event.pointerId, [event.clientX, event.clientY]);
      if (this.pinchIds && this.pinchIds.indexOf(event.pointerId) >= 0) {
        event.preventDefault();
        this.options.zoom.movePinch(this.touches.get(this.pinchIds[0]), this.touches.get(this.pinchIds[1]));
        return;
      }
    }
    this.options.cursor.move(event);
    if (!this.active || event.pointerId !== this.active.pointerId) return;
    event.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    let events = typeof event.getCoalescedEvents === "function" ? event.getCoalescedEvents() : [];
    if (!events.length) events = [event];
    for (let i = 0; i < events.length; i++) this.addPoint(this.imagePoint(events[i], rect));
  }

  onPointerUp(event) {
    if (this.touches.delete(event.pointerId)) {
      if (this.pinchIds && this.pinchIds.indexOf(event.pointerId) >= 0) {
        this.pinchIds = null;
        this.options.zoom.endPinch();
        if (this.touches.size >= 2) this.startPinch(); // a third finger takes over
      }
      if (this.touches.size === 0) this.gesture = false;
    }
    if (!this.active || event.pointerId !== this.active.pointerId) return;
    if (event.type === "pointerup") {
      this.addPoint(this.imagePoint(event, this.canvas.getBoundingClientRect()));
    }
    this.finish();
    if (event.pointerType !== "mouse" && event.pointerType !== "pen") this.options.cursor.hide();
  }

  /** Take back the stroke in progress (if any): its tiles as they were, nothing committed. */
  cancel() {
    if (!this.active) return;
    const active = this.active;
    this.active = null;
    active.tiles.forEach((before, index) => this.history.writeTile(index, before));
    if (this.options.onCancel) this.options.onCancel();
  }

  /** End the stroke in progress (if any) and commit it. */
  finish() {
    if (!this.active) return;
    const active = this.active;
    this.active = null;
    if (this.history.commitStroke(active.stroke, active.tiles)) this.options.onCommit();
  }
}
