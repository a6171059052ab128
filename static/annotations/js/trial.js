/* The participant's trial page (templates/study/trial.html): the painter, with the practice
 * badge, the time limit, the focus log and the submission the server stores as an annotation
 * (annotations/services.py): the 16-bit map, the stroke log, time on task, canvas size, device
 * pixel ratio, an idempotency key, the focus events and whether the time ran out. */

import { readConstants, readJsonScript } from "./painter/constants.js";
import { createPainter, windowApi } from "./painter/painter.js";
import { submitPainting } from "./painter/submit.js";
import { FocusLog } from "./painter/focus_log.js";
import { Countdown } from "./painter/countdown.js";

const config = readJsonScript("trial-config");
// Optional settings (absent = the feature is off).
const isPractice = config.isPractice === true;
const timeLimitS = typeof config.timeLimitS === "number" && isFinite(config.timeLimitS) && config.timeLimitS > 0 ?
  config.timeLimitS : 0;

const painter = createPainter(config, readConstants());
const focusLog = new FocusLog(); // before the countdown: a page hidden past its time is logged first
const idempotencyKey = randomKey();
const canvas = document.getElementById("painter-canvas");
const image = document.getElementById("painter-image");
let timedOut = false;

/** 32 random hex digits: the submission's idempotency key, the same in every retry. */
function randomKey() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.prototype.map.call(bytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
}

function submit() {
  submitPainting(painter, config.submitUrl, timedOut ? "Time is up. Sending what you painted…" : "Sending…", () => {
    const strokes = painter.strokes;
    const rect = canvas.getBoundingClientRect();
    const timeOnTask = Math.round(window.performance.now());
    return (form) => {
      form.append("strokes", JSON.stringify(strokes));
      form.append("time_on_task_ms", String(timeOnTask));
      form.append("canvas_width", String(Math.max(1, Math.round(rect.width))));
      form.append("canvas_height", String(Math.max(1, Math.round(rect.height))));
      form.append("device_pixel_ratio", String(window.devicePixelRatio || 1));
      form.append("idempotency_key", idempotencyKey);
      form.append("focus_events", JSON.stringify(focusLog.events));
      form.append("timed_out", timedOut ? "1" : "0");
    };
  });
}

/** The time is up: end the stroke in progress, stop painting and send what is there. */
function timeUp() {
  timedOut = true;
  painter.lock();
  if (painter.busy) return; // a submission is already on its way; if it is refused, Submit sends again
  submit();
}

document.getElementById("submit").addEventListener("click", submit);

const practiceBadge = document.getElementById("practice-badge");
if (practiceBadge) practiceBadge.hidden = !isPractice;
const countdownEl = document.getElementById("countdown");
const countdown = timeLimitS && countdownEl ? new Countdown(countdownEl, timeLimitS, timeUp) : null;
if (countdownEl && !countdown) countdownEl.hidden = true;
const metaEl = document.getElementById("trial-meta");
if (metaEl) metaEl.hidden = !isPractice && !timeLimitS;
if (countdown) {
  // The clock starts when the image is there to be painted on.
  if (image.complete && image.naturalWidth > 0) countdown.start();
  else image.addEventListener("load", () => countdown.start());
}

window.painter = windowApi(painter, {
  timedOut: { get: () => timedOut, enumerable: true },
  focusEvents: { get: () => focusLog.events.slice(), enumerable: true },
  idempotencyKey: { value: idempotencyKey, enumerable: true },
});
