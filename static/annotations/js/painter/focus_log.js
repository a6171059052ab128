/* Was the participant on this page the whole time? [[event, ms since page load], ...] with
 * event "focus", "blur", "hidden" or "visible" (the names the server accepts). */

const MAX_FOCUS_EVENTS = 5000;

export class FocusLog {
  constructor() {
    this.events = [];
    window.addEventListener("focus", () => this.record("focus"));
    window.addEventListener("blur", () => this.record("blur"));
    document.addEventListener("visibilitychange", () => {
      this.record(document.visibilityState === "hidden" ? "hidden" : "visible");
    });
  }

  record(name) {
    if (this.events.length < MAX_FOCUS_EVENTS) this.events.push([name, Math.round(window.performance.now())]);
  }
}
