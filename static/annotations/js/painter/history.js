/* Per-stroke undo and redo, and clear (itself undoable).
 *
 * Each entry: {kind: "stroke", stroke, tiles: [{index, before, after}]} with copies of the
 * TILE x TILE tiles the stroke touched, or {kind: "clear", before: Float32Array}. Old entries
 * lose their snapshots (and so can no longer be undone) when the snapshots pass budgetBytes,
 * but keep their stroke: the stroke log stays complete. */

const TILE = 64;
const UNDO_BUDGET_BYTES = 256 * 1024 * 1024;

function entryBytes(entry) {
  if (entry.kind === "clear") return entry.before ? entry.before.byteLength : 0;
  let bytes = 0;
  if (entry.tiles) {
    for (const tile of entry.tiles) bytes += tile.before.byteLength + (tile.after ? tile.after.byteLength : 0);
  }
  return bytes;
}

export class History {
  /** onWrite(x0, y0, x1, y1): a box of the map was replaced (to be redrawn). */
  constructor(paintMap, onWrite, budgetBytes = UNDO_BUDGET_BYTES) {
    this.paintMap = paintMap;
    this.onWrite = onWrite;
    this.budgetBytes = budgetBytes;
    this.done = [];
    this.undone = [];
    this.snapshotBytes = 0;
    this.tilesX = Math.ceil(paintMap.width / TILE);
  }

  get canUndo() {
    return this.done.length > 0 && this.done[this.done.length - 1].undoable;
  }

  get canRedo() {
    return this.undone.length > 0;
  }

  /** Whether anything was ever done (and not undone). */
  get isEmpty() {
    return this.done.length === 0;
  }

  tileRect(index) {
    const tx = index % this.tilesX;
    const ty = (index - tx) / this.tilesX;
    const x0 = tx * TILE;
    const y0 = ty * TILE;
    return [x0, y0, Math.min(this.paintMap.width, x0 + TILE) - 1, Math.min(this.paintMap.height, y0 + TILE) - 1];
  }

  copyTile(index) {
    const r = this.tileRect(index);
    return this.paintMap.copyRect(r[0], r[1], r[2], r[3]);
  }

  writeTile(index, values) {
    const r = this.tileRect(index);
    this.paintMap.writeRect(r[0], r[1], r[2], r[3], values);
    this.onWrite(r[0], r[1], r[2], r[3]);
  }

  /** Before a stroke changes the box x0..x1, y0..y1 (unclipped): copy the tiles it touches
   *  that `tiles` (a Map index -> copy, one per stroke) does not have yet. */
  snapshot(tiles, x0, y0, x1, y1) {
    const W = this.paintMap.width;
    const H = this.paintMap.height;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W - 1) x1 = W - 1;
    if (y1 > H - 1) y1 = H - 1;
    if (x0 > x1 || y0 > y1) return;
    for (let ty = Math.floor(y0 / TILE); ty <= Math.floor(y1 / TILE); ty++) {
      for (let tx = Math.floor(x0 / TILE); tx <= Math.floor(x1 / TILE); tx++) {
        const index = ty * this.tilesX + tx;
        if (!tiles.has(index)) tiles.set(index, this.copyTile(index));
      }
    }
  }

  /** A finished stroke with its snapshots; false when it touched nothing inside the image. */
  commitStroke(stroke, snapshots) {
    const tiles = [];
    snapshots.forEach((before, index) => {
      tiles.push({ index: index, before: before, after: this.copyTile(index) });
    });
    if (!tiles.length) return false;
    this.push({ kind: "stroke", stroke: stroke, tiles: tiles, undoable: true });
    return true;
  }

  /** Clear the map, undoably. */
  clear() {
    this.push({ kind: "clear", before: this.paintMap.values.slice(), undoable: true });
    this.paintMap.clear();
    this.onWrite(0, 0, this.paintMap.width - 1, this.paintMap.height - 1);
  }

  push(entry) {
    this.dropRedo();
    this.snapshotBytes += entryBytes(entry);
    this.done.push(entry);
    this.enforceBudget();
  }

  enforceBudget() {
    for (let i = 0; i < this.done.length && this.snapshotBytes > this.budgetBytes; i++) {
      const entry = this.done[i];
      if (!entry.undoable) continue;
      this.snapshotBytes -= entryBytes(entry);
      entry.undoable = false;
      entry.tiles = null;
      entry.before = null;
    }
  }

  dropRedo() {
    for (const entry of this.undone) this.snapshotBytes -= entryBytes(entry);
    this.undone = [];
  }

  /** Undo the last entry; false when it cannot be undone. */
  undo() {
    if (!this.canUndo) return false;
    const entry = this.done.pop();
    if (entry.kind === "stroke") {
      for (const tile of entry.tiles) this.writeTile(tile.index, tile.before);
    } else {
      this.paintMap.restore(entry.before);
      this.onWrite(0, 0, this.paintMap.width - 1, this.paintMap.height - 1);
    }
    this.undone.push(entry);
    return true;
  }

  /** Redo the last undone entry; false when there is none. */
  redo() {
    if (!this.canRedo) return false;
    const entry = this.undone.pop();
    if (entry.kind === "stroke") {
      for (const tile of entry.tiles) this.writeTile(tile.index, tile.after);
    } else {
      this.paintMap.clear();
      this.onWrite(0, 0, this.paintMap.width - 1, this.paintMap.height - 1);
    }
    this.done.push(entry);
    return true;
  }

  /** The strokes in effect: those done since the last clear, in order. */
  effectiveStrokes() {
    const strokes = [];
    for (let i = this.done.length - 1; i >= 0; i--) {
      if (this.done[i].kind === "clear") break;
      strokes.push(this.done[i].stroke);
    }
    return strokes.reverse();
  }
}
