"""Line chart of a score against corruption severity, as SVG bytes. Pure matplotlib; no
Django. Drawn like analysis.figures (same size class, colours and SVG output)."""

from collections.abc import Mapping, Sequence

import numpy as np

from analysis.figures import _svg, plt


def severity_chart_svg(
    series: Mapping[str, tuple[Sequence[int], Sequence[float]]], *, y_label: str, x_label: str = "severity"
) -> bytes:
    """One line with markers per named series of (severities, values); severity 0 is the
    uncorrupted original. Non-finite values are left out of their line."""
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    every_severity: set[int] = set()
    for name, (severities, values) in series.items():
        x, y = np.asarray(severities, dtype=float), np.asarray(values, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"series {name!r}: severities and values differ in length")
        keep = np.isfinite(y)
        axes.plot(x[keep], y[keep], marker="o", markersize=4, linewidth=1.4, label=name)
        every_severity.update(int(s) for s in x[keep])
    ticks = sorted(every_severity)
    axes.set_xticks(ticks, ["original" if s == 0 else str(s) for s in ticks])
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.axhline(0, color="#888", linewidth=0.6)
    if series:
        axes.legend(fontsize="x-small", frameon=False, loc="best")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
