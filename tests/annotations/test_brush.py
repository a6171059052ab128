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
    a = 0.5 * 0.25
    for px, py in [(8, 7), (9, 8), (7, 9), (11, 8)]:
        w = weight(px, py, 9, 8, 3)
        assert erased[py, px] == pytest.approx(painted[py, px] * (1 - a * w), rel=1e-6)
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
