"""XRAI (Kapishnikov et al. 2019): region-level attribution from IG and segments.

Defaults are PAIR-code/saliency 0.2.1's: IG from two baselines, the image's own min and
max, 100 steps each with PAIR's rule, averaged, then max over channels; Felzenszwalb
segments (see xrai_segments); the full greedy algorithm with area_threshold 1.0 and
min_pixel_diff 50. Output maps are identical to PAIR's for the same attribution and
segments. The speed comes from the selection: instead of rescanning every full-image mask
each round, each region keeps a count of its not-yet-covered pixels and their attribution
sum, updated only for the pixels a round newly covers (a pixel -> regions index).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from ._lazy import torch
from .base import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    ImageBatch,
    SaliencyMethod,
    Targets,
    as_image_batch,
    model_device,
)
from .integrated_gradients import integrated_gradients
from .xrai_segments import Segments, xrai_segments

ALGORITHMS = ("full", "fast")
# Relative width of a near-tie between incremental gains; such ties are settled with
# exactly PAIR's arithmetic so that the chosen region is the same.
_TIE_TOLERANCE = 1e-4

_segment_cache: OrderedDict[str, Segments] = OrderedDict()
_SEGMENT_CACHE_SIZE = 64


def cached_xrai_segments(image_hwc: np.ndarray) -> Segments:
    """Segments depend only on the image: reuse them across models and methods."""
    key = hashlib.sha1(np.ascontiguousarray(image_hwc, dtype=np.float32).tobytes()).hexdigest()
    key += str(image_hwc.shape)
    if key in _segment_cache:
        _segment_cache.move_to_end(key)
        return _segment_cache[key]
    segments = xrai_segments(image_hwc)
    _segment_cache[key] = segments
    if len(_segment_cache) > _SEGMENT_CACHE_SIZE:
        _segment_cache.popitem(last=False)
    return segments


def _exact_mean(values: np.ndarray) -> float:
    return values.mean() if values.size else -np.inf


def _ranks_from_trace(trace: list[tuple[np.ndarray, float]], uncovered: np.ndarray, size: int) -> np.ndarray:
    """1 = most important region; regions sorted by gain (stable), uncovered pixels last."""
    ranks = np.zeros(size, dtype=np.int32)
    ordered = sorted(trace, key=lambda item: -item[1])
    for rank, (pixels, _) in enumerate(ordered, start=1):
        ranks[pixels] = rank
    if uncovered.size:
        ranks[uncovered] = len(ordered) + 1
    return ranks


def xrai_full(
    attribution: np.ndarray, segments: Segments, *, area_threshold: float = 1.0, min_pixel_diff: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy XRAI. attribution: (H,W). Returns (map (H,W) float64, ranks (H,W) int32)."""
    height, width = attribution.shape
    size = height * width
    attr = attribution.reshape(-1)
    attr64 = attr.astype(np.float64)
    n_regions = len(segments)
    lengths = np.array([len(p) for p in segments.pixels], dtype=np.int64)
    region_of_entry = np.repeat(np.arange(n_regions), lengths)
    pixel_of_entry = np.concatenate(segments.pixels) if n_regions else np.empty(0, np.int64)
    # pixel -> regions incidence in CSR form: regions_of[starts[p]:starts[p + 1]] hold pixel p's regions.
    # (16-bit keys let numpy use its linear-time radix sort for images up to 256x256.)
    keys = pixel_of_entry.astype(np.uint16) if size <= 1 << 16 else pixel_of_entry
    order = np.argsort(keys, kind="stable")
    regions_of = region_of_entry[order]
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(pixel_of_entry, minlength=size), out=starts[1:])
    counts = lengths.astype(np.float64)
    sums = np.bincount(region_of_entry, weights=attr64[pixel_of_entry], minlength=n_regions)
    alive = np.ones(n_regions, dtype=bool)
    covered = np.zeros(size, dtype=bool)
    output = np.full(size, -np.inf)
    trace: list[tuple[np.ndarray, float]] = []
    covered_fraction = 0.0

    while covered_fraction <= area_threshold:
        alive &= counts >= min_pixel_diff
        if not alive.any():
            break
        gains = np.full(n_regions, -np.inf)
        gains[alive] = sums[alive] / counts[alive]
        best = int(np.argmax(gains))
        margin = _TIE_TOLERANCE * abs(gains[best]) + 1e-12
        contenders = np.flatnonzero(alive & (gains >= gains[best] - margin))
        best_gain = -np.inf
        for region in contenders:  # ascending index order, first maximum wins, as in PAIR
            pixels = segments.pixels[region]
            gain = _exact_mean(attr[pixels[~covered[pixels]]])
            if gain > best_gain:
                best, best_gain = int(region), gain
        pixels = segments.pixels[best]
        new_pixels = pixels[~covered[pixels]]
        output[new_pixels] = best_gain
        covered[new_pixels] = True
        trace.append((new_pixels, best_gain))
        # Regions that contain newly covered pixels lose those pixels' count and attribution.
        per_pixel = starts[new_pixels + 1] - starts[new_pixels]
        entries = np.repeat(starts[new_pixels] - np.cumsum(per_pixel) + per_pixel, per_pixel) + np.arange(
            per_pixel.sum()
        )
        touched = regions_of[entries]
        counts -= np.bincount(touched, minlength=n_regions)
        sums -= np.bincount(touched, weights=np.repeat(attr64[new_pixels], per_pixel), minlength=n_regions)
        alive[best] = False
        covered_fraction = covered.mean()

    uncovered = np.flatnonzero(output == -np.inf)
    if uncovered.size:
        output[uncovered] = attr[uncovered].mean()
    ranks = _ranks_from_trace(trace, uncovered, size)
    return output.reshape(height, width), ranks.reshape(height, width)


def xrai_fast(
    attribution: np.ndarray, segments: Segments, *, min_pixel_diff: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """XRAI ranking every region once by its own mean attribution (ignores overlap)."""
    height, width = attribution.shape
    size = height * width
    attr = attribution.reshape(-1)
    region_gains = [_exact_mean(attr[pixels]) for pixels in segments.pixels]
    order = sorted(range(len(segments)), key=lambda j: -region_gains[j])
    covered = np.zeros(size, dtype=bool)
    output = np.full(size, -np.inf)
    trace: list[tuple[np.ndarray, float]] = []
    for region in order:
        pixels = segments.pixels[region]
        new_pixels = pixels[~covered[pixels]]
        if new_pixels.size < min_pixel_diff:
            continue
        gain = _exact_mean(attr[new_pixels])
        output[new_pixels] = gain
        covered[new_pixels] = True
        trace.append((new_pixels, gain))
    uncovered = np.flatnonzero(output == -np.inf)
    if uncovered.size:
        output[uncovered] = attr[uncovered].mean()
    ranks = _ranks_from_trace(trace, uncovered, size)
    return output.reshape(height, width), ranks.reshape(height, width)


def _segments_for_image(segments, index: int, n: int) -> Segments | None:
    if segments is None:
        return None
    if isinstance(segments, Segments):
        per_image = [segments]
    elif len(segments) and isinstance(segments[0], np.ndarray) and segments[0].ndim == 2:
        per_image = [segments]  # one image's list of boolean masks, PAIR's format
    else:
        per_image = list(segments)
    if len(per_image) != n:
        raise ValueError(f"segments given for {len(per_image)} images, expected {n}")
    item = per_image[index]
    return item if isinstance(item, Segments) else Segments.from_masks(item)


class Xrai(SaliencyMethod):
    """XRAI maps (N,H,W) float32 with PAIR's default parameters, each image's ranked regions
    (1 = most important) in ``details[i]["ranks"]``.

    base_attribution: optional (N,C,H,W) or (N,H,W) attribution to use instead of IG
    (channels are reduced by max, as PAIR does). segments: optional per-image Segments or
    lists of (H,W) boolean masks (a single image's list is accepted when N == 1).
    """

    name = "xrai"
    defaults = {
        "steps": 100,
        "baselines": ["min", "max"],
        "rule": "pair",
        "algorithm": "full",
        "area_threshold": 1.0,
        "min_pixel_diff": 50,
    }

    def attribute(
        self,
        model: torch.nn.Module | None,
        images: ImageBatch,
        targets: Targets,
        *,
        steps: int | dict,
        baselines,
        rule: str,
        algorithm: str,
        area_threshold: float,
        min_pixel_diff: int,
        batch_size: int = DEFAULT_BATCH_SIZE,
        base_attribution=None,
        segments=None,
    ) -> Attribution:
        """Maps (N,H,W) float32 and per-image details (ranks, IG's completeness)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; use 'full' or 'fast'")
        x = as_image_batch(images, model_device(model) if model is not None else "cpu")
        n, _, height, width = x.shape
        details: list[dict] = [{} for _ in range(n)]
        if base_attribution is None:
            per_baseline = []
            for baseline in baselines:  # averaged, as PAIR does
                attributions, ig_details = integrated_gradients.attributions(
                    model, x, targets, baseline=baseline, steps=steps, rule=rule, batch_size=batch_size
                )
                per_baseline.append(attributions)
                for detail, ig_detail in zip(details, ig_details):
                    detail.setdefault("integrated_gradients", []).extend(ig_detail["baselines"])
            attribution = np.mean(per_baseline, axis=0)
            for detail in details:
                detail["completeness_gap"] = max(
                    e["completeness_gap"] for e in detail["integrated_gradients"]
                )
        else:
            attribution = np.asarray(base_attribution, dtype=np.float32)
            if (
                attribution.ndim == 3
                and n == 1
                and attribution.shape[-2:] == (height, width)
                and attribution.shape[0] != 1
            ):
                attribution = attribution[None]
            if attribution.shape[0] != n or attribution.shape[-2:] != (height, width):
                raise ValueError(
                    f"base_attribution shape {attribution.shape} does not match images {tuple(x.shape)}"
                )
        if attribution.ndim == 4:
            attribution = attribution.max(axis=1)

        images_hwc = x.detach().cpu().numpy().transpose(0, 2, 3, 1)
        maps = np.empty((n, height, width), dtype=np.float32)
        for i in range(n):
            image_segments = _segments_for_image(segments, i, n) or cached_xrai_segments(images_hwc[i])
            if image_segments.shape != (height, width):
                raise ValueError(
                    f"segments of shape {image_segments.shape} do not match the image {(height, width)}"
                )
            if algorithm == "full":
                region_map, ranks = xrai_full(
                    attribution[i],
                    image_segments,
                    area_threshold=area_threshold,
                    min_pixel_diff=min_pixel_diff,
                )
            else:
                region_map, ranks = xrai_fast(attribution[i], image_segments, min_pixel_diff=min_pixel_diff)
            maps[i] = region_map
            details[i]["ranks"] = ranks
            details[i]["n_regions"] = int(ranks.max())
        return Attribution(maps, details)


xrai = Xrai()
xrai_result = xrai.result
