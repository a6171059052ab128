"""The painter's brush model in numpy: replays a stroke log into an intensity map.

This is the reference for ``static/annotations/js/painter/brush.js``; both must stay identical.

A stroke is ``{"tool": "brush"|"eraser", "size": diameter, "strength": s, "points": [[x, y, p], ...]}``
in image pixel coordinates (floats; ``p`` is the pen pressure, 1 when absent).

* Dabs: one at the first point, then one every ``spacing = max(1, size * SPACING_FRACTION)``
  pixels of arc length along the polyline; the distance left over at the end of a segment is
  carried into the next one. The pressure at a dab is interpolated linearly along its segment.
* A dab at centre ``c`` with radius ``r = size / 2`` touches the pixels whose centres
  ``(px + 0.5, py + 0.5)`` lie at distance ``d < r``, with weight ``w = (1 - (d / r)**2)**2``.
* The brush, with ``a = s * p * DAB_FLOW``, does ``v += a * w * (1 - v)``: paint builds up
  gradually and never quite reaches 1.
* The eraser, with ``e = s * p`` (no flow: it is meant to remove paint, not to fade it), does
  ``v *= 1 - e * min(1, w / ERASER_CORE_WEIGHT)``. Its core is the disc ``d <= r / 2``, where
  ``w >= ERASER_CORE_WEIGHT = (1 - 1/4)**2``: there one dab at full strength and pressure
  leaves exactly 0; at strength ``s`` each dab keeps ``1 - s`` of the paint there, and the
  ring outside the core fades to no change at ``d = r``.

Values stay in [0, 1].

Arithmetic is done in float64 and each dab's result stored as float32, exactly as the browser
does with a ``Float32Array``.
"""

import math
from collections.abc import Iterator

import numpy as np

DAB_FLOW = 0.25
SPACING_FRACTION = 0.15
# w at d = r / 2: (1 - (1/2)**2)**2. A part of the formula, like the weight itself, not a
# setting: brush.js has the same number.
ERASER_CORE_WEIGHT = 0.5625


def dab_spacing(size: float) -> float:
    return max(1.0, size * SPACING_FRACTION)


def stroke_dabs(points: list, size: float) -> Iterator[tuple[float, float, float]]:
    """The dabs ``(x, y, pressure)`` that a stroke of this diameter places along its points."""
    if not points:
        return
    spacing = dab_spacing(size)
    ax, ay, ap = _point(points[0])
    yield ax, ay, ap
    to_next = spacing  # arc length from the current segment's start to the next dab
    for point in points[1:]:
        bx, by, bp = _point(point)
        length = math.hypot(bx - ax, by - ay)
        position = to_next
        while position <= length:
            t = position / length
            yield ax + (bx - ax) * t, ay + (by - ay) * t, ap + (bp - ap) * t
            position += spacing
        to_next = position - length
        ax, ay, ap = bx, by, bp


def _point(point) -> tuple[float, float, float]:
    pressure = float(point[2]) if len(point) > 2 else 1.0
    return float(point[0]), float(point[1]), min(max(pressure, 0.0), 1.0)


def apply_dab(values: np.ndarray, cx: float, cy: float, radius: float, amount: float, erase: bool) -> None:
    """Apply one dab in place to ``values``, a (H, W) float32 map; ``amount`` is ``s * p *
    DAB_FLOW`` for the brush, ``s * p`` for the eraser (see the module's docstring)."""
    height, width = values.shape
    if radius <= 0 or amount <= 0:
        return
    x0 = max(0, math.floor(cx - radius - 0.5))
    x1 = min(width - 1, math.ceil(cx + radius - 0.5))
    y0 = max(0, math.floor(cy - radius - 0.5))
    y1 = min(height - 1, math.ceil(cy + radius - 0.5))
    if x0 > x1 or y0 > y1:
        return
    dx = (np.arange(x0, x1 + 1, dtype=np.float64) + 0.5) - cx
    dy = (np.arange(y0, y1 + 1, dtype=np.float64) + 0.5) - cy
    d2 = (dx * dx)[None, :] + (dy * dy)[:, None]
    r2 = radius * radius
    inside = d2 < r2
    if not inside.any():
        return
    q = 1.0 - d2 / r2
    weight = np.where(inside, q * q, 0.0)
    window = values[y0 : y1 + 1, x0 : x1 + 1]
    v = window.astype(np.float64)
    if erase:
        new = v * (1.0 - amount * np.minimum(weight / ERASER_CORE_WEIGHT, 1.0))
    else:
        new = v + amount * weight * (1.0 - v)
    np.clip(new, 0.0, 1.0, out=new)
    window[inside] = new[inside].astype(np.float32)


def render_strokes(strokes: list[dict], width: int, height: int) -> np.ndarray:
    """Replay a stroke log from an empty map; returns (height, width) float32 in [0, 1]."""
    values = np.zeros((height, width), dtype=np.float32)
    for stroke in strokes:
        tool = stroke.get("tool")
        if tool not in ("brush", "eraser"):
            raise ValueError(f"unknown tool {tool!r}")
        size = float(stroke["size"])
        strength = min(max(float(stroke.get("strength", 1.0)), 0.0), 1.0)
        radius = size / 2
        erase = tool == "eraser"
        for x, y, pressure in stroke_dabs(stroke.get("points") or [], size):
            amount = strength * pressure if erase else strength * pressure * DAB_FLOW
            apply_dab(values, x, y, radius, amount, erase)
    return values
