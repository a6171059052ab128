/* The admin's target-region page (templates/admin/study/image/regions.html): the painter, and
 * Save sends the map alone to the page's submitUrl, which keeps the pixels painted to at least
 * 50 % as the image's target region. No time limit, focus log or idempotency key here. */

import { readConstants, readJsonScript } from "./painter/constants.js";
import { createPainter, windowApi } from "./painter/painter.js";
import { submitPainting } from "./painter/submit.js";

const config = readJsonScript("regions-config");
const painter = createPainter(config, readConstants());

document.getElementById("submit").addEventListener("click", () => {
  submitPainting(painter, config.submitUrl, "Sending…");
});

window.painter = windowApi(painter);
