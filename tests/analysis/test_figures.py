import re
import xml.etree.ElementTree as ElementTree

import pytest

from analysis.figures import Bar, bar_chart_svg, scatter_svg


def _texts(svg: bytes) -> str:
    ElementTree.fromstring(svg)  # well-formed SVG
    return svg.decode()


def test_bars_are_ordered_best_first_with_ceiling_and_floor():
    svg = _texts(
        bar_chart_svg(
            [Bar("lite0 · ig", 0.21, 0.15, 0.27), Bar("lite0 · xrai", 0.43, 0.38, 0.49)],
            metric="spearman",
            ceiling=0.71,
            floor=0.05,
        )
    )
    # matplotlib writes each text as a comment before its glyphs
    labels = re.findall(r"<!-- (lite0 · \w+) -->", svg)
    assert labels == ["lite0 · xrai", "lite0 · ig"]  # the best bar at the top is drawn first
    assert "noise ceiling 0.710" in svg and "floor 0.050" in svg


def test_a_bar_without_data_does_not_break_the_chart():
    svg = _texts(
        bar_chart_svg(
            [Bar("a", float("nan"), float("nan"), float("nan")), Bar("b", 0.2, 0.1, 0.3)], metric="cc"
        )
    )
    assert "<!-- a -->" in svg and "<!-- b -->" in svg


def test_scatter_counts_only_finite_points():
    svg = _texts(
        scatter_svg(
            {"xrai": ([0.1, 0.5, float("nan")], [0.2, 0.4, 0.3])}, x_label="noise ceiling", y_label="spearman"
        )
    )
    assert "xrai (n=2)" in svg


def test_scatter_rejects_series_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        scatter_svg({"xrai": ([0.1, 0.2], [0.3])}, x_label="x", y_label="y")
