/* The trial painter: paint a graded heatmap over an image and submit it as a 16-bit PNG.
 *
 * The brush model is the one in annotations/brush.py (render_strokes), which replays the
 * stroke log sent with the map; keep the two identical.
 */
(function () {
  "use strict";

  var DAB_FLOW = 0.25;
  var SPACING_FRACTION = 0.15;
  var TILE = 64;
  var MIN_SIZE = 4;
  var MAX_SIZE = 200;
  var UNDO_BUDGET_BYTES = 256 * 1024 * 1024;
  var RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];
  var STORAGE_SIZE = "painter.brushSize";
  var STORAGE_STRENGTH = "painter.brushStrength";
  var COVERED_LEVEL = 0.05; // a pixel counts towards the coverage from this value on
  var NONZERO_LEVEL = 0.5 / 65535; // what the 16-bit PNG can show: rounds to at least 1/65535
  var MAX_FOCUS_EVENTS = 5000;
  var URGENT_SECONDS = 10;

  var config = JSON.parse(document.getElementById("trial-config").textContent);
  var W = config.width;
  var H = config.height;
  // Optional settings (absent = the feature is off).
  var isPractice = config.isPractice === true;
  var timeLimitS = typeof config.timeLimitS === "number" && isFinite(config.timeLimitS) && config.timeLimitS > 0 ?
    config.timeLimitS : 0;
  var minCoverage = typeof config.minCoverage === "number" && isFinite(config.minCoverage) ?
    Math.max(0, Math.min(1, config.minCoverage)) : 0;

  var painterEl = document.getElementById("painter");
  var image = document.getElementById("painter-image");
  var canvas = document.getElementById("painter-canvas");
  var cursor = document.getElementById("brush-cursor");
  var toolBrush = document.getElementById("tool-brush");
  var toolEraser = document.getElementById("tool-eraser");
  var sizeInput = document.getElementById("brush-size");
  var sizeValue = document.getElementById("brush-size-value");
  var strengthInput = document.getElementById("brush-strength");
  var strengthValue = document.getElementById("brush-strength-value");
  var opacityInput = document.getElementById("overlay-opacity");
  var showImage = document.getElementById("show-image");
  var undoButton = document.getElementById("undo");
  var redoButton = document.getElementById("redo");
  var clearButton = document.getElementById("clear");
  var submitButton = document.getElementById("submit");
  var statusEl = document.getElementById("status");
  var countdownEl = document.getElementById("countdown");
  var practiceBadge = document.getElementById("practice-badge");
  var coverageEl = document.getElementById("coverage");

  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  painterEl.style.setProperty("--w", String(W));
  painterEl.style.setProperty("--h", String(H));

  var ctx = canvas.getContext("2d");
  var map = new Float32Array(W * H);
  var pixels = ctx.createImageData(W, H);

  /* ---------------------------------------------------------------- settings */

  function storedNumber(key, fallback, min, max) {
    try {
      var value = parseFloat(window.localStorage.getItem(key));
      if (isFinite(value) && value >= min && value <= max) return value;
    } catch (error) { /* storage blocked: use the default */ }
    return fallback;
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, String(value)); } catch (error) { /* ignore */ }
  }

  var brushSize = Math.round(storedNumber(STORAGE_SIZE, parseFloat(sizeInput.value) || 40, MIN_SIZE, MAX_SIZE));
  var strengthPercent = Math.round(storedNumber(STORAGE_STRENGTH, parseFloat(strengthInput.value) || 35,
    parseFloat(strengthInput.min) || 1, 100));

  function currentTool() {
    return toolEraser.checked ? "eraser" : "brush";
  }

  function setBrushSize(size) {
    brushSize = Math.max(MIN_SIZE, Math.min(MAX_SIZE, Math.round(size)));
    sizeInput.value = String(brushSize);
    sizeValue.textContent = String(brushSize);
    store(STORAGE_SIZE, brushSize);
    updateCursorSize();
  }

  function setStrength(percent) {
    strengthPercent = Math.max(1, Math.min(100, Math.round(percent)));
    strengthInput.value = String(strengthPercent);
    strengthValue.textContent = String(strengthPercent);
    store(STORAGE_STRENGTH, strengthPercent);
  }

  /* ---------------------------------------------------------------- colour overlay */

  // A warm ramp: yellow -> orange -> red -> dark red as the value grows.
  var RAMP = [[0, 255, 224, 64], [0.3, 255, 150, 20], [0.65, 225, 40, 20], [1, 140, 0, 40]];
  var LUT_SIZE = 256;
  var lutR = new Uint8ClampedArray(LUT_SIZE);
  var lutG = new Uint8ClampedArray(LUT_SIZE);
  var lutB = new Uint8ClampedArray(LUT_SIZE);
  var lutA = new Uint8ClampedArray(LUT_SIZE);
  (function buildRamp() {
    for (var i = 0; i < LUT_SIZE; i++) {
      var v = i / (LUT_SIZE - 1);
      var k = 1;
      while (k < RAMP.length - 1 && v > RAMP[k][0]) k++;
      var lo = RAMP[k - 1];
      var hi = RAMP[k];
      var t = (v - lo[0]) / (hi[0] - lo[0]);
      lutR[i] = lo[1] + (hi[1] - lo[1]) * t;
      lutG[i] = lo[2] + (hi[2] - lo[2]) * t;
      lutB[i] = lo[3] + (hi[3] - lo[3]) * t;
    }
  })();

  function updateAlphaRamp() {
    var opacity = parseFloat(opacityInput.value) / 100;
    for (var i = 0; i < LUT_SIZE; i++) {
      // Alpha follows value x opacity, with a square root so that faint paint stays visible.
      var v = i / (LUT_SIZE - 1);
      lutA[i] = i === 0 ? 0 : Math.max(10, 255 * opacity * Math.sqrt(v));
    }
  }

  var dirty = null; // {x0, y0, x1, y1} inclusive, in image pixels
  var frameRequested = false;

  function markDirty(x0, y0, x1, y1) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W - 1) x1 = W - 1;
    if (y1 > H - 1) y1 = H - 1;
    if (x0 > x1 || y0 > y1) return;
    if (dirty === null) {
      dirty = { x0: x0, y0: y0, x1: x1, y1: y1 };
    } else {
      if (x0 < dirty.x0) dirty.x0 = x0;
      if (y0 < dirty.y0) dirty.y0 = y0;
      if (x1 > dirty.x1) dirty.x1 = x1;
      if (y1 > dirty.y1) dirty.y1 = y1;
    }
    if (!frameRequested) {
      frameRequested = true;
      window.requestAnimationFrame(drawDirty);
    }
  }

  function drawDirty() {
    frameRequested = false;
    if (dirty === null) return;
    var box = dirty;
    dirty = null;
    var data = pixels.data;
    var top = LUT_SIZE - 1;
    for (var y = box.y0; y <= box.y1; y++) {
      var i = y * W + box.x0;
      var o = i * 4;
      for (var x = box.x0; x <= box.x1; x++, i++, o += 4) {
        var level = (map[i] * top + 0.5) | 0;
        data[o] = lutR[level];
        data[o + 1] = lutG[level];
        data[o + 2] = lutB[level];
        data[o + 3] = lutA[level];
      }
    }
    ctx.putImageData(pixels, 0, 0, box.x0, box.y0, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1);
    if (active) updateCoverage(); // the text follows the stroke; the buttons change when it ends
  }

  function redrawAll() {
    markDirty(0, 0, W - 1, H - 1);
  }

  /* ---------------------------------------------------------------- brush model */

  // Pixels at or above COVERED_LEVEL and NONZERO_LEVEL, kept up to date by every change of the
  // map, so that neither the coverage nor "is anything painted" needs a scan of the whole map.
  var coveredCount = 0;
  var nonzeroCount = 0;

  function countRange(start, end) {
    var covered = 0, nonzero = 0;
    for (var i = start; i < end; i++) {
      var v = map[i];
      if (v >= NONZERO_LEVEL) {
        nonzero++;
        if (v >= COVERED_LEVEL) covered++;
      }
    }
    return [covered, nonzero];
  }

  function recount() {
    var counts = countRange(0, map.length);
    coveredCount = counts[0];
    nonzeroCount = counts[1];
  }

  function applyDab(cx, cy, radius, amount, erase) {
    if (radius <= 0 || amount <= 0) return null;
    var x0 = Math.max(0, Math.floor(cx - radius - 0.5));
    var x1 = Math.min(W - 1, Math.ceil(cx + radius - 0.5));
    var y0 = Math.max(0, Math.floor(cy - radius - 0.5));
    var y1 = Math.min(H - 1, Math.ceil(cy + radius - 0.5));
    if (x0 > x1 || y0 > y1) return null;
    var r2 = radius * radius;
    for (var py = y0; py <= y1; py++) {
      var dy = (py + 0.5) - cy;
      var dy2 = dy * dy;
      if (dy2 >= r2) continue;
      var row = py * W;
      for (var px = x0; px <= x1; px++) {
        var dx = (px + 0.5) - cx;
        var d2 = dx * dx + dy2;
        if (d2 < r2) {
          var q = 1 - d2 / r2;
          var w = q * q;
          var v = map[row + px];
          var next = erase ? v * (1 - amount * w) : v + amount * w * (1 - v);
          next = Math.fround(next < 0 ? 0 : (next > 1 ? 1 : next)); // the value as stored
          map[row + px] = next;
          if ((v >= COVERED_LEVEL) !== (next >= COVERED_LEVEL)) coveredCount += next >= COVERED_LEVEL ? 1 : -1;
          if ((v >= NONZERO_LEVEL) !== (next >= NONZERO_LEVEL)) nonzeroCount += next >= NONZERO_LEVEL ? 1 : -1;
        }
      }
    }
    return [x0, y0, x1, y1];
  }

  /* Places dabs incrementally as points arrive, exactly as brush.stroke_dabs does. */
  function StrokeRenderer(stroke, onBeforeDab) {
    this.stroke = stroke;
    this.radius = stroke.size / 2;
    this.spacing = Math.max(1, stroke.size * SPACING_FRACTION);
    this.erase = stroke.tool === "eraser";
    this.last = null;
    this.toNext = this.spacing;
    this.onBeforeDab = onBeforeDab;
  }

  StrokeRenderer.prototype.dab = function (x, y, pressure) {
    var amount = this.stroke.strength * pressure * DAB_FLOW;
    var r = this.radius;
    this.onBeforeDab(Math.floor(x - r - 0.5), Math.floor(y - r - 0.5), Math.ceil(x + r - 0.5), Math.ceil(y + r - 0.5));
    var box = applyDab(x, y, r, amount, this.erase);
    if (box) markDirty(box[0], box[1], box[2], box[3]);
  };

  StrokeRenderer.prototype.add = function (point) {
    var bx = point[0], by = point[1], bp = point[2];
    if (this.last === null) {
      this.last = point;
      this.dab(bx, by, bp);
      return;
    }
    var ax = this.last[0], ay = this.last[1], ap = this.last[2];
    var length = Math.hypot(bx - ax, by - ay);
    var position = this.toNext;
    while (position <= length) {
      var t = position / length;
      this.dab(ax + (bx - ax) * t, ay + (by - ay) * t, ap + (bp - ap) * t);
      position += this.spacing;
    }
    this.toNext = position - length;
    this.last = point;
  };

  /* ---------------------------------------------------------------- undo / redo */

  // Each history entry: {kind: "stroke", stroke, tiles: [{index, before, after}]} or
  // {kind: "clear", before: Float32Array}. Old entries lose their snapshots (and so can no
  // longer be undone) when the snapshots pass UNDO_BUDGET_BYTES, but keep their stroke.
  var done = [];
  var undone = [];
  var snapshotBytes = 0;
  var tilesX = Math.ceil(W / TILE);
  var tilesY = Math.ceil(H / TILE);

  function tileRect(index) {
    var tx = index % tilesX;
    var ty = (index - tx) / tilesX;
    var x0 = tx * TILE;
    var y0 = ty * TILE;
    return [x0, y0, Math.min(W, x0 + TILE) - 1, Math.min(H, y0 + TILE) - 1];
  }

  function copyTile(index) {
    var rect = tileRect(index);
    var tw = rect[2] - rect[0] + 1;
    var out = new Float32Array(tw * (rect[3] - rect[1] + 1));
    for (var y = rect[1], k = 0; y <= rect[3]; y++, k += tw) {
      out.set(map.subarray(y * W + rect[0], y * W + rect[0] + tw), k);
    }
    return out;
  }

  function writeTile(index, values) {
    var rect = tileRect(index);
    var tw = rect[2] - rect[0] + 1;
    for (var y = rect[1], k = 0; y <= rect[3]; y++, k += tw) {
      var start = y * W + rect[0];
      var before = countRange(start, start + tw);
      map.set(values.subarray(k, k + tw), start);
      var after = countRange(start, start + tw);
      coveredCount += after[0] - before[0];
      nonzeroCount += after[1] - before[1];
    }
    markDirty(rect[0], rect[1], rect[2], rect[3]);
  }

  function entryBytes(entry) {
    if (entry.kind === "clear") return entry.before ? entry.before.byteLength : 0;
    var bytes = 0;
    if (entry.tiles) {
      for (var i = 0; i < entry.tiles.length; i++) {
        bytes += entry.tiles[i].before.byteLength + (entry.tiles[i].after ? entry.tiles[i].after.byteLength : 0);
      }
    }
    return bytes;
  }

  function enforceUndoBudget() {
    for (var i = 0; i < done.length && snapshotBytes > UNDO_BUDGET_BYTES; i++) {
      var entry = done[i];
      if (!entry.undoable) continue;
      snapshotBytes -= entryBytes(entry);
      entry.undoable = false;
      entry.tiles = null;
      entry.before = null;
    }
  }

  function dropRedo() {
    for (var i = 0; i < undone.length; i++) snapshotBytes -= entryBytes(undone[i]);
    undone = [];
  }

  function undo() {
    if (busy || active || locked || !done.length || !done[done.length - 1].undoable) return;
    var entry = done.pop();
    if (entry.kind === "stroke") {
      for (var i = 0; i < entry.tiles.length; i++) writeTile(entry.tiles[i].index, entry.tiles[i].before);
    } else {
      map.set(entry.before);
      recount();
      redrawAll();
    }
    undone.push(entry);
    changed();
  }

  function redo() {
    if (busy || active || locked || !undone.length) return;
    var entry = undone.pop();
    if (entry.kind === "stroke") {
      for (var i = 0; i < entry.tiles.length; i++) writeTile(entry.tiles[i].index, entry.tiles[i].after);
    } else {
      map.fill(0);
      coveredCount = 0;
      nonzeroCount = 0;
      redrawAll();
    }
    done.push(entry);
    changed();
  }

  function clearMap() {
    if (busy || active || locked || !hasPaint()) return;
    var entry = { kind: "clear", before: map.slice(), undoable: true };
    dropRedo();
    snapshotBytes += entryBytes(entry);
    done.push(entry);
    enforceUndoBudget();
    map.fill(0);
    coveredCount = 0;
    nonzeroCount = 0;
    redrawAll();
    changed();
  }

  /** The strokes in effect: those done since the last clear, in order. */
  function effectiveStrokes() {
    var strokes = [];
    for (var i = done.length - 1; i >= 0; i--) {
      if (done[i].kind === "clear") break;
      strokes.push(done[i].stroke);
    }
    return strokes.reverse();
  }

  function hasPaint() {
    return nonzeroCount > 0;
  }

  function coverage() {
    return coveredCount / map.length;
  }

  /** Whether the participant may submit now; after the time limit whatever is there goes. */
  function canSubmit() {
    if (busy) return false;
    if (timedOut) return true;
    return hasPaint() && coverage() >= minCoverage;
  }

  /** The painted share, rounded down (never shows "enough" before it is). */
  function formatPercent(fraction) {
    var percent = fraction * 100;
    if (percent <= 0) return "0";
    if (percent < 0.1) return "< 0.1";
    if (percent < 10) return (Math.floor(percent * 10) / 10).toFixed(1);
    return String(Math.floor(percent));
  }

  function formatRequirement(fraction) {
    return String(Math.round(fraction * 100 * 100) / 100); // 0.005 -> "0.5", 0.1 -> "10"
  }

  var shownCoverage = null;

  function updateCoverage() {
    if (!coverageEl) return;
    var text = "Painted: " + formatPercent(coverage()) + " % of the image";
    if (minCoverage > 0) text += " (at least " + formatRequirement(minCoverage) + " % needed)";
    if (text === shownCoverage) return;
    shownCoverage = text;
    coverageEl.textContent = text;
    coverageEl.classList.toggle("enough", coverage() >= minCoverage && hasPaint());
  }

  function changed() {
    undoButton.disabled = busy || locked || !done.length || !done[done.length - 1].undoable;
    redoButton.disabled = busy || locked || !undone.length;
    clearButton.disabled = busy || locked || !hasPaint();
    submitButton.disabled = !canSubmit();
    updateCoverage();
  }

  /* ---------------------------------------------------------------- pointer input */

  var active = null; // {pointerId, stroke, renderer, tiles: Map index -> before}
  var busy = false; // a submission is in flight
  var locked = false; // the time is up: no more painting
  var timedOut = false;

  function round(value, places) {
    var f = Math.pow(10, places);
    return Math.round(value * f) / f;
  }

  function pressureOf(event) {
    if (event.pointerType !== "pen") return 1; // mouse reports 0.5 while pressed; touch varies
    var p = event.pressure;
    if (!(p > 0)) return 0.5; // a pen that reports no pressure
    return Math.max(0.001, Math.min(1, round(p, 3)));
  }

  function imagePoint(event, rect) {
    var x = (event.clientX - rect.left) * (W / rect.width);
    var y = (event.clientY - rect.top) * (H / rect.height);
    return [round(x, 2), round(y, 2), pressureOf(event)];
  }

  function snapshotTiles(x0, y0, x1, y1) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W - 1) x1 = W - 1;
    if (y1 > H - 1) y1 = H - 1;
    if (x0 > x1 || y0 > y1) return;
    var tiles = active.tiles;
    for (var ty = Math.floor(y0 / TILE); ty <= Math.floor(y1 / TILE); ty++) {
      for (var tx = Math.floor(x0 / TILE); tx <= Math.floor(x1 / TILE); tx++) {
        var index = ty * tilesX + tx;
        if (!tiles.has(index)) tiles.set(index, copyTile(index));
      }
    }
  }

  function addPoint(point) {
    var points = active.stroke.points;
    var last = points[points.length - 1];
    if (last && last[0] === point[0] && last[1] === point[1] && last[2] === point[2]) return;
    points.push(point);
    active.renderer.add(point);
  }

  function onPointerDown(event) {
    if (busy || active || locked) return;
    if (event.pointerType === "mouse" && event.button !== 0) return;
    if (!event.isPrimary) return;
    event.preventDefault();
    var tool = currentTool();
    if (event.pointerType === "pen" && event.button === 5) tool = "eraser"; // the pen's eraser end
    var stroke = {
      tool: tool,
      size: brushSize,
      strength: strengthPercent / 100,
      points: [],
      pointer: event.pointerType || "mouse",
    };
    active = { pointerId: event.pointerId, stroke: stroke, tiles: new Map() };
    active.renderer = new StrokeRenderer(stroke, snapshotTiles);
    try { canvas.setPointerCapture(event.pointerId); } catch (error) { /* synthetic pointer */ }
    addPoint(imagePoint(event, canvas.getBoundingClientRect()));
    moveCursor(event);
  }

  function onPointerMove(event) {
    moveCursor(event);
    if (!active || event.pointerId !== active.pointerId) return;
    event.preventDefault();
    var rect = canvas.getBoundingClientRect();
    var events = typeof event.getCoalescedEvents === "function" ? event.getCoalescedEvents() : [];
    if (!events.length) events = [event];
    for (var i = 0; i < events.length; i++) addPoint(imagePoint(events[i], rect));
  }

  function onPointerUp(event) {
    if (!active || event.pointerId !== active.pointerId) return;
    if (event.type === "pointerup") {
      addPoint(imagePoint(event, canvas.getBoundingClientRect()));
    }
    finishStroke();
    if (event.pointerType !== "mouse" && event.pointerType !== "pen") hideCursor();
  }

  function finishStroke() {
    var stroke = active.stroke;
    var tiles = [];
    active.tiles.forEach(function (before, index) {
      tiles.push({ index: index, before: before, after: copyTile(index) });
    });
    active = null;
    if (!tiles.length) return; // nothing inside the image was touched
    var entry = { kind: "stroke", stroke: stroke, tiles: tiles, undoable: true };
    dropRedo();
    snapshotBytes += entryBytes(entry);
    done.push(entry);
    enforceUndoBudget();
    changed();
  }

  /* ---------------------------------------------------------------- brush cursor */

  function displayScale() {
    var rect = canvas.getBoundingClientRect();
    return rect.width / W;
  }

  function updateCursorSize() {
    var diameter = brushSize * displayScale();
    cursor.style.width = diameter + "px";
    cursor.style.height = diameter + "px";
    cursor.classList.toggle("eraser", currentTool() === "eraser");
  }

  function moveCursor(event) {
    if (event.pointerType === "touch" || locked) return;
    var rect = painterEl.getBoundingClientRect();
    cursor.hidden = false;
    cursor.style.transform = "translate(" + (event.clientX - rect.left) + "px," + (event.clientY - rect.top) +
      "px) translate(-50%, -50%)";
  }

  function hideCursor() {
    cursor.hidden = true;
  }

  /* ---------------------------------------------------------------- PNG encoder */

  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes, crc) {
    crc = crc === undefined ? 0xffffffff : crc;
    for (var i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return crc;
  }

  function chunk(type, data) {
    var out = new Uint8Array(12 + data.length);
    var view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    for (var i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(data, 8);
    var crc = crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff;
    view.setUint32(8 + data.length, crc >>> 0);
    return out;
  }

  /** Rows of the map as 16-bit big-endian samples with PNG's "Sub" filter (type 1): each
   *  byte minus the same byte of the sample to its left. Painted maps are smooth, so this
   *  turns most bytes into small numbers that deflate compresses several times better. */
  function rawRows() {
    var stride = 1 + W * 2;
    var raw = new Uint8Array(stride * H);
    for (var y = 0; y < H; y++) {
      var o = y * stride;
      raw[o++] = 1;
      var leftHigh = 0, leftLow = 0;
      for (var x = 0, i = y * W; x < W; x++, i++) {
        var v = map[i];
        var sample = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 65535);
        var high = sample >>> 8, low = sample & 0xff;
        raw[o++] = (high - leftHigh) & 0xff;
        raw[o++] = (low - leftLow) & 0xff;
        leftHigh = high;
        leftLow = low;
      }
    }
    return raw;
  }

  /** A zlib stream of stored (uncompressed) blocks, for browsers without CompressionStream. */
  function zlibStored(data) {
    var blocks = Math.max(1, Math.ceil(data.length / 65535));
    var out = new Uint8Array(2 + data.length + blocks * 5 + 4);
    out[0] = 0x78;
    out[1] = 0x01;
    var o = 2;
    for (var b = 0; b < blocks; b++) {
      var start = b * 65535;
      var len = Math.min(65535, data.length - start);
      out[o++] = b === blocks - 1 ? 1 : 0;
      out[o++] = len & 0xff;
      out[o++] = len >>> 8;
      out[o++] = ~len & 0xff;
      out[o++] = (~len >>> 8) & 0xff;
      out.set(data.subarray(start, start + len), o);
      o += len;
    }
    var s1 = 1, s2 = 0;
    for (var i = 0; i < data.length; i++) {
      s1 = (s1 + data[i]) % 65521;
      s2 = (s2 + s1) % 65521;
    }
    new DataView(out.buffer).setUint32(o, ((s2 << 16) | s1) >>> 0);
    return out;
  }

  function deflate(data) {
    if (typeof CompressionStream !== "function") return Promise.resolve(zlibStored(data));
    var stream = new Blob([data]).stream().pipeThrough(new CompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function encodePng() {
    var header = new Uint8Array(13);
    var view = new DataView(header.buffer);
    view.setUint32(0, W);
    view.setUint32(4, H);
    header[8] = 16; // bit depth
    header[9] = 0; // colour type: grayscale
    header[10] = 0; // compression
    header[11] = 0; // filter
    header[12] = 0; // no interlace
    return deflate(rawRows()).then(function (compressed) {
      var signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      return new Blob([signature, chunk("IHDR", header), chunk("IDAT", compressed), chunk("IEND", new Uint8Array(0))],
        { type: "image/png" });
    });
  }

  /* ---------------------------------------------------------------- submission */

  function randomKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  var idempotencyKey = randomKey();

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
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

  function wait(ms) {
    return new Promise(function (resolve) { window.setTimeout(resolve, ms); });
  }

  function submit() {
    if (active || !canSubmit()) return;
    setBusy(true);
    setStatus(timedOut ? "Time is up. Sending what you painted…" : "Sending…");
    var strokes = effectiveStrokes();
    var rect = canvas.getBoundingClientRect();
    var timeOnTask = Math.round(window.performance.now());
    encodePng().then(function (png) {
      var form = new FormData();
      form.append("map", png, "map.png");
      form.append("strokes", JSON.stringify(strokes));
      form.append("time_on_task_ms", String(timeOnTask));
      form.append("canvas_width", String(Math.max(1, Math.round(rect.width))));
      form.append("canvas_height", String(Math.max(1, Math.round(rect.height))));
      form.append("device_pixel_ratio", String(window.devicePixelRatio || 1));
      form.append("idempotency_key", idempotencyKey);
      form.append("focus_events", JSON.stringify(focusEvents));
      form.append("timed_out", timedOut ? "1" : "0");
      return send(form, 0);
    }).catch(function (error) {
      setStatus("Could not prepare the map: " + (error && error.message ? error.message : error), true);
      setBusy(false);
    });
  }

  function send(form, attempt) {
    return fetch(config.submitUrl, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
    }).then(function (response) {
      // Server errors and rate limits are passing: retry with the same idempotency key.
      if (response.status >= 500 || response.status === 429) throw new Error("server busy " + response.status);
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok && body.next_url) {
          setStatus("Saved.");
          submitted = true;
          window.location.assign(body.next_url);
          return;
        }
        setStatus(body.error || ("The submission was refused (" + response.status + ")."), true);
        setBusy(false);
      });
    }, function (error) {
      throw error; // network failure: retried below
    }).catch(function (error) {
      if (attempt >= RETRY_DELAYS_MS.length) {
        setStatus("Could not reach the server. Your painting is kept; please try again.", true);
        setBusy(false);
        return;
      }
      setStatus("Connection problem, retrying…");
      return wait(RETRY_DELAYS_MS[attempt]).then(function () { return send(form, attempt + 1); });
    });
  }

  var submitted = false;

  /* ---------------------------------------------------------------- focus and visibility */

  // [[event, ms since page load], ...]: was the participant on this page the whole time?
  var focusEvents = [];

  function recordFocus(name) {
    if (focusEvents.length < MAX_FOCUS_EVENTS) focusEvents.push([name, Math.round(window.performance.now())]);
  }

  window.addEventListener("focus", function () { recordFocus("focus"); });
  window.addEventListener("blur", function () { recordFocus("blur"); });
  document.addEventListener("visibilitychange", function () {
    recordFocus(document.visibilityState === "hidden" ? "hidden" : "visible");
    if (deadline !== null) tick(); // timers are throttled in hidden pages: catch up at once
  });

  /* ---------------------------------------------------------------- time limit */

  var deadline = null; // performance.now() at which the time is up
  var timer = null;
  var shownSeconds = null;

  function formatClock(seconds) {
    var s = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var left = Math.max(0, deadline - window.performance.now());
    var seconds = Math.ceil(left / 1000);
    if (seconds !== shownSeconds) {
      shownSeconds = seconds;
      countdownEl.textContent = formatClock(seconds);
      countdownEl.setAttribute("aria-label", seconds + " seconds left");
      countdownEl.classList.toggle("urgent", seconds <= URGENT_SECONDS);
    }
    if (left <= 0) timeUp();
  }

  function startCountdown() {
    if (!timeLimitS || deadline !== null || !countdownEl) return;
    deadline = window.performance.now() + timeLimitS * 1000;
    countdownEl.hidden = false;
    tick();
    // Several ticks a second so that the display changes close to each whole second.
    timer = window.setInterval(tick, 250);
  }

  /** The time is up: end the stroke in progress, stop painting and send what is there. */
  function timeUp() {
    if (timedOut) return;
    window.clearInterval(timer);
    timedOut = true;
    locked = true;
    if (active) finishStroke();
    painterEl.classList.add("locked");
    hideCursor();
    toolBrush.disabled = toolEraser.disabled = true;
    changed();
    if (busy) return; // a submission is already on its way; if it is refused, Submit sends again
    submit();
  }

  /* ---------------------------------------------------------------- wiring */

  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  canvas.addEventListener("lostpointercapture", function (event) {
    if (active && event.pointerId === active.pointerId) finishStroke();
  });
  canvas.addEventListener("pointerleave", function () { if (!active) hideCursor(); });
  canvas.addEventListener("contextmenu", function (event) { event.preventDefault(); });

  sizeInput.addEventListener("input", function () { setBrushSize(parseFloat(sizeInput.value)); });
  strengthInput.addEventListener("input", function () { setStrength(parseFloat(strengthInput.value)); });
  opacityInput.addEventListener("input", function () { updateAlphaRamp(); redrawAll(); });
  showImage.addEventListener("change", function () { image.style.visibility = showImage.checked ? "" : "hidden"; });
  toolBrush.addEventListener("change", updateCursorSize);
  toolEraser.addEventListener("change", updateCursorSize);
  undoButton.addEventListener("click", undo);
  redoButton.addEventListener("click", redo);
  clearButton.addEventListener("click", clearMap);
  submitButton.addEventListener("click", submit);

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
        (target.tagName === "INPUT" && /^(text|search|email|number|password)$/.test(target.type)))) return;
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "z" || key === "Z")) {
      event.preventDefault();
      if (event.shiftKey) redo(); else undo();
    } else if ((event.ctrlKey || event.metaKey) && !event.altKey && (key === "y" || key === "Y")) {
      event.preventDefault();
      redo();
    } else if (!event.ctrlKey && !event.metaKey && !event.altKey && (key === "[" || key === "]")) {
      event.preventDefault();
      var step = Math.max(1, Math.round(brushSize * 0.15));
      setBrushSize(brushSize + (key === "]" ? step : -step));
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (!submitted && done.length && hasPaint()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  if (typeof ResizeObserver === "function") {
    new ResizeObserver(updateCursorSize).observe(canvas);
  } else {
    window.addEventListener("resize", updateCursorSize);
  }
  image.addEventListener("error", function () {
    setStatus("The image could not be loaded. Please reload the page.", true);
  });
  if (practiceBadge) practiceBadge.hidden = !isPractice;
  if (countdownEl) {
    countdownEl.hidden = !timeLimitS;
    if (timeLimitS) countdownEl.textContent = formatClock(Math.ceil(timeLimitS));
  }
  var metaEl = document.getElementById("trial-meta");
  if (metaEl) metaEl.hidden = !isPractice && !timeLimitS;
  // The clock starts when the image is there to be painted on.
  if (image.complete && image.naturalWidth > 0) startCountdown();
  else image.addEventListener("load", startCountdown);

  setBrushSize(brushSize);
  setStrength(strengthPercent);
  updateAlphaRamp();
  changed();

  window.painter = {
    map: map,
    width: W,
    height: H,
    get strokes() { return effectiveStrokes(); },
    get brushSize() { return brushSize; },
    get busy() { return busy; },
    get coverage() { return coverage(); },
    get timedOut() { return timedOut; },
    get focusEvents() { return focusEvents.slice(); },
    idempotencyKey: idempotencyKey,
    encodePng: encodePng,
    undo: undo,
    redo: redo,
    clear: clearMap,
  };
})();
