/* The brush cursor: a circle of the brush's true size on screen (image pixels x display scale),
 * following mouse and pen; touch has no hover, so no cursor. */

export class BrushCursor {
  /** element: the cursor; painterEl: its positioned parent; canvas: the displayed map. */
  constructor(element, painterEl, canvas, imageWidth) {
    this.element = element;
    this.painterEl = painterEl;
    this.canvas = canvas;
    this.imageWidth = imageWidth;
    this.disabled = false; // set when painting is over
  }

  /** size: the brush diameter in image pixels. */
  resize(size, eraser) {
    const diameter = size * (this.canvas.getBoundingClientRect().width / this.imageWidth);
    this.element.style.width = diameter + "px";
    this.element.style.height = diameter + "px";
    this.element.classList.toggle("eraser", eraser);
  }

  move(event) {
    if (event.pointerType === "touch" || this.disabled) return;
    const rect = this.painterEl.getBoundingClientRect();
    this.element.hidden = false;
    this.element.style.transform = "translate(" + (event.clientX - rect.left) + "px," + (event.clientY - rect.top) +
      "px) translate(-50%, -50%)";
  }

  hide() {
    this.element.hidden = true;
  }
}
