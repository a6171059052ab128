"""The similarity part of the model-parameter randomisation test (Adebayo et al. 2018, "Sanity
checks for saliency maps", section 3.1 and figure 2).

The test re-initialises a trained model's layers one at a time, cascading from the logits down
(the top layer, then the top two, ...), recomputes the map after each step and compares it with
the map of the trained model. A method whose maps stay similar does not depend on what the model
learnt. The re-initialisation is torch and lives in ``explain``; here are the order of the
cascade and the similarity measures, the paper's three:

- Spearman rank correlation of the flattened maps, with and without absolute values (ranks with
  average ties, i.e. ``scipy.stats.spearmanr``, Quantus's ``correlation_spearman``). NaN when a
  map is constant.
- SSIM (``skimage.metrics.structural_similarity``, its defaults: a 7 x 7 uniform window, K1 =
  0.01, K2 = 0.03) between the two maps each min-max normalised to [0, 1], with data_range = 1.
  A constant map normalises to zeros. Quantus's ``ssim`` takes data_range = max - min of the two
  maps together, which is 1 for two normalised maps, so the two agree on normalised input.
- HOG similarity (optional): Pearson correlation of the histograms of oriented gradients of the
  two normalised maps (``skimage.feature.hog``, 9 orientations, 8 x 8-pixel cells, 3 x 3-cell
  blocks, L2-Hys). NaN when a descriptor is constant.
"""

from collections.abc import Sequence

import numpy as np
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity

SSIM_WINDOW = 7


def _check_pair(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"maps must be 2-D of one shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("maps must be finite")
    return a, b


def normalise_to_unit_range(saliency_map: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1]; a constant map becomes zeros."""
    values = np.asarray(saliency_map, dtype=np.float64)
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denominator) if denominator > 0 else float("nan")


def spearman_similarity(first: np.ndarray, second: np.ndarray, absolute: bool = False) -> float:
    """Spearman rank correlation of the two maps (of their absolute values when ``absolute``)."""
    a, b = _check_pair(first, second)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    return _pearson(stats.rankdata(a.ravel()), stats.rankdata(b.ravel()))


def ssim_similarity(first: np.ndarray, second: np.ndarray, win_size: int = SSIM_WINDOW) -> float:
    """SSIM of the two maps after min-max normalisation to [0, 1] (data_range = 1)."""
    a, b = _check_pair(first, second)
    return float(
        structural_similarity(
            normalise_to_unit_range(a), normalise_to_unit_range(b), win_size=win_size, data_range=1.0
        )
    )


def hog_similarity(first: np.ndarray, second: np.ndarray, pixels_per_cell: int = 8) -> float:
    """Pearson correlation of the HOG descriptors of the two [0, 1]-normalised maps."""
    a, b = _check_pair(first, second)
    options = dict(orientations=9, pixels_per_cell=(pixels_per_cell,) * 2, cells_per_block=(3, 3))
    return _pearson(hog(normalise_to_unit_range(a), **options), hog(normalise_to_unit_range(b), **options))


def randomisation_similarities(
    original_map: np.ndarray,
    randomised_maps: Sequence[tuple[str, np.ndarray]],
    *,
    include_hog: bool = False,
) -> list[dict]:
    """One row per randomisation step, in the order given: ``{"step": 1, 2, ..., "layer": name,
    "spearman": ..., "spearman_abs": ..., "ssim": ...}`` (plus ``"hog"``), each comparing the
    step's map with the original map."""
    rows = []
    for step, (layer, randomised) in enumerate(randomised_maps, start=1):
        row = {
            "step": step,
            "layer": layer,
            "spearman": spearman_similarity(original_map, randomised),
            "spearman_abs": spearman_similarity(original_map, randomised, absolute=True),
            "ssim": ssim_similarity(original_map, randomised),
        }
        if include_hog:
            row["hog"] = hog_similarity(original_map, randomised)
        rows.append(row)
    return rows


def randomisation_steps(
    layer_names: Sequence[str], cascading: bool = True
) -> list[tuple[str, tuple[str, ...]]]:
    """The steps of the test: ``(layer, layers re-initialised at that step)`` from the logits
    down. ``layer_names`` are the layers with parameters in forward order (input to logits, as
    ``torch.nn.Module.named_modules`` lists them). Cascading: each step re-initialises one more
    layer on top of the previous ones; independent (``cascading=False``): only that layer."""
    names = list(layer_names)
    if len(set(names)) != len(names):
        raise ValueError("layer names must be distinct")
    top_down = names[::-1]
    if not cascading:
        return [(name, (name,)) for name in top_down]
    return [(name, tuple(top_down[: i + 1])) for i, name in enumerate(top_down)]
