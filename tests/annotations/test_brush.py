"""The brush model, checked against hand computations of its formulas."""

import math

import numpy as np
import pytest

from annotations.brush import DAB_FLOW, SPACING_FRACTION, render_strokes, stroke_dabs


def weight(px: int, py: int, cx: float, cy: float, radius: float) -> float:
    d2 = (px + 0.5 - cx) ** 2 + (py + 0.5 - cy) ** 2
    return (1 - d2 / radius**2) ** 2 if d2 < radius**2 else 0.0


def dab(x, y, size=10, strength=1.0, tool="brush", pressure=1.0):
    return {"tool": tool, "size": size, "strength": strength, "points": [[x, y, pressure]]}


def test_constants():
    assert DAB_FLOW == 0.25
    assert SPACING_FRACTION == 0.15


def test_single_dab_matches_the_formula():
    values = render_strokes([dab(10.5, 10.5, size=10, strength=0.8)], 21, 21)
    assert values.dtype == np.float32 and values.shape == (21, 21)
    a = 0.8 * 1.0 * 0.25
    assert values[10, 10] == pytest.approx(a)  # the centre pixel: d = 0, w = 1
    # (12, 13): centre (12.5, 13.5), d^2 = 4 + 9 = 13, w = (1 - 13/25)^2 = 0.2304
    assert values[13, 12] == pytest.approx(a * 0.2304)
    # (7, 10): d = 3, w = (1 - 9/25)^2 = 0.4096
    assert values[10, 7] == pytest.approx(a * 0.4096)
    # d = 5 = r exactly: untouched; and everything at d >= r is zero.
    assert values[10, 15] == 0.0 and values[15, 10] == 0.0
    ys, xs = np.mgrid[0:21, 0:21]
    distance = np.hypot(xs + 0.5 - 10.5, ys + 0.5 - 10.5)
    assert not values[distance >= 5].any()
    assert (values[distance < 5] > 0).all()
    expected = np.array([[a * weight(x, y, 10.5, 10.5, 5) for x in range(21)] for y in range(21)])
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)


def test_off_centre_dab_and_pressure():
    values = render_strokes([dab(7.2, 4.9, size=7, strength=0.5, pressure=0.4)], 16, 12)
    a = 0.5 * 0.4 * 0.25
    for px, py in [(7, 4), (6, 4), (8, 5), (5, 2), (9, 7), (3, 4)]:
        assert values[py, px] == pytest.approx(a * weight(px, py, 7.2, 4.9, 3.5), abs=1e-7)


def test_painting_twice_accumulates():
    once = render_strokes([dab(8, 8, size=12, strength=0.6)], 16, 16)
    twice = render_strokes([dab(8, 8, size=12, strength=0.6)] * 2, 16, 16)
    a = 0.6 * 0.25
    for px, py in [(7, 7), (8, 8), (5, 9), (10, 4)]:
        w = weight(px, py, 8, 8, 6)
        v = a * w
        assert once[py, px] == pytest.approx(v)
        assert twice[py, px] == pytest.approx(v + a * w * (1 - v))


def test_eraser_reduces_per_formula():
    strokes = [dab(8, 8, size=12, strength=1.0), dab(8, 8, size=12, strength=1.0)]
    painted = render_strokes(strokes, 16, 16)
    erased = render_strokes(strokes + [dab(9, 8, size=6, strength=0.5, tool="eraser")], 16, 16)
    e = 0.5  # the eraser has no DAB_FLOW; its weight is full in the core (w >= 0.5625, d <= r/2)
    for px, py in [(8, 7), (9, 8), (7, 9), (11, 8)]:
        w = weight(px, py, 9, 8, 3)
        assert erased[py, px] == pytest.approx(painted[py, px] * (1 - e * min(1, w / 0.5625)), rel=1e-6)
    assert erased[2, 2] == painted[2, 2]
    assert (erased <= painted).all()


def test_values_stay_in_unit_range():
    rng = np.random.default_rng(0)
    strokes = []
    for index in range(60):
        points = [
            [float(x), float(y), float(p)]
            for x, y, p in zip(
                rng.uniform(-10, 50, 5), rng.uniform(-10, 40, 5), rng.uniform(0, 1, 5), strict=True
            )
        ]
        strokes.append(
            {
                "tool": "eraser" if index % 7 == 6 else "brush",
                "size": float(rng.uniform(2, 30)),
                "strength": 1.0,
                "points": points,
            }
        )
    values = render_strokes(strokes, 40, 30)
    assert values.min() >= 0 and values.max() <= 1
    assert values.max() > 0.9  # so much full-strength paint nearly saturates somewhere


def test_dabs_outside_the_image_are_ignored():
    values = render_strokes([dab(-20, -20, size=10), dab(100, 5, size=10)], 30, 20)
    assert not values.any()


def test_spacing_along_a_straight_stroke():
    # size 20 -> spacing 3: a stroke of length 30 has dabs at 0, 3, ..., 30: 11 dabs.
    dabs = list(stroke_dabs([[0, 0, 1], [30, 0, 1]], 20))
    assert len(dabs) == 11
    assert [x for x, _, _ in dabs] == pytest.approx([3.0 * k for k in range(11)])
    # the leftover is carried across segments: the same line in uneven pieces gives the same dabs
    pieces = list(stroke_dabs([[0, 0, 1], [1.3, 0, 1], [7.9, 0, 1], [8, 0, 1], [8, 0, 1], [30, 0, 1]], 20))
    assert [x for x, _, _ in pieces] == pytest.approx([x for x, _, _ in dabs])
    # a thin brush: spacing is at least one pixel
    assert len(list(stroke_dabs([[0, 0], [10.5, 0]], 4))) == 11
    # pressure is interpolated along the segment
    ramp = list(stroke_dabs([[0, 0, 0.0], [0, 10, 1.0]], 10))  # spacing 1.5
    assert [p for _, _, p in ramp] == pytest.approx([k * 0.15 for k in range(7)])


def test_a_stroke_is_the_sum_of_its_dabs():
    stroke = {"tool": "brush", "size": 8, "strength": 0.7, "points": [[3, 10, 1], [26.5, 12, 0.5]]}
    values = render_strokes([stroke], 32, 24)
    spacing = 8 * 0.15
    length = math.hypot(23.5, 2)
    centres = [
        (3 + 23.5 * t, 10 + 2 * t, 1 - 0.5 * t)
        for t in (k * spacing / length for k in range(int(length // spacing) + 1))
    ]
    expected = np.zeros((24, 32))
    for cx, cy, p in centres:
        a = 0.7 * p * 0.25
        for py in range(24):
            for px in range(32):
                w = weight(px, py, cx, cy, 4)
                expected[py, px] += a * w * (1 - expected[py, px])
    np.testing.assert_allclose(values, expected, atol=2e-6)


def test_missing_pressure_and_strength_default_to_one():
    values = render_strokes([{"tool": "brush", "size": 6, "points": [[5.5, 5.5]]}], 11, 11)
    assert values[5, 5] == pytest.approx(0.25)


def test_unknown_tool_is_refused():
    with pytest.raises(ValueError):
        render_strokes([{"tool": "smudge", "size": 4, "points": [[1, 1]]}], 4, 4)


# --- the eraser ---------------------------------------------------------------------------


def painted_disc(size=60, centre=30.0, passes=12):
    """A disc painted nearly solid (> 0.9 in the middle) by full-strength dabs."""
    return [dab(centre, centre, size=size, strength=1.0)] * passes


def test_full_strength_eraser_dab_clears_its_core():
    strokes = painted_disc()
    painted = render_strokes(strokes, 60, 60)
    assert painted[30, 30] > 0.9
    erased = render_strokes(strokes + [dab(30.5, 30.5, size=20, strength=1.0, tool="eraser")], 60, 60)
    ys, xs = np.mgrid[0:60, 0:60]
    distance = np.hypot(xs + 0.5 - 30.5, ys + 0.5 - 30.5)
    assert not erased[distance <= 5].any()  # the core, d <= r / 2: exactly 0
    ring = (distance > 5) & (distance < 10)
    assert (erased[ring] < painted[ring]).all() and erased[ring].any()  # partly erased
    assert (erased[distance >= 10] == painted[distance >= 10]).all()  # untouched


def test_eraser_strength_scales_per_formula():
    strokes = painted_disc()
    painted = render_strokes(strokes, 60, 60)
    erased = render_strokes(
        strokes + [dab(31, 30, size=16, strength=0.5, tool="eraser", pressure=0.8)], 60, 60
    )
    e = 0.5 * 0.8  # no DAB_FLOW for the eraser
    for px, py in [(30, 29), (31, 30), (28, 30), (34, 31), (36, 30)]:
        w = weight(px, py, 31, 30, 8)
        assert erased[py, px] == pytest.approx(painted[py, px] * (1 - e * min(1, w / 0.5625)), rel=1e-6)
    assert erased[30, 31] == pytest.approx(painted[30, 31] * (1 - e), rel=1e-6)  # in the core


def one_pass(strength: float, y: float = 30.0) -> dict:
    return {"tool": "eraser", "size": 20, "strength": strength, "points": [[-20, y, 1], [80, y, 1]]}


def test_one_full_strength_pass_erases_a_band_and_strength_scales_it():
    strokes = [
        {"tool": "brush", "size": 20, "strength": 1.0, "points": [[0, y, 1], [60, y, 1]]}
        for y in range(5, 60, 5)
    ]
    strokes *= 4
    painted = render_strokes(strokes, 60, 60)
    core = painted[26:35]  # rows whose centres are within r / 2 = 5 of y = 30
    assert core.min() > 0.5
    assert not render_strokes(strokes + [one_pass(1.0)], 60, 60)[26:35].any()
    left = {}
    for strength in (0.05, 0.2, 0.35, 0.6):
        erased = render_strokes(strokes + [one_pass(strength)], 60, 60)[26:35]
        left[strength] = erased.sum() / core.sum()
    assert 0.6 < left[0.05] < 0.9 and left[0.05] > left[0.2] > left[0.35] > left[0.6] > 0
    assert 0.1 < left[0.35] < 0.3  # the default strength removes most of it in one pass


def test_eraser_on_an_empty_map_stays_empty():
    assert not render_strokes([one_pass(1.0), one_pass(0.3)], 60, 60).any()


# --- brush.js is the same model, to the last float32 bit ------------------------------------

NODE_REPLAY = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const dir = process.argv[1];
const { StrokeRenderer } = await import(pathToFileURL(dir + "/brush.js"));
const { PaintMap } = await import(pathToFileURL(dir + "/paint_map.js"));
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const c of cases) {
  const map = new PaintMap(c.width, c.height, c.paintedLevel);
  const constants = { dabFlow: c.dabFlow, spacingFraction: c.spacingFraction };
  for (const stroke of c.strokes) {
    const renderer = new StrokeRenderer(stroke, map, constants, () => {}, () => {});
    for (const point of stroke.points) renderer.add(point);
  }
  const counted = [map.covered, map.nonzero];
  map.recount();
  out.push({
    values: Buffer.from(map.values.buffer).toString("base64"),
    counts: counted,
    scanned: [map.covered, map.nonzero],
  });
}
process.stdout.write(JSON.stringify(out));
"""


def random_strokes(rng: np.random.Generator, width: int, height: int, count: int) -> list[dict]:
    strokes = []
    for _ in range(count):
        n = int(rng.integers(1, 12))
        points = [
            [round(float(x), 2), round(float(y), 2), round(float(p), 3)]
            for x, y, p in zip(
                rng.uniform(-15, width + 15, n),
                rng.uniform(-15, height + 15, n),
                rng.choice([1.0, 0.5, *rng.uniform(0.001, 1, 3)], n),
                strict=True,
            )
        ]
        if n > 2 and rng.random() < 0.3:
            points[1] = list(points[0])  # a repeated point
        strokes.append(
            {
                "tool": "eraser" if rng.random() < 0.35 else "brush",
                "size": int(rng.integers(4, 61)),
                "strength": float(rng.choice([1.0, 0.35, 0.05, round(float(rng.uniform(0.05, 1)), 2)])),
                "points": points,
            }
        )
    return strokes


def test_brush_js_replays_like_render_strokes():
    """Random stroke logs (brush and eraser, pressure, strokes off the image) through
    static/annotations/js/painter/brush.js in Node and through render_strokes: the same
    float32 values, bit for bit, and PaintMap's running counts equal a scan."""
    import base64
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from annotations.services import PAINTED_LEVEL

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node here (tests/browser/test_painting.py checks the same in Chromium)")
    painter_dir = Path(__file__).resolve().parents[2] / "static/annotations/js/painter"
    rng = np.random.default_rng(13)
    cases = []
    for index in range(40):
        width, height = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        strokes = random_strokes(rng, width, height, int(rng.integers(1, 25)))
        cases.append(
            {
                "width": width,
                "height": height,
                "strokes": strokes,
                "dabFlow": DAB_FLOW,
                "spacingFraction": SPACING_FRACTION,
                "paintedLevel": PAINTED_LEVEL,
                "index": index,
            }
        )
    result = subprocess.run(
        [node, "--input-type=module", "-e", NODE_REPLAY, str(painter_dir)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    erased_to_zero = 0
    for case, replayed in zip(cases, json.loads(result.stdout), strict=True):
        js = np.frombuffer(base64.b64decode(replayed["values"]), dtype=np.float32)
        js = js.reshape(case["height"], case["width"])
        python = render_strokes(case["strokes"], case["width"], case["height"])
        np.testing.assert_array_equal(js, python, err_msg=f"case {case['index']}")
        assert replayed["counts"] == replayed["scanned"]
        erased_to_zero += int(
            ((python == 0) & (render_strokes(case["strokes"][:-1], case["width"], case["height"]) > 0)).sum()
        )
    assert erased_to_zero > 0  # some eraser dabs cleared paint to exactly 0


# --- the overlay's palette: overlay.js and analysis.render draw a map alike -----------------

NODE_OVERLAY = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const dir = process.argv[1];
let frame = null;
globalThis.window = { requestAnimationFrame: (callback) => { frame = callback; } };
const { Overlay } = await import(pathToFileURL(dir + "/overlay.js"));
const { PaintMap } = await import(pathToFileURL(dir + "/paint_map.js"));
const input = JSON.parse(readFileSync(0, "utf8"));
const map = new PaintMap(input.width, input.height, 0.05);
const bytes = Buffer.from(input.values, "base64");
map.values.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
const out = [];
for (const opacity of input.opacities) {
  let image = null;
  const canvas = { getContext: () => ({
    createImageData: (w, h) => ({ data: new Uint8ClampedArray(w * h * 4) }),
    putImageData: (data) => { image = data; },
  }) };
  const overlay = new Overlay(canvas, map);
  overlay.setOpacity(opacity);
  overlay.redrawAll();
  frame();
  out.push(Buffer.from(image.data.buffer).toString("base64"));
}
process.stdout.write(JSON.stringify(out));
"""


def js_literal(source: str, name: str):
    import json
    import re

    match = re.search(rf"^export const {name} = (.+);$", source, re.M)
    assert match, f"overlay.js has no 'export const {name} = ...;' line"
    return json.loads(match.group(1))


def test_overlay_palette_is_pinned_in_analysis_render():
    from pathlib import Path

    from analysis.render import PAINTER_ALPHA_FLOOR, PAINTER_RAMP

    source = (Path(__file__).resolve().parents[2] / "static/annotations/js/painter/overlay.js").read_text()
    assert [tuple(stop) for stop in js_literal(source, "RAMP")] == list(PAINTER_RAMP)
    assert js_literal(source, "ALPHA_FLOOR") == PAINTER_ALPHA_FLOOR


def test_overlay_js_draws_what_painter_overlay_rgba_computes():
    """Every level of the map, at two opacities: overlay.js's canvas pixels (in Node, with a
    stand-in canvas) equal analysis.render.painter_overlay_rgba's, and any paint the stored
    map keeps (>= 0.5/65535) is drawn."""
    import base64
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from analysis.render import painter_overlay_rgba

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node here")
    values = np.concatenate(
        [
            np.arange(256) / 255,
            (np.arange(256) + 0.5) / 255,  # halfway between two levels
            [0.0, 0.2 / 65535, 0.5 / 65535, 1 / 65535, 0.0019, 0.00196, 0.00197, 0.999, 1.0],
            np.random.default_rng(1).uniform(0, 1, 1000),
        ]
    ).astype(np.float32)
    values = np.concatenate([values, np.zeros((-len(values)) % 50, np.float32)]).reshape(-1, 50)
    painter_dir = Path(__file__).resolve().parents[2] / "static/annotations/js/painter"
    opacities = [0.7, 0.35]
    payload = {
        "width": 50,
        "height": values.shape[0],
        "values": base64.b64encode(values.tobytes()).decode(),
        "opacities": opacities,
    }
    result = subprocess.run(
        [node, "--input-type=module", "-e", NODE_OVERLAY, str(painter_dir)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for opacity, drawn in zip(opacities, json.loads(result.stdout), strict=True):
        js = np.frombuffer(base64.b64decode(drawn), dtype=np.uint8).reshape(*values.shape, 4)
        np.testing.assert_array_equal(js, painter_overlay_rgba(values, opacity))
        assert ((js[..., 3] > 0) == (values.astype(np.float64) >= 0.5 / 65535)).all()


def test_the_toolbar_colour_scale_is_the_palette():
    import re
    from pathlib import Path

    from analysis.render import PAINTER_RAMP

    css = (Path(__file__).resolve().parents[2] / "static/annotations/css/painter.css").read_text()
    gradient = re.search(r"\.paint-scale-bar \{[^}]*linear-gradient\(to right, ([^;]*)\);", css)
    assert gradient, "painter.css has no .paint-scale-bar gradient"
    stops = re.findall(r"rgb\((\d+), (\d+), (\d+)\) (\d+)%", gradient.group(1))
    assert [(int(p) / 100, int(r), int(g), int(b)) for r, g, b, p in stops] == list(PAINTER_RAMP)
