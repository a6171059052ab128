/* The constants the painter shares with the server, written once in Python and passed in by
 * the template tag {% painter_constants %} (annotations/templatetags/painter.py) as the
 * json_script "painter-constants". A page without them, or with a value missing, fails loudly:
 * a silent default could paint differently from the server's replay of the stroke log. */

const NAMES = ["dabFlow", "spacingFraction", "paintedLevel"];

/** The parsed content of a json_script element; throws when the element is missing. */
export function readJsonScript(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error("the page has no #" + id + " (json_script)");
  return JSON.parse(element.textContent);
}

/** {dabFlow, spacingFraction, paintedLevel}: numbers, frozen. */
export function readConstants(id = "painter-constants") {
  const values = readJsonScript(id);
  const constants = {};
  for (const name of NAMES) {
    const value = values[name];
    if (typeof value !== "number" || !isFinite(value)) throw new Error("#" + id + " has no number " + name);
    constants[name] = value;
  }
  return Object.freeze(constants);
}
