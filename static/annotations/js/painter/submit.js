/* Sending the painted map: a multipart POST to the page's submitUrl, retried with the same
 * form (so with the same idempotency key, where the page sends one: trial.js) when the server
 * is busy or the connection fails; the answer is {"next_url"} (go there) or {"error"} (show it);
 * a 409 with both (this trial was sent already) shows the error and goes on to next_url. */

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function wait(ms) {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

/**
 * Submit the painter's map to `url` when the painter allows it (see createPainter).
 * statusText: shown while sending. prepare(): called at once, before the map is encoded, to
 * take what must be read now; it returns addFields(form), which appends the page's fields
 * after "map".
 */
export function submitPainting(painter, url, statusText, prepare) {
  if (!painter.readyToSubmit()) return;
  painter.setBusy(true);
  painter.setStatus(statusText);
  const addFields = prepare ? prepare() : null;
  painter.encodePng().then((png) => {
    const form = new FormData();
    form.append("map", png, "map.png");
    if (addFields) addFields(form);
    return send(painter, url, form, 0);
  }).catch((error) => {
    painter.setStatus("Could not prepare the map: " + (error && error.message ? error.message : error), true);
    painter.setBusy(false);
  });
}

function send(painter, url, form, attempt) {
  return fetch(url, {
    method: "POST",
    body: form,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
  }).then((response) => {
    // Server errors and rate limits are passing: retry with the same form.
    if (response.status >= 500 || response.status === 429) throw new Error("server busy " + response.status);
    return response.json().catch(() => ({})).then((body) => {
      if (response.ok && body.next_url) {
        painter.setStatus("Saved.");
        painter.submitted = true;
        window.location.assign(body.next_url);
        return;
      }
      if (response.status === 409 && body.next_url) {
        // Sent already (another tab, a repeated submit): on to the participant's current trial.
        painter.setStatus((body.error || "This was sent already.") + " Taking you to where you are now…", true);
        painter.submitted = true;
        window.location.assign(body.next_url);
        return;
      }
      painter.setStatus(body.error || ("The submission was refused (" + response.status + ")."), true);
      painter.setBusy(false);
    });
  }, (error) => {
    throw error; // network failure: retried below
  }).catch(() => {
    if (attempt >= RETRY_DELAYS_MS.length) {
      painter.setStatus("Could not reach the server. Your painting is kept; please try again.", true);
      painter.setBusy(false);
      return;
    }
    painter.setStatus("Connection problem, retrying…");
    return wait(RETRY_DELAYS_MS[attempt]).then(() => send(painter, url, form, attempt + 1));
  });
}
