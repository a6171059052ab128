/* The time limit of a trial: a m:ss clock that turns urgent near the end and calls onTimeUp
 * once when the time is up. */

const URGENT_SECONDS = 10;

export function formatClock(seconds) {
  const s = seconds % 60;
  return Math.floor(seconds / 60) + ":" + (s < 10 ? "0" : "") + s;
}

export class Countdown {
  /** element: the clock; seconds: the time limit (> 0). */
  constructor(element, seconds, onTimeUp) {
    this.element = element;
    this.seconds = seconds;
    this.onTimeUp = onTimeUp;
    this.deadline = null; // performance.now() at which the time is up
    this.timer = null;
    this.shownSeconds = null;
    this.expired = false;
    element.hidden = false;
    element.textContent = formatClock(Math.ceil(seconds));
    document.addEventListener("visibilitychange", () => {
      if (this.deadline !== null) this.tick(); // timers are throttled in hidden pages: catch up at once
    });
  }

  /** Start the clock (once). */
  start() {
    if (this.deadline !== null) return;
    this.deadline = window.performance.now() + this.seconds * 1000;
    this.element.hidden = false;
    this.tick();
    // Several ticks a second so that the display changes close to each whole second.
    this.timer = window.setInterval(() => this.tick(), 250);
  }

  tick() {
    const left = Math.max(0, this.deadline - window.performance.now());
    const seconds = Math.ceil(left / 1000);
    if (seconds !== this.shownSeconds) {
      this.shownSeconds = seconds;
      this.element.textContent = formatClock(seconds);
      this.element.setAttribute("aria-label", seconds + " seconds left");
      this.element.classList.toggle("urgent", seconds <= URGENT_SECONDS);
    }
    if (left <= 0 && !this.expired) {
      this.expired = true;
      window.clearInterval(this.timer);
      this.onTimeUp();
    }
  }
}
