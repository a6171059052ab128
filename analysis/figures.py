"""Figures for the results page and exports, as SVG bytes. Pure matplotlib (Agg); no Django.

SVG rather than PNG: the figures are a few bars and points, stay sharp at any zoom, and can be
dropped into a paper's figure directly."""

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display in a worker or a web process
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


@dataclass(frozen=True)
class Bar:
    """One model x method: its mean score and 95 % confidence interval."""

    label: str
    mean: float
    low: float
    high: float


def _svg(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def bar_chart_svg(
    bars: Sequence[Bar],
    *,
    metric: str,
    ceiling: float | None = None,
    floor: float | None = None,
) -> bytes:
    """Horizontal bars with CI whiskers, best first, with the human noise ceiling and the
    mismatched-image floor as vertical lines when given (the range a model can be judged in)."""
    ordered = sorted(bars, key=lambda bar: -np.nan_to_num(bar.mean, nan=-np.inf))
    figure, axes = plt.subplots(figsize=(6.5, 0.9 + 0.38 * max(1, len(ordered))))
    positions = np.arange(len(ordered))[::-1]
    means = np.array([bar.mean for bar in ordered], dtype=float)
    low = np.array([bar.low for bar in ordered], dtype=float)
    high = np.array([bar.high for bar in ordered], dtype=float)
    whiskers = np.vstack([means - low, high - means])
    whiskers = np.where(np.isfinite(whiskers), whiskers, 0.0)
    axes.barh(positions, np.nan_to_num(means), color="#4c72b0", height=0.6)
    axes.errorbar(np.nan_to_num(means), positions, xerr=whiskers, fmt="none", ecolor="#1b1f24", capsize=3)
    axes.set_yticks(positions, [bar.label for bar in ordered])
    axes.set_xlabel(f"{metric} (mean over images, 95 % CI)")
    for value, name, style in ((ceiling, "noise ceiling", "--"), (floor, "floor", ":")):
        if value is not None and math.isfinite(value):
            axes.axvline(value, color="#c44e52", linestyle=style, linewidth=1.2, label=f"{name} {value:.3f}")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right", fontsize="small", frameon=False)
    axes.axvline(0, color="#888", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def scatter_svg(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = True,
) -> bytes:
    """One point per image for each named series (x, y); the y = x line when ``diagonal``,
    so that points under it are images where the model falls short of the x reference."""
    figure, axes = plt.subplots(figsize=(5.2, 4.4))
    finite_values = []
    for name, (x, y) in series.items():
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"series {name!r}: x and y differ in length")
        keep = np.isfinite(x) & np.isfinite(y)
        axes.scatter(x[keep], y[keep], s=16, alpha=0.75, label=f"{name} (n={int(keep.sum())})")
        finite_values.extend([x[keep], y[keep]])
    if diagonal and finite_values:
        values = np.concatenate(finite_values)
        if values.size:
            low, high = float(values.min()), float(values.max())
            axes.plot([low, high], [low, high], color="#888", linewidth=0.8, linestyle="--")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    if series:
        axes.legend(fontsize="x-small", frameon=False, loc="best")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
