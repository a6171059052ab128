"""The results page's charts as figures: drawn once with matplotlib, then inlined in the page
(SVG, points labelled and linked) or downloaded for a paper (standalone SVG or PNG with a white
background, a title and axis labels), so that the download is the chart on the page. And the
gallery of one image as a figure: the image, the human mean and every model map on one colour
scale with a colour bar."""

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")  # no display in a web process
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import Bar  # noqa: E402
from analysis.human_maps import resize_map  # noqa: E402

COLOUR_MAP = "inferno"  # as the gallery's overlays (analysis.render)
PNG_DPI = 200
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


@dataclass(frozen=True)
class Point:
    """One scatter point: an image's ceiling and a model map's score, and where it links."""

    x: float
    y: float
    label: str  # the tooltip
    url: str = ""


def bar_chart(bars: Sequence[Bar], *, metric: str, ceiling: float | None = None, title: str = ""):
    """Horizontal bars with 95 % CI whiskers, best first, the noise ceiling as a dashed line."""
    ordered = sorted(bars, key=lambda bar: -np.nan_to_num(bar.mean, nan=-np.inf))
    figure, axes = plt.subplots(figsize=(6.5, 1.2 + 0.38 * max(1, len(ordered))))
    positions = np.arange(len(ordered))[::-1]
    means = np.array([bar.mean for bar in ordered], dtype=float)
    whiskers = np.vstack(
        [
            means - np.array([b.low for b in ordered], float),
            np.array([b.high for b in ordered], float) - means,
        ]
    )
    whiskers = np.where(np.isfinite(whiskers), whiskers, 0.0)
    axes.barh(positions, np.nan_to_num(means), color="#4c72b0", height=0.6)
    axes.errorbar(np.nan_to_num(means), positions, xerr=whiskers, fmt="none", ecolor="#1b1f24", capsize=3)
    axes.set_yticks(positions, [bar.label for bar in ordered])
    axes.set_xlabel(f"{metric} (mean over images, 95 % CI)")
    axes.set_ylabel("model · method")
    if ceiling is not None and math.isfinite(ceiling):
        axes.axvline(
            ceiling, color="#c44e52", linestyle="--", linewidth=1.2, label=f"noise ceiling {ceiling:.3f}"
        )
        axes.legend(loc="lower right", fontsize="small", frameon=False)
    axes.axvline(0, color="#888", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        axes.set_title(title, fontsize="medium")
    return figure


def scatter_chart(series: dict[str, Sequence[Point]], *, x_label: str, y_label: str, title: str = ""):
    """One point per image for each named series, with the y = x line: points under it are
    images where the model falls short of the agreement between participant halves. Each point
    collection's gid is ``points-<k>`` so that ``svg`` can label and link its points."""
    figure, axes = plt.subplots(figsize=(5.6, 4.6))
    values = []
    for k, (name, points) in enumerate(series.items()):
        kept = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
        collection = axes.scatter(
            [p.x for p in kept], [p.y for p in kept], s=18, alpha=0.8, label=f"{name} (n={len(kept)})"
        )
        collection.set_gid(f"points-{k}")
        values += [p.x for p in kept] + [p.y for p in kept]
    if values:
        low, high = min(values), max(values)
        axes.plot([low, high], [low, high], color="#888", linewidth=0.8, linestyle="--", label="y = x")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    if series:  # below the axes, where no point can hide under it
        axes.legend(
            fontsize="x-small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2
        )
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        axes.set_title(title, fontsize="medium")
    return figure


def image_panel(
    image_rgb: np.ndarray,
    human_mean: np.ndarray | None,
    model_maps: Sequence[tuple[str, np.ndarray]],
    *,
    title: str = "",
):
    """The image, its human mean and each model map (resized to the image, each scaled to
    [0, 1] by its 99th percentile as the gallery shows them) in one row on one colour map,
    with a colour bar."""
    height, width = image_rgb.shape[:2]
    panels = [("image", None)] + [("human mean", human_mean)] + list(model_maps)
    columns = len(panels)
    figure, axes = plt.subplots(
        1,
        columns,
        figsize=(2.6 * columns + 0.8, 2.6 * height / width + 0.9),
        squeeze=False,
        layout="constrained",
    )
    shown = None
    for axis, (name, values) in zip(axes[0], panels):
        axis.set_axis_off()
        axis.set_title(name, fontsize="small")
        if name == "image":
            axis.imshow(image_rgb)
            continue
        if values is None:
            axis.text(0.5, 0.5, "no maps", ha="center", va="center", transform=axis.transAxes)
            continue
        shown = axis.imshow(
            display_scale(resize_map(np.asarray(values, float), (height, width))),
            cmap=COLOUR_MAP,
            vmin=0,
            vmax=1,
        )
    if shown is not None:
        bar = figure.colorbar(shown, ax=list(axes[0]), shrink=0.8, pad=0.01)
        bar.set_label("saliency (scaled to its 99th percentile)", fontsize="x-small")
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


def display_scale(values: np.ndarray, percentile: float = 99) -> np.ndarray:
    """[0, 1]: minimum to the ``percentile``-th value, clipped above (a few extreme gradient
    pixels would otherwise leave the rest of an IG map black)."""
    values = np.asarray(values, dtype=float)
    low, high = float(np.nanmin(values)), float(np.nanpercentile(values, percentile))
    if not high > low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def render(figure, fmt: str) -> bytes:
    """The figure as a standalone file, white background, and closed."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; one of {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", facecolor="white", dpi=PNG_DPI)
    plt.close(figure)
    return buffer.getvalue()


def svg_with_points(figure, series: dict[str, Sequence[Point]]) -> bytes:
    """The figure as SVG (``scatter_chart``'s), each point wrapped in a link to its URL with a
    <title> tooltip, for the page."""
    for k, points in enumerate(series.values()):
        kept = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
        collection = next(c for c in figure.axes[0].collections if c.get_gid() == f"points-{k}")
        collection.set_urls([f"{p.url or '#'}#point-{k}-{i}" for i, p in enumerate(kept)])
    text = render(figure, "svg").decode()
    for k, points in enumerate(series.values()):
        kept = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
        for i, p in enumerate(kept):
            marker = f'<a xlink:href="{escape(p.url or "#")}#point-{k}-{i}" target="_blank">'
            link = f'<a xlink:href="{escape(p.url)}">' if p.url else "<a>"
            text = text.replace(marker, f"{link}<title>{escape(p.label)}</title>", 1)
    return text.encode()


def inline(svg: bytes) -> str:
    """An SVG file's <svg> element, for inlining in the page (no XML prolog or doctype)."""
    text = svg.decode()
    return text[re.search(r"<svg[\s>]", text).start() :]


HUMAN_STYLE = {"color": "black", "linestyle": "--", "linewidth": 2.0}  # the human mean's line


def pic_chart(
    panels: dict[str, Sequence[tuple[str, Sequence[float], Sequence[float]]]],
    *,
    y_label: str,
    title: str = "",
    gid: str = "pic",
):
    """PIC median curves (Kapishnikov et al. 2019), one panel per model, one line per subject:
    (name, curve_x, curve_y); the subject named ``human mean`` is drawn black and dashed. The
    diagonal is a reference. Each line's gid is ``<gid>-<panel>-<line>`` (positions), the human
    mean's ``<gid>-<panel>-human-mean``."""
    columns = max(1, len(panels))
    figure, axes_row = plt.subplots(
        1, columns, figsize=(4.4 * columns, 4.4), squeeze=False, sharey=True, layout="constrained"
    )
    for p, (axes, (model, lines)) in enumerate(zip(axes_row[0], panels.items())):
        axes.plot([0, 1], [0, 1], color="#bbb", linewidth=0.8, linestyle=":", label="diagonal")
        for k, (name, xs, ys) in enumerate(lines):
            if not len(xs):
                continue
            style = HUMAN_STYLE if name == "human mean" else {"linewidth": 1.6}
            (line,) = axes.plot(xs, ys, label=name, **style)
            line.set_gid(f"{gid}-{p}-human-mean" if name == "human mean" else f"{gid}-{p}-{k}")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.05)
        axes.set_title(model, fontsize="small")
        axes.set_xlabel("information revealed (normalised WebP size)")
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(fontsize="x-small", frameon=False, loc="lower right")
    axes_row[0][0].set_ylabel(y_label)
    if title:
        figure.suptitle(title, fontsize="medium")
    return figure


def randomisation_chart(
    lines: Sequence[tuple[str, Sequence[float], Sequence[float]]], *, threshold: float, title: str = ""
):
    """Adebayo et al. 2018's cascading randomisation: each line (name, layers re-initialised,
    mean Spearman with the original map) per model x method, and the pass line: a map that
    still correlates above it once every layer is random does not depend on the weights."""
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    for k, (name, xs, ys) in enumerate(lines):
        (line,) = axes.plot(xs, ys, marker="o", linewidth=1.6, label=name)
        line.set_gid(f"randomisation-{k}")
    axes.axhline(threshold, color="#c44e52", linestyle="--", linewidth=1.0, label=f"pass below {threshold:g}")
    axes.axhline(0, color="#888", linewidth=0.6)
    axes.set_ylim(-1.05, 1.05)
    axes.set_xlabel("layers re-initialised (from the logits)")
    axes.set_ylabel("mean Spearman with the original map")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize="x-small", frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if title:
        axes.set_title(title, fontsize="medium")
    return figure
