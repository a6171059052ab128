"""How well humans agree with each other (the noise ceiling) and with a wrong image (the floor).

Ceiling, the ClickMe procedure (Linsley et al.; the 0.6575 of Harmonization): split an
image's participants at random into two halves, average each half, correlate the two half
means (Spearman), repeat ``n_splits`` times and average. Each half has half the participants
of the full mean the models are compared with, so this underestimates the reliability of the
full mean; the Spearman-Brown value 2r / (1 + r) corrects for that and is reported alongside.
Harmonization normalises by the uncorrected value, and so does this package unless told
otherwise.

Floor: the human mean of another image (resized to this image's shape) used as if it were a
model's map; what a map that knows nothing about this image scores.

These are the plain per-image definitions; ``analysis.batch_scores`` computes the same in batches.
"""

from collections.abc import Callable, Sequence

import numpy as np

from analysis import metrics
from analysis.human_maps import mean_map, resize_map

Metric = Callable[[np.ndarray, np.ndarray], float]


def spearman_brown(r: float | np.ndarray) -> float | np.ndarray:
    """Reliability of a mean of twice as many participants as a split half: 2r / (1 + r)."""
    r = np.asarray(r, dtype=np.float64)
    out = 2 * r / (1 + r)
    return float(out) if out.ndim == 0 else out


def split_permutations(n_participants: int, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """(n_splits, n_participants) random permutations; the first n//2 of each are half A,
    the rest half B (the larger half when n is odd)."""
    return np.stack([rng.permutation(n_participants) for _ in range(n_splits)])


def split_half(
    participant_maps: Sequence[np.ndarray],
    *,
    n_splits: int = 50,
    rng: int | np.random.Generator | None = 0,
    metric: Metric = metrics.spearman,
    normalise: str = "minmax",
    include: Sequence[bool] | np.ndarray | None = None,
    blur: bool = False,
) -> tuple[float, float]:
    """(mean split-half agreement, its Spearman-Brown correction) for one image, over
    ``n_splits`` random splits; half A plays the model, half B the human reference. NaN
    with fewer than two participants."""
    maps = list(participant_maps)
    if include is not None:
        maps = [m for m, keep in zip(maps, np.asarray(include, dtype=bool)) if keep]
    if len(maps) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(rng)
    half = len(maps) // 2
    values = []
    for order in split_permutations(len(maps), n_splits, rng):
        a = mean_map([maps[i] for i in order[:half]], normalise=normalise, blur=blur)
        b = mean_map([maps[i] for i in order[half:]], normalise=normalise, blur=blur)
        values.append(metric(a, b))
    r = float(np.mean(values))
    return r, spearman_brown(r)


def floor_partners(n_images: int, n_partners: int, rng: int | np.random.Generator | None = 0) -> np.ndarray:
    """(n_images, n_partners) indices of other images, distinct within a row, never the row's
    own image; fewer partners than asked when there are not enough images."""
    rng = np.random.default_rng(rng)
    n_partners = min(n_partners, n_images - 1)
    if n_partners <= 0:
        return np.zeros((n_images, 0), dtype=np.int64)
    rows = [
        (i + 1 + rng.choice(n_images - 1, size=n_partners, replace=False)) % n_images for i in range(n_images)
    ]
    return np.stack(rows).astype(np.int64)


def mismatched_floor(
    human_means: Sequence[np.ndarray],
    *,
    n_partners: int = 5,
    rng: int | np.random.Generator | None = 0,
    metric: Metric = metrics.spearman,
) -> np.ndarray:
    """Per image, the mean ``metric`` of other images' human means (resized to this image's
    shape, as the saliency map) against this image's human mean (the reference)."""
    partners = floor_partners(len(human_means), n_partners, rng)
    floors = np.full(len(human_means), np.nan)
    for i, row in enumerate(partners):
        if row.size:
            shape = np.shape(human_means[i])
            floors[i] = np.mean([metric(resize_map(human_means[j], shape), human_means[i]) for j in row])
    return floors
