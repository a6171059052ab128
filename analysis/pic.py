"""Performance Information Curves (PIC): the Softmax and Accuracy Information Curves (SIC,
AIC) of Kapishnikov, Bolukbasi, Viégas and Terry, "XRAI: Better Attributions Through
Regions", ICCV 2019 (arXiv:1906.02825). Pure numpy/scipy/PIL; no Django, no torch.

What the curve measures. A saliency map ranks the pixels of an image. Start from a "fully
blurred" image: only a fixed random ~1 % of the pixels (and the four corners) are kept and
every other pixel is filled by piecewise-linear interpolation over the Delaunay triangulation
of the kept pixels. For each threshold t (a fraction of the image), additionally reveal the
map's top t pixels (``map >= quantile(map, 1 - t)``) and interpolate again. Each of these
images gets two numbers:

- its information ``I``: the byte size of its lossless WebP encoding (a compressor's estimate
  of its entropy);
- the model's score ``P`` for the class: the softmax probability (SIC) or 1/0 for a correct /
  wrong top-1 prediction (AIC), returned by ``pred_func``.

Both are normalised between the fully blurred image (0) and the original image (1) and
clipped to [0, 1]: ``x = (I - I_blur) / (I_orig - I_blur)``, ``y = (P - P_blur) / (P_orig -
P_blur)``; with ``keep_monotonous`` y is replaced by its running maximum over the thresholds.
The points (x, y), plus (0, 0) and (1, 1), are joined by straight lines (sorted by x, ties
kept in threshold order), sampled at ``num_data_points`` evenly spaced x in [0, 1) plus x = 1,
and integrated with the trapezoidal rule: the AUC. A map that puts the evidence the model
uses first reaches a high score with little information revealed, so its AUC is high.

An image is skipped (``PicSkipped``) when the model's score on the original is below
``min_pred_value`` (0.8 in the paper), when the fully blurred image does not hold less
information than the original, or when it does not score lower. Per method, the curves of the
remaining images are aggregated point-wise by their median (the paper) or mean and integrated
again (``aggregate_pic``).

Context, the paper's table (ImageNet validation, ResNet50-V2, median curves): SIC / AIC AUC
XRAI 0.749 / 0.728, Integrated Gradients (black and white baselines) 0.575 / 0.579, gradient
0.521 / 0.532, a random map 0.445 / 0.473.

Parity with the reference, PAIR-code ``saliency.metrics.pic`` 0.2.1 (``compute_pic_metric``,
``aggregate_individual_pic_results``): the same revealed pixels, the same Delaunay
triangulation (scipy's Qhull with its default options, on the same points in the same
order: with ties between cocircular pixels the triangulation depends on them), the same
WebP encoder call, the same order of the skip checks, so the same blurred images, entropies,
curves and AUCs (tests/analysis/test_pic.py compares them).

What differs is the cost. PAIR calls ``scipy.interpolate.griddata`` once per colour channel;
each call triangulates the same points again, computes every triangle's barycentric transform
(one LAPACK call per triangle: on a busy machine OpenBLAS's threads make this the slowest
part) and walks the triangulation to each missing pixel. Here the triangulation is built once
per image, and each triangle fills its own missing lattice pixels with exact integer
barycentric weights (a triangle of area 1/2 holds no lattice point but its corners, by Pick's
theorem, and is skipped). A value is then the correctly rounded p / D, D the triangle's
doubled area; PAIR's differs from it by float64 rounding error only, far less than the
distance from p / D to a float32 rounding boundary (at least 1 / (D * 2**17) for values below
256, unless D is a multiple of 2**17, which needs a triangle of 65536 pixels), so both give
the same float32 and the same rounded uint8.

Other differences: the confidence check runs before any blurring (it is PAIR's first check
anyway: the same images are skipped for the same reason, only sooner); the threshold images
go to ``pred_func`` in batches (``batch_size``; a model whose scores depend on the batch will
differ in the last bits); the random mask comes from a seeded generator
(``random_mask``) rather than numpy's global state; ``aggregate_pic`` checks that the curves
share their x points (PAIR's check looks for repeated columns instead). Where every pixel of a
greyscale image is revealed PAIR returns an (H, W, 1) array; this returns the image.
"""

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy.spatial import Delaunay

# The paper's thresholds: fractions of the image revealed in order of the map.
DEFAULT_THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)
DEFAULT_MIN_PRED_VALUE = 0.8
DEFAULT_RANDOM_FRACTION = 0.01

NOT_CONFIDENT = "not_confident"
BLUR_KEEPS_INFORMATION = "blurring_did_not_lower_information"
BLUR_KEEPS_PREDICTION = "blurring_did_not_lower_prediction"


class PicSkipped(Exception):
    """The image cannot be scored (PAIR's ``ComputePicMetricError``): skip it.

    ``reason`` is one of NOT_CONFIDENT, BLUR_KEEPS_INFORMATION, BLUR_KEEPS_PREDICTION;
    ``original`` and ``blurred`` are the two values compared (scores or byte sizes).
    """

    def __init__(self, reason: str, original: float, blurred: float | None, message: str):
        super().__init__(message)
        self.reason = reason
        self.original = original
        self.blurred = blurred


@dataclass(frozen=True)
class PicResult:
    """One image's curve. The per-image arrays run over ``thresholds`` = [0, *thresholds, 1]:
    the fully blurred image, one image per threshold, the original image."""

    curve_x: np.ndarray
    curve_y: np.ndarray
    auc: float
    thresholds: np.ndarray
    predictions: np.ndarray
    entropies: np.ndarray  # lossless WebP bytes
    normalized_entropies: np.ndarray  # one per saliency threshold, clipped to [0, 1]
    normalized_predictions: np.ndarray  # idem, after the running maximum if keep_monotonous
    blurred_images: list[np.ndarray] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class AggregatePic:
    curve_x: np.ndarray
    curve_y: np.ndarray
    auc: float
    count: int  # curves aggregated


def random_mask(shape: tuple[int, int], fraction: float = DEFAULT_RANDOM_FRACTION, seed=None) -> np.ndarray:
    """Boolean (H, W) mask with exactly ``int(H * W * fraction)`` pixels set, drawn without
    replacement by ``numpy.random.default_rng(seed)``.

    Use one mask per image, the same for every method scored on that image, and derive the
    seed from the image (e.g. its id) so that a rerun reveals the same pixels. PAIR's
    ``generate_random_mask`` draws the same kind of mask from numpy's global state.
    """
    height, width = shape
    size = height * width
    count = int(size * fraction)
    mask = np.zeros(size, dtype=bool)
    mask[np.random.default_rng(seed).choice(size, size=count, replace=False)] = True
    return mask.reshape(height, width)


def image_entropy(image: np.ndarray) -> int:
    """Byte size of the lossless WebP encoding of a uint8 (H, W, C) or (H, W) image: PAIR's
    information estimate, encoded with the same settings (lossless, quality 100)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="webp", lossless=True, quality=100)
    return buffer.getbuffer().nbytes


def blur_image(image: np.ndarray, revealed: np.ndarray) -> np.ndarray:
    """``image`` (uint8 or float; (H, W, C) or (H, W)) where ``revealed`` (bool (H, W)) is
    False replaced by linear interpolation over the Delaunay triangulation of the revealed
    pixels; the corners always count as revealed. Same dtype and shape as ``image``
    (integer types rounded half to even, as PAIR's float32 buffer is)."""
    height, width = revealed.shape
    revealed = revealed.copy()
    revealed[[0, 0, height - 1, height - 1], [0, width - 1, 0, width - 1]] = True
    if revealed.all():
        return image.copy()
    channels = image if image.ndim == 3 else image[:, :, None]
    blurred = np.where(revealed[:, :, None], channels, 0).astype(np.float32)
    rows, cols, values = _interpolate_missing(channels, revealed)
    blurred[rows, cols] = values.astype(np.float32)
    uncovered = revealed.copy()
    uncovered[rows, cols] = True
    np.logical_not(uncovered, out=uncovered)
    if uncovered.any():  # outside every triangle: PAIR's fill value, the channel means
        blurred[uncovered] = np.mean(channels, axis=(0, 1)).astype(np.float32)
    if image.ndim == 2:
        blurred = blurred[:, :, 0]
    if np.issubdtype(image.dtype, np.integer):
        blurred = np.round(blurred)
    return blurred.astype(image.dtype)


def _interpolate_missing(channels: np.ndarray, revealed: np.ndarray):
    """Rows, columns and (n, C) float64 values of the missing pixels that lie in a triangle
    (a pixel on an edge shared by two triangles comes twice, with the same value)."""
    points = np.argwhere(revealed)
    # The triangulation PAIR's griddata builds: same float64 points, same order, same options.
    simplices = Delaunay(points.astype(np.float64)).simplices
    a, b, c = points[simplices[:, 0]], points[simplices[:, 1]], points[simplices[:, 2]]
    doubled_area = _cross(b - a, c - a)
    b, c = np.where((doubled_area < 0)[:, None], c, b), np.where((doubled_area < 0)[:, None], b, c)
    doubled_area = np.abs(doubled_area)
    # Area 1/2 holds only its corners (Pick); area 0 (Qhull's flat triangles) holds nothing new.
    large = doubled_area > 1
    a, b, c, doubled_area = a[large], b[large], c[large], doubled_area[large]
    vertices = np.stack([a, b, c])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    box_height, box_width = high[:, 0] - low[:, 0] + 1, high[:, 1] - low[:, 1] + 1
    box_size = box_height * box_width
    triangle = np.repeat(np.arange(len(a)), box_size)
    offset = np.arange(len(triangle)) - np.repeat(np.cumsum(box_size) - box_size, box_size)
    pixel = np.stack(
        [low[triangle, 0] + offset // box_width[triangle], low[triangle, 1] + offset % box_width[triangle]],
        axis=1,
    )
    keep = ~revealed[pixel[:, 0], pixel[:, 1]]
    triangle, pixel = triangle[keep], pixel[keep]
    # Integer barycentric weights (doubled sub-areas); all >= 0 inside or on the triangle.
    weight_a = _cross(b[triangle] - pixel, c[triangle] - pixel)
    weight_b = _cross(c[triangle] - pixel, a[triangle] - pixel)
    weight_c = doubled_area[triangle] - weight_a - weight_b
    inside = (weight_a >= 0) & (weight_b >= 0) & (weight_c >= 0)
    triangle, pixel = triangle[inside], pixel[inside]
    weight_a, weight_b, weight_c = weight_a[inside], weight_b[inside], weight_c[inside]
    # Integer images: exact integer numerators and one division, the correctly rounded value
    # of the interpolant; a pixel on an edge shared by two triangles gets the same value twice.
    exact = np.issubdtype(channels.dtype, np.integer)
    image = channels.astype(np.int64 if exact else np.float64)
    corner = (a[triangle], b[triangle], c[triangle])
    numerator = sum(
        weight[:, None] * image[point[:, 0], point[:, 1]]
        for weight, point in zip((weight_a, weight_b, weight_c), corner)
    )
    values = numerator / doubled_area[triangle][:, None]
    return pixel[:, 0], pixel[:, 1], values


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]


def compute_pic(
    img: np.ndarray,
    saliency_map: np.ndarray,
    random_mask: np.ndarray,
    pred_func: Callable[[np.ndarray], Sequence[float]],
    saliency_thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    min_pred_value: float = DEFAULT_MIN_PRED_VALUE,
    keep_monotonous: bool = True,
    num_data_points: int = 1000,
    batch_size: int | None = None,
    keep_images: bool = True,
    blur_cache: dict | None = None,
) -> PicResult:
    """One image's SIC or AIC curve for one saliency map (see the module docstring).

    img: uint8 (H, W, C) or (H, W). saliency_map: (H, W), higher = more important (apply
    ``abs`` first if that is the ranking meant). random_mask: bool (H, W), see
    ``random_mask``. pred_func: a uint8 batch (B, H, W, C) -> B scores for the class: its
    softmax probability for SIC, 1.0 / 0.0 for a correct / wrong top-1 prediction for AIC.
    saliency_thresholds: ascending fractions of the image to reveal. batch_size: threshold
    images per ``pred_func`` call (None: all at once; 1: one by one as PAIR).

    blur_cache: a dict shared by calls on the same ``img`` and ``random_mask`` (SIC and AIC of
    one map, the maps of one image): a blurred image and its entropy are computed once per set
    of revealed pixels and reused, the same values, so the results do not change.

    Raises PicSkipped (with its reason) where the image cannot be scored.
    """
    if img.dtype != np.uint8:
        raise ValueError(f"img must be uint8, not {img.dtype}")
    if saliency_map.shape != img.shape[:2] or random_mask.shape != img.shape[:2]:
        raise ValueError("saliency_map and random_mask must have the image's height and width")
    original_pred = pred_func(img[np.newaxis])[0]
    if original_pred < min_pred_value:
        raise PicSkipped(
            NOT_CONFIDENT,
            original_pred,
            None,
            f"the score on the original image ({original_pred}) is below min_pred_value ({min_pred_value})",
        )
    original_entropy = image_entropy(img)
    fully_blurred, blurred_entropy = _blurred(img, random_mask, blur_cache)
    blurred_pred = pred_func(fully_blurred[np.newaxis])[0]
    if blurred_entropy >= original_entropy:
        raise PicSkipped(
            BLUR_KEEPS_INFORMATION,
            original_entropy,
            blurred_entropy,
            f"the fully blurred image holds {blurred_entropy} bytes, the original {original_entropy}",
        )
    if blurred_pred >= original_pred:
        raise PicSkipped(
            BLUR_KEEPS_PREDICTION,
            original_pred,
            blurred_pred,
            f"the score on the fully blurred image ({blurred_pred}) is not below the original's "
            f"({original_pred})",
        )

    # Thresholds that reveal the same pixels (ties in the map, e.g. XRAI's flat regions) share
    # one image, one encoding and one prediction: the same values PAIR computes again.
    images, entropies, first_of_kind = [], [], []
    previous = None
    for threshold in saliency_thresholds:
        revealed = (saliency_map >= np.quantile(saliency_map, 1 - threshold)) | random_mask
        if previous is not None and np.array_equal(revealed, previous):
            first_of_kind.append(first_of_kind[-1])
            continue
        previous = revealed
        first_of_kind.append(len(images))
        blurred, entropy = _blurred(img, revealed, blur_cache)
        images.append(blurred)
        entropies.append(entropy)
    predictions = _predict(pred_func, images, batch_size)[first_of_kind]
    entropies = np.array(entropies, dtype=np.int64)[first_of_kind]
    images = [images[i] for i in first_of_kind]

    # The scalars as pred_func returned them, so that float32 scores are normalised in float32
    # as PAIR does; the curve itself is float64.
    normalized_entropies = np.clip(
        (entropies - blurred_entropy) / (original_entropy - blurred_entropy), 0.0, 1.0
    ).astype(np.float64)
    normalized_predictions = np.clip((predictions - blurred_pred) / (original_pred - blurred_pred), 0.0, 1.0)
    if keep_monotonous:
        normalized_predictions = np.maximum.accumulate(normalized_predictions)
    normalized_predictions = normalized_predictions.astype(np.float64)

    curve_x, curve_y = curve_from_points(normalized_entropies, normalized_predictions, num_data_points)
    return PicResult(
        curve_x=curve_x,
        curve_y=curve_y,
        auc=float(np.trapezoid(curve_y, curve_x)),
        thresholds=np.array([0.0, *saliency_thresholds, 1.0]),
        predictions=np.array([blurred_pred, *predictions, original_pred], dtype=np.float64),
        entropies=np.array([blurred_entropy, *entropies, original_entropy], dtype=np.int64),
        normalized_entropies=normalized_entropies,
        normalized_predictions=normalized_predictions,
        blurred_images=[fully_blurred, *images, img] if keep_images else [],
    )


def _blurred(img: np.ndarray, revealed: np.ndarray, cache: dict | None) -> tuple[np.ndarray, int]:
    """The blurred image for these revealed pixels and its entropy, from ``cache`` when there."""
    if cache is None:
        blurred = blur_image(img, revealed)
        return blurred, image_entropy(blurred)
    key = hashlib.sha256(np.packbits(revealed)).digest()
    if key not in cache:
        blurred = blur_image(img, revealed)
        cache[key] = (blurred, image_entropy(blurred))
    return cache[key]


def _predict(pred_func, images: list[np.ndarray], batch_size: int | None) -> np.ndarray:
    if not images:
        return np.zeros(0, dtype=np.float64)
    step = batch_size or len(images)
    parts = [np.asarray(pred_func(np.stack(images[i : i + step]))) for i in range(0, len(images), step)]
    return np.concatenate(parts)


def curve_from_points(x: np.ndarray, y: np.ndarray, num_data_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear curve through (0, 0), the points and (1, 1), sampled at
    ``num_data_points`` x in [0, 1) plus x = 1. Equal x keep their threshold order (stable
    sort) and ``np.interp`` takes the last of them, so a tie resolves as in PAIR."""
    xs = np.concatenate([x, [0.0, 1.0]])
    ys = np.concatenate([y, [0.0, 1.0]])
    order = np.argsort(xs, kind="stable")
    curve_x = np.linspace(0.0, 1.0, num=num_data_points, endpoint=False)
    curve_y = np.interp(curve_x, xs[order], ys[order])
    return np.append(curve_x, 1.0), np.append(curve_y, 1.0)


def aggregate_pic(results: Sequence[PicResult], method: str = "median") -> AggregatePic:
    """Point-wise median (the paper) or mean of the images' curves, and its AUC (trapezoids).
    The curves must share their x points (same ``num_data_points``)."""
    if not results:
        raise ValueError("no curves to aggregate")
    curve_x = np.asarray(results[0].curve_x)
    if any(not np.array_equal(r.curve_x, curve_x) for r in results):
        raise ValueError("the curves have different x points")
    curves = np.stack([np.asarray(r.curve_y) for r in results])
    if method == "median":
        curve_y = np.median(curves, axis=0)
    elif method == "mean":
        curve_y = np.mean(curves, axis=0)
    else:
        raise ValueError(f"unknown aggregation {method!r}: 'median' or 'mean'")
    return AggregatePic(curve_x, curve_y, float(np.trapezoid(curve_y, curve_x)), len(results))
