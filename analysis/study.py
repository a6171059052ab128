"""Analyse a whole study from arrays: every metric for every image x model x method, noise
ceilings and floors, means with bootstrap CIs, paired permutation tests with Holm's correction.

``analyse_study`` is the fast path. It gives the numbers of ``analyse_study_loop``, the
straightforward per-image loop over ``analysis.metrics``, ``analysis.ceiling`` and scipy's
``bootstrap``/``permutation_test`` (to rounding; ``tests/analysis`` and
``benchmarks/analysis.py`` check it), in a fraction of the time, because it

- ranks each map once, with a linear-time radix sort (``analysis.ranking``), and derives
  Spearman, AUC-Judd, AUC-Borji's thresholds and the top-k thresholds from those ranks and the
  sorted values instead of calling scipy per metric;
- computes moments, correlations and masked means for all of an image's maps with matrix
  products, and the split-half means of all 50 splits with two;
- draws every bootstrap resample and permutation once for all groups and pairs
  (``analysis.stats``);
- works image by image on ``workers`` threads (numpy releases the GIL in the heavy calls), so
  memory stays at a few images' worth whatever the study size.

Inputs: ``human_maps`` (images, participants, H, W) in any real dtype (uint8 PNG values are
fine: every normalisation is scale-free), ``model_maps`` (images, models, methods, H, W),
already at the human maps' size; any object indexable by image works (e.g. a memmap).
"""

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from analysis import ceiling, metrics, stats
from analysis.emd import default_grid, downsample, emd_of_downsampled
from analysis.human_maps import harmonization_blur, mean_map
from analysis.metrics import BINARISE_K
from analysis.ranking import nonnegative_ranks, rank_and_sort, rank_order_and_sort

METRICS = ("spearman", "cc", "sim", "kld", "nss", "auc_judd", "auc_borji", "topk_iou", "topk_dice", "emd")
LOWER_IS_BETTER = ("kld", "emd")
_RANDOM = ("auc_borji",)

# Sub-streams of the one seed, so that every random draw is reproducible on its own.
_CEILING, _BORJI, _FLOOR, _BOOTSTRAP, _PERMUTATION, _HIERARCHICAL = range(1, 7)


@dataclass(frozen=True)
class Settings:
    """Every parameter of an analysis; recorded with its results."""

    normalise: str = "minmax"
    blur: bool = False
    metrics: tuple[str, ...] = METRICS
    binarise_k: float = BINARISE_K
    topk: tuple[float, ...] = (0.1, 0.3)
    emd_grid: tuple[int, int] | None = None
    emd_match_histogram: bool = True
    borji_splits: int = 100
    borji_step: float = 0.1
    n_splits: int = 50
    ceiling_metrics: tuple[str, ...] = ("spearman",)
    floor_partners: int = 5
    normalise_by: str = "split_half"  # or "spearman_brown"
    n_bootstrap: int = 1000
    confidence: float = 0.95
    n_permutations: int = 9999
    hierarchical: bool = False
    hierarchical_metrics: tuple[str, ...] = ("spearman",)
    hierarchical_resamples: int = 1000
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; known: {METRICS}")
        columns = self.columns()
        for name in (*self.ceiling_metrics, *(self.hierarchical_metrics if self.hierarchical else ())):
            if name not in columns:
                raise ValueError(f"{name!r} is not one of the computed columns {columns}")
            if name in _RANDOM:
                raise ValueError(f"{name} draws random negatives; no ceiling/floor/hierarchical CI for it")
        if self.normalise_by not in ("split_half", "spearman_brown"):
            raise ValueError("normalise_by is 'split_half' or 'spearman_brown'")

    def columns(self) -> list[str]:
        """Metric columns: topk_iou/topk_dice expand to one column per k (top10_iou, ...)."""
        out = []
        for name in METRICS:
            if name not in self.metrics:
                continue
            if name in ("topk_iou", "topk_dice"):
                out += [topk_column(name, k) for k in self.topk]
            else:
                out.append(name)
        return out


def topk_column(name: str, k: float) -> str:
    return f"top{round(k * 100)}_{name.split('_')[1]}"


def _topk_of(column: str, settings: Settings) -> float:
    return next(
        k for k in settings.topk for kind in ("topk_iou", "topk_dice") if topk_column(kind, k) == column
    )


def _rng(settings: Settings, *stream: int) -> np.random.Generator:
    return np.random.default_rng([settings.seed, *stream])


# --- the batched kernel --------------------------------------------------------------------


class _Reference:
    """One human map (float32, flattened) and what every metric needs from it."""

    def __init__(self, human: np.ndarray, shape: tuple[int, int], settings: Settings, needed: set[str]):
        h32 = np.asarray(human, dtype=np.float32).ravel()
        self.n = n = h32.size
        self.values = v = h32.astype(np.float64)
        self.constant = v[0] == v.max() == v.min()
        ranks, sorted32 = rank_and_sort(h32)
        self.sorted = sorted32.astype(np.float64)
        self.fixations = None
        if "spearman" in needed:
            self.rank_c = ranks - (n + 1) / 2
            self.rank_norm = np.sqrt(self.rank_c @ self.rank_c)
        if "cc" in needed:
            self.centred = v - v.mean()
            self.norm = np.sqrt(self.centred @ self.centred)
        if "sim" in needed:
            self.sim = metrics._minmax_then_sum(v)
        if "kld" in needed:
            q = metrics._to_distribution(v)
            self.support = np.flatnonzero(q > 0)
            self.q = q[self.support]
        if needed & {"nss", "auc_judd", "auc_borji"}:
            threshold = metrics.quantile_of_sorted(self.sorted, 1.0 - settings.binarise_k)
            self.fixations = np.flatnonzero(v > threshold)
        self.topk = {}
        for k in settings.topk if "topk" in needed else ():
            threshold = metrics.quantile_of_sorted(self.sorted, 1.0 - k)
            self.topk[k] = np.flatnonzero(v > threshold)
        if "emd" in needed:
            grid = settings.emd_grid or default_grid(shape)
            self.cells = downsample(v.reshape(shape), tuple(grid))


class _Maps:
    """Saliency maps (m, n) float32 and their reference-independent preparation (ranks,
    sorted values, moments), reusable against several references."""

    def __init__(self, maps: np.ndarray, shape: tuple[int, int], settings: Settings, needed: set[str]):
        s32 = np.ascontiguousarray(maps, dtype=np.float32).reshape(len(maps), -1)
        self.m, self.n = m, n = s32.shape
        self.values = s = s32.astype(np.float64)
        self.sorted = np.empty_like(s)
        want_ranks = bool(needed & {"spearman", "auc_judd"})
        self.ranks = np.empty_like(s) if want_ranks else None
        for row in range(m):
            ranks, _, self.sorted[row] = rank_order_and_sort(s32[row])
            if want_ranks:
                self.ranks[row] = ranks
        self.low, self.high = low, high = self.sorted[:, 0].copy(), self.sorted[:, -1].copy()
        self.constant = constant = low == high
        spread = np.where(constant, 1.0, high - low)[:, None]
        if "spearman" in needed:
            # Ranks are multiples of 1/2: exact in float64 up to about 190 000 pixels.
            squares = np.einsum("ij,ij->i", self.ranks, self.ranks)
            self.rank_norm = np.sqrt(squares - n * ((n + 1) / 2) ** 2)
        if needed & {"cc", "nss", "kld"}:
            self.row_sum = s.sum(axis=1)
            self.mean = self.row_sum / n
        if needed & {"cc", "nss"}:
            self.centred = s - self.mean[:, None]
            self.centred_sq = np.einsum("ij,ij->i", self.centred, self.centred)
        if "nss" in needed:
            self.std = np.sqrt(self.centred_sq / (n - 1))
        if "sim" in needed:  # metrics._minmax_then_sum, row by row
            scaled = (s - low[:, None]) / spread
            with np.errstate(invalid="ignore"):
                self.sim = scaled / scaled.sum(axis=1, keepdims=True)
            self.sim[constant] = np.nan
            self.sim[constant & (low == 0)] = 0.0
        if "kld" in needed:
            self.shift = np.minimum(low, 0.0)
            self.total = self.row_sum.copy()
            for row in np.flatnonzero(low < 0):
                self.total[row] = (s[row] - low[row]).sum()
        if "auc_borji" in needed:
            thresholds = metrics.borji_thresholds(settings.borji_step)
            self.borji_thresholds = thresholds
            at_or_above = np.zeros((m, thresholds.size + 1))
            for row in np.flatnonzero(~constant):
                at_or_above[row, :-1] = _count_normalised_at_least(
                    self.sorted[row], low[row], high[row], thresholds
                )
            self.borji_share = (at_or_above[:, :-1] - at_or_above[:, 1:]) / n
        self.topk = {}
        for k in settings.topk if "topk" in needed else ():
            thresholds = np.array([metrics.quantile_of_sorted(row, 1.0 - k) for row in self.sorted])
            above = np.array(
                [n - np.searchsorted(row, t, side="right") for row, t in zip(self.sorted, thresholds)]
            )
            self.topk[k] = (thresholds, above)
        if "emd" in needed:
            grid = settings.emd_grid or default_grid(shape)
            self.cells = downsample(s.reshape(m, *shape), tuple(grid))


def _count_normalised_at_least(
    ordered: np.ndarray, low: float, high: float, thresholds: np.ndarray
) -> np.ndarray:
    """For ascending ``ordered``, how many x have (x - low) / (high - low) >= t, for each t,
    with exactly that rounding (as ``metrics.auc_borji`` computes it on the whole map), but
    from a binary search instead of normalising every pixel."""
    n, spread = ordered.size, high - low
    counts = np.empty(thresholds.size)
    for j, t in enumerate(thresholds):
        i = int(np.searchsorted(ordered, low + t * spread, side="left"))
        while i > 0 and (ordered[i - 1] - low) / spread >= t:
            i = int(np.searchsorted(ordered, ordered[i - 1], side="left"))
        while i < n and (ordered[i] - low) / spread < t:
            i = int(np.searchsorted(ordered, ordered[i], side="right"))
        counts[j] = n - i
    return counts


def _score(
    maps: _Maps,
    ref: _Reference,
    settings: Settings,
    columns: Sequence[str],
    borji_rngs: Sequence[np.random.Generator] | None = None,
) -> np.ndarray:
    """(m, len(columns)) scores of the prepared maps against one reference."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _score_columns(maps, ref, settings, columns, borji_rngs)


def _score_columns(maps, ref, settings, columns, borji_rngs) -> np.ndarray:
    out = np.full((maps.m, len(columns)), np.nan)
    s = maps.values
    at_fixations = s[:, ref.fixations] if ref.fixations is not None else None
    both_topk = {}
    for c, name in enumerate(columns):
        if name == "spearman":
            if not ref.constant:
                value = maps.ranks @ ref.rank_c / (maps.rank_norm * ref.rank_norm)
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "cc":
            if not ref.constant:
                value = maps.centred @ ref.centred / np.sqrt(maps.centred_sq) / ref.norm
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "sim":
            if not np.isnan(ref.sim).all():
                value = np.minimum(maps.sim, ref.sim).sum(axis=1)
                out[:, c] = np.where(np.isnan(maps.sim).all(axis=1), np.nan, value)
        elif name == "kld":  # metrics.kld, operation for operation, on the human map's support
            p = s[:, ref.support]
            if (maps.shift < 0).any():
                p -= maps.shift[:, None]
            p /= np.where(maps.total > 0, maps.total, 1)[:, None]
            p += metrics.EPS
            np.divide(ref.q, p, out=p)
            p += metrics.EPS
            np.log(p, out=p)
            p *= ref.q
            out[:, c] = p.sum(axis=1)
        elif name == "nss":
            if ref.fixations.size:
                value = (at_fixations.mean(axis=1) - maps.mean) / maps.std
                out[:, c] = np.where(maps.constant, np.nan, value)
        elif name == "auc_judd":
            out[:, c] = _auc_judd(maps, ref, at_fixations)
        elif name == "auc_borji":
            out[:, c] = _auc_borji(maps, ref, settings, borji_rngs, at_fixations)
        elif name == "emd":
            for row in range(maps.m):
                out[row, c] = emd_of_downsampled(
                    maps.cells[row], ref.cells, match_histogram_=settings.emd_match_histogram
                )
        else:  # top-k IoU / Dice
            k = _topk_of(name, settings)
            thresholds, above = maps.topk[k]
            human = ref.topk[k]
            if k not in both_topk:
                both_topk[k] = (s[:, human] > thresholds[:, None]).sum(axis=1)
            both = both_topk[k]
            if name.endswith("_iou"):
                union = above + human.size - both
                out[:, c] = np.where(union > 0, both / np.where(union > 0, union, 1), np.nan)
            else:
                total = above + human.size
                out[:, c] = np.where(total > 0, 2 * both / np.where(total > 0, total, 1), np.nan)
    return out


def _auc_judd(maps: _Maps, ref: _Reference, at_fixations: np.ndarray) -> np.ndarray:
    n, fixations = maps.n, ref.fixations
    n_pos, n_neg = fixations.size, maps.n - fixations.size
    if n_pos == 0 or n_neg == 0:
        return np.full(maps.m, np.nan)
    rank_sum = maps.ranks[:, fixations].sum(axis=1)
    mann_whitney = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    lowest = at_fixations.min(axis=1)
    tied_pos = (at_fixations == lowest[:, None]).sum(axis=1)
    out = np.empty(maps.m)
    for row in range(maps.m):
        ordered = maps.sorted[row]
        first = np.searchsorted(ordered, lowest[row], side="left")
        last = np.searchsorted(ordered, lowest[row], side="right")
        negatives_above = (n - last) - (n_pos - tied_pos[row])
        tied_neg = (last - first) - tied_pos[row]
        fp_last = (negatives_above + tied_neg * tied_pos[row] / (tied_pos[row] + 1)) / n_neg
        out[row] = mann_whitney[row] + fp_last / (2 * n_pos)
    return out


def _auc_borji(
    maps: _Maps, ref: _Reference, settings: Settings, rngs, at_fixations: np.ndarray
) -> np.ndarray:
    n_pos = ref.fixations.size
    out = np.full(maps.m, np.nan)
    rows = np.flatnonzero(~maps.constant)
    if n_pos == 0 or not rows.size:
        return out
    thresholds = maps.borji_thresholds
    low, high = maps.low[rows, None], maps.high[rows, None]
    normalised = (at_fixations[rows] - low) / (high - low)  # as metrics.auc_borji, pixel for pixel
    # v >= t_j exactly when v's bin (the last threshold <= v) is j or above
    bins = np.searchsorted(thresholds, normalised.ravel(), side="right") - 1
    offsets = np.repeat(np.arange(rows.size) * thresholds.size, n_pos)
    per_bin = np.bincount(bins + offsets, minlength=rows.size * thresholds.size).reshape(rows.size, -1)
    at_or_above = np.cumsum(per_bin[:, ::-1], axis=1)[:, ::-1]
    tp = at_or_above / n_pos
    counts = np.stack(
        [rngs[row].multinomial(n_pos, maps.borji_share[row], size=settings.borji_splits) for row in rows]
    )
    out[rows] = metrics.borji_curve_area(tp, counts, n_pos)
    return out


# --- the fast path -------------------------------------------------------------------------


def _normalised(maps: np.ndarray, include: np.ndarray, settings: Settings) -> np.ndarray:
    """(participants kept, H*W) float64: each kept participant's map normalised on its own,
    element for element as ``human_maps.normalise_participant`` does."""
    kept = np.asarray(maps)[np.asarray(include, dtype=bool)]
    flat = kept.reshape(len(kept), -1)
    if not len(flat):
        return flat.astype(np.float64)
    low = flat.min(axis=1).astype(np.float64)[:, None]
    high = flat.max(axis=1).astype(np.float64)[:, None]
    constant = (high <= low)[:, 0]
    if settings.normalise == "minmax":
        out = np.subtract(flat, low, dtype=np.float64)
        out /= np.where(high > low, high - low, 1)
    elif settings.normalise == "sum":
        if (low < 0).any():
            raise ValueError("sum-to-one needs maps without negative values")
        out = flat.astype(np.float64)
        out /= out.sum(axis=1, keepdims=True)
    else:
        out = np.empty(flat.shape)
        for row in range(len(flat)):
            ranks = rank_and_sort(flat[row])[0]
            out[row] = (ranks - ranks.min()) / max(ranks.max() - ranks.min(), 1e-300)
    out[constant] = 0.0
    return out


def _needed(columns: Sequence[str]) -> set[str]:
    return {"topk" if name.startswith("top") else name for name in columns}


def _pearson_of_ranks(a: np.ndarray, b: np.ndarray) -> float:
    n = a.size
    a, b = a - (n + 1) / 2, b - (n + 1) / 2
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


def _split_means(
    xn: np.ndarray, orders: np.ndarray, total: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Half-A and half-B means of every split (float32): A with one matrix product, B from
    the participants' ``total`` (``xn.sum(axis=0)``) minus A's sum. Each mean is divided in
    float64 and then rounded, as ``human_maps.mean_map`` does; the large arrays are reused
    in place (fresh 10 MB arrays cost page faults)."""
    splits, count = orders.shape
    half = count // 2
    weights = np.zeros((splits, count))
    weights[np.arange(splits)[:, None], orders[:, :half]] = 1.0
    sums = weights @ xn
    half_a = np.divide(sums, half, out=np.empty(sums.shape, dtype=np.float32))
    np.subtract(xn.sum(axis=0) if total is None else total, sums, out=sums)
    half_b = np.divide(sums, count - half, out=np.empty(sums.shape, dtype=np.float32))
    return half_a, half_b


def _split_half_spearman(xn: np.ndarray, orders: np.ndarray) -> float:
    """Mean Spearman between the half means of every split. Pixels no participant painted
    (zero in every normalised map, so in every half mean; normalised maps are never
    negative) are left out of the sort and enter the sums as one block of zeros. Ranks are
    multiples of 1/2, so up to about 190 000 pixels the sums of products below are exact in
    float64 and need no centring (beyond that they round like any float64 sum)."""
    total = xn.sum(axis=0)
    active = np.flatnonzero(total > 0)
    n, z = xn.shape[1], xn.shape[1] - active.size
    half_a, half_b = _split_means(np.ascontiguousarray(xn[:, active]), orders, total[active])
    offset = n * ((n + 1) / 2) ** 2  # n * mean rank squared
    values = []
    for a, b in zip(half_a, half_b):
        ra, zero_a = nonnegative_ranks(a, z)
        rb, zero_b = nonnegative_ranks(b, z)
        cross = ra @ rb + z * zero_a * zero_b - offset
        var_a = ra @ ra + z * zero_a * zero_a - offset
        var_b = rb @ rb + z * zero_b * zero_b - offset
        values.append(cross / np.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else float("nan"))
    return float(np.mean(values))


# --- the kernel for callers with their own data layout (the platform's results) -------------


def score_maps(model_maps, human_map, settings: Settings | None = None) -> np.ndarray:
    """Scores of several model maps (m, H, W) against one human map (H, W): (m, columns) in
    the order of ``settings.columns()``, each equal to the ``analysis.metrics`` function on
    that pair (AUC-Borji drawing from a generator seeded with ``settings.seed``, as
    ``metrics.auc_borji(..., rng=seed)`` does), computed in one batch."""
    settings = settings or Settings()
    human = np.asarray(human_map)
    maps = np.asarray(model_maps)
    if human.ndim != 2 or maps.ndim != 3 or maps.shape[1:] != human.shape:
        raise ValueError(
            f"need model maps (m, H, W) and a human map (H, W), got {maps.shape} and {human.shape}"
        )
    if not (np.isfinite(human).all() and np.isfinite(maps).all()):
        raise ValueError("maps must be finite")
    columns = settings.columns()
    needed = _needed(columns)
    if not len(maps):
        return np.empty((0, len(columns)))
    rngs = [np.random.default_rng(settings.seed) for _ in maps] if "auc_borji" in needed else None
    prepared = _Maps(maps.reshape(len(maps), -1), human.shape, settings, needed)
    return _score(prepared, _Reference(human, human.shape, settings, needed), settings, columns, rngs)


def split_half_ceiling(participant_maps, settings: Settings | None = None, rng=0) -> tuple[float, float]:
    """``ceiling.split_half(maps, n_splits=settings.n_splits, rng=rng,
    normalise=settings.normalise)`` with the Spearman metric, the same two numbers, fast:
    (mean split-half Spearman, its Spearman-Brown value); NaN with fewer than two maps."""
    settings = settings or Settings()
    if settings.blur:
        raise ValueError("split_half_ceiling does not blur; use analyse_study for blurred maps")
    maps = np.asarray(participant_maps)
    if maps.ndim != 3:
        raise ValueError(f"need participant maps (P, H, W), got {maps.shape}")
    if len(maps) < 2:
        return float("nan"), float("nan")
    xn = _normalised(maps, np.ones(len(maps), dtype=bool), settings)
    orders = ceiling.split_permutations(len(xn), settings.n_splits, np.random.default_rng(rng))
    r = _split_half_spearman(xn, orders)
    return r, float(ceiling.spearman_brown(r))


def participant_bootstrap_spearman(
    participant_maps, model_maps, *, n_resamples: int = 1000, rng=0, settings: Settings | None = None
) -> np.ndarray:
    """(models, n_resamples): each model map's Spearman with the human mean when the image's
    participants are drawn with replacement, one draw per resample (the inner level of the
    hierarchical bootstrap; ``stats.hierarchical_bootstrap_ci`` does the outer one)."""
    settings = settings or Settings()
    maps = np.asarray(participant_maps)
    models = np.asarray(model_maps)
    if maps.ndim != 3 or models.ndim != 3 or maps.shape[1:] != models.shape[1:]:
        raise ValueError(
            f"need participant maps (P, H, W) and model maps (m, H, W), got {maps.shape}, {models.shape}"
        )
    shape = maps.shape[1:]
    xn = _normalised(maps, np.ones(len(maps), dtype=bool), settings)
    needed = {"spearman"}
    prepared = _Maps(models.reshape(len(models), -1), shape, settings, needed)
    chosen = np.random.default_rng(rng).integers(0, len(xn), (n_resamples, len(xn)))
    out = np.empty((len(models), n_resamples))
    for start in range(0, n_resamples, 50):  # 50 means at a time: 20 MB at 224 x 224
        block = chosen[start : start + 50]
        weights = np.stack([np.bincount(row, minlength=len(xn)) for row in block]) / len(xn)
        for offset, mean in enumerate((weights @ xn).astype(np.float32)):
            reference = _Reference(mean, shape, settings, needed)
            out[:, start + offset] = _score(prepared, reference, settings, ["spearman"])[:, 0]
    return out


@dataclass
class StudyAnalysis:
    """Results of an analysis with the parameters that produced them. Arrays are indexed
    (image, model, method, column); ``columns`` names the metric columns."""

    settings: Settings
    models: list[str]
    methods: list[str]
    image_ids: list
    columns: list[str]
    scores: np.ndarray
    ceiling: np.ndarray  # (images, columns), NaN where not computed
    ceiling_spearman_brown: np.ndarray
    floor: np.ndarray
    n_participants: np.ndarray
    summary: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    hierarchical_ci: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def parameters(self) -> dict:
        out = asdict(self.settings)
        out.update(
            images=len(self.image_ids),
            models=list(self.models),
            methods=list(self.methods),
            columns=list(self.columns),
            emd_grid_used=self._emd_grid(),
        )
        return out

    def _emd_grid(self):
        shape = self.settings.emd_grid
        return list(shape) if shape else "1/32 of the map size (MIT)"

    def score_rows(self) -> list[dict]:
        """One tidy row per image x model x method x metric."""
        rows = []
        for i, image in enumerate(self.image_ids):
            for m, model in enumerate(self.models):
                for k, method in enumerate(self.methods):
                    values = self.scores[i, m, k]
                    rows += [
                        {"image": image, "model": model, "method": method, "metric": name, "value": float(v)}
                        for name, v in zip(self.columns, values)
                    ]
        return rows

    def image_rows(self) -> list[dict]:
        """One row per image x metric with a ceiling: split-half, Spearman-Brown, floor."""
        rows = []
        for c, name in enumerate(self.columns):
            if name not in self.settings.ceiling_metrics:
                continue
            for i, image in enumerate(self.image_ids):
                rows.append(
                    {
                        "image": image,
                        "metric": name,
                        "n_participants": int(self.n_participants[i]),
                        "ceiling": float(self.ceiling[i, c]),
                        "ceiling_spearman_brown": float(self.ceiling_spearman_brown[i, c]),
                        "floor": float(self.floor[i, c]),
                    }
                )
        return rows


def _shapes(human_maps, model_maps, include):
    images, participants, height, width = np.shape(human_maps)
    m_shape = np.shape(model_maps)
    if len(m_shape) != 5 or m_shape[0] != images or tuple(m_shape[3:]) != (height, width):
        raise ValueError(
            f"model maps must be (images, models, methods, H, W) = ({images}, ., ., {height}, {width}),"
            f" got {m_shape}"
        )
    if include is None:
        include = np.ones((images, participants), dtype=bool)
    include = np.asarray(include, dtype=bool)
    if include.shape == (participants,):
        include = np.broadcast_to(include, (images, participants))
    if include.shape != (images, participants):
        raise ValueError("include must be (participants,) or (images, participants)")
    return images, participants, (height, width), m_shape[1], m_shape[2], include


def _names(given, count, prefix):
    names = list(given) if given is not None else [f"{prefix}{j}" for j in range(count)]
    if len(names) != count:
        raise ValueError(f"{len(names)} {prefix} names for {count} {prefix}s")
    return names


def analyse_study(
    human_maps,
    model_maps,
    *,
    models: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    image_ids: Sequence | None = None,
    include: np.ndarray | None = None,
    settings: Settings | None = None,
    workers: int = 2,
) -> StudyAnalysis:
    """The whole analysis, fast. ``include`` flags the participants to keep, (participants,)
    or (images, participants) booleans (False also marks a participant with no map of an
    image). See ``Settings`` for every parameter."""
    settings = settings or Settings()
    n_images, _, shape, n_models, n_methods, include = _shapes(human_maps, model_maps, include)
    columns = settings.columns()
    needed = _needed(columns)
    index = {name: c for c, name in enumerate(columns)}
    ceiling_columns = [c for c in columns if c in settings.ceiling_metrics]
    other_ceiling = [c for c in ceiling_columns if c != "spearman"]
    ceiling_needed = _needed(other_ceiling)
    n_pixels = shape[0] * shape[1]
    n_participants = include.sum(axis=1)
    if (n_participants == 0).any():
        raise ValueError(
            f"images {np.flatnonzero(n_participants == 0).tolist()} have no included participant"
        )
    means = np.empty((n_images, n_pixels), dtype=np.float32)
    mean_ranks = np.empty((n_images, n_pixels), dtype=np.float32) if "spearman" in ceiling_columns else None
    scores = np.full((n_images, n_models, n_methods, len(columns)), np.nan)
    ceil = np.full((n_images, len(columns)), np.nan)
    floor = np.full((n_images, len(columns)), np.nan)
    timings = {}

    def image(i):
        xn = _normalised(human_maps[i], include[i], settings)
        block = np.asarray(model_maps[i])
        if not (np.isfinite(xn).all() and np.isfinite(block).all()):
            raise ValueError(f"maps must be finite (image {i})")
        mean = xn.mean(axis=0)
        if settings.blur:
            mean = harmonization_blur(mean.reshape(shape)).ravel()
            xn = harmonization_blur(xn.reshape(-1, *shape)).reshape(len(xn), -1)
        means[i] = mean
        ref = _Reference(
            means[i], shape, settings, needed | ({"spearman"} if mean_ranks is not None else set())
        )
        if mean_ranks is not None:
            mean_ranks[i] = ref.rank_c + (n_pixels + 1) / 2
        maps = _Maps(block.reshape(n_models * n_methods, -1), shape, settings, needed)
        rngs = [_rng(settings, _BORJI, i, row) for row in range(maps.m)] if "auc_borji" in needed else None
        scores[i] = _score(maps, ref, settings, columns, rngs).reshape(n_models, n_methods, len(columns))
        if not ceiling_columns or len(xn) < 2:
            return
        orders = ceiling.split_permutations(len(xn), settings.n_splits, _rng(settings, _CEILING, i))
        if "spearman" in ceiling_columns:
            ceil[i, index["spearman"]] = _split_half_spearman(xn, orders)
        if other_ceiling:
            half_a, half_b = _split_means(xn, orders)
            per_split = [
                _score(
                    _Maps(a[None], shape, settings, ceiling_needed),
                    _Reference(b, shape, settings, ceiling_needed),
                    settings,
                    other_ceiling,
                )[0]
                for a, b in zip(half_a, half_b)
            ]
            ceil[i, [index[c] for c in other_ceiling]] = np.mean(per_split, axis=0)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(image, range(n_images)))
    timings["scores_and_ceilings"] = time.perf_counter() - started

    partners = ceiling.floor_partners(n_images, settings.floor_partners, _rng(settings, _FLOOR))

    def image_floor(i):
        row = partners[i]
        if "spearman" in ceiling_columns:
            own = mean_ranks[i].astype(np.float64)
            floor[i, index["spearman"]] = np.mean(
                [_pearson_of_ranks(mean_ranks[j].astype(np.float64), own) for j in row]
            )
        if other_ceiling:
            others = _Maps(means[row], shape, settings, ceiling_needed)
            values = _score(
                others, _Reference(means[i], shape, settings, ceiling_needed), settings, other_ceiling
            )
            floor[i, [index[c] for c in other_ceiling]] = values.mean(axis=0)

    started = time.perf_counter()
    if ceiling_columns and partners.shape[1]:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(image_floor, range(n_images)))
    timings["floors"] = time.perf_counter() - started

    result = StudyAnalysis(
        settings=settings,
        models=_names(models, n_models, "model"),
        methods=_names(methods, n_methods, "method"),
        image_ids=list(image_ids) if image_ids is not None else list(range(n_images)),
        columns=columns,
        scores=scores,
        ceiling=ceil,
        ceiling_spearman_brown=ceiling.spearman_brown(ceil),
        floor=floor,
        n_participants=n_participants,
        timings=timings,
    )
    started = time.perf_counter()
    _summarise(result, fast=True)
    timings["statistics"] = time.perf_counter() - started
    if settings.hierarchical:
        started = time.perf_counter()
        result.hierarchical_ci = _hierarchical(human_maps, model_maps, include, shape, settings, workers)
        timings["hierarchical"] = time.perf_counter() - started
        _attach_hierarchical(result)
    return result


# --- the plain per-image loop ----------------------------------------------------------------


def column_metric(name: str, settings: Settings):
    """The per-image function (saliency_map, human_map) -> float of a column (not AUC-Borji,
    which takes its random generator separately)."""
    k = settings.binarise_k
    plain = {
        "spearman": metrics.spearman,
        "cc": metrics.cc,
        "sim": metrics.sim,
        "kld": metrics.kld,
        "nss": lambda s, h: metrics.nss(s, h, k),
        "auc_judd": lambda s, h: metrics.auc_judd(s, h, k),
        "emd": lambda s, h: metrics.emd(
            s, h, grid=settings.emd_grid, match_histogram=settings.emd_match_histogram
        ),
    }
    if name in plain:
        return plain[name]
    top = _topk_of(name, settings)
    function = metrics.topk_iou if name.endswith("_iou") else metrics.topk_dice
    return lambda s, h: function(s, h, top)


def analyse_study_loop(
    human_maps,
    model_maps,
    *,
    models: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    image_ids: Sequence | None = None,
    include: np.ndarray | None = None,
    settings: Settings | None = None,
) -> StudyAnalysis:
    """The same analysis as :func:`analyse_study`, written as the obvious loop: per image, the
    human mean (``human_maps.mean_map``), then each metric of ``analysis.metrics`` on each model
    map, ``ceiling.split_half`` and ``ceiling.mismatched_floor``, then scipy's ``bootstrap``
    per group and ``permutation_test`` per pair. The reference the fast path is checked
    against, and the baseline of ``benchmarks/analysis.py``."""
    settings = settings or Settings()
    n_images, _, shape, n_models, n_methods, include = _shapes(human_maps, model_maps, include)
    columns = settings.columns()
    timings = {}
    started = time.perf_counter()
    means = [
        mean_map(list(human_maps[i]), normalise=settings.normalise, include=include[i], blur=settings.blur)
        for i in range(n_images)
    ]
    timings["human_means"] = time.perf_counter() - started
    started = time.perf_counter()
    scores = np.full((n_images, n_models, n_methods, len(columns)), np.nan)
    functions = {name: column_metric(name, settings) for name in columns if name != "auc_borji"}
    for i in range(n_images):
        for m in range(n_models):
            for k in range(n_methods):
                s = model_maps[i][m][k]
                for c, name in enumerate(columns):
                    if name == "auc_borji":
                        rng = _rng(settings, _BORJI, i, m * n_methods + k)
                        scores[i, m, k, c] = metrics.auc_borji(
                            s,
                            means[i],
                            settings.binarise_k,
                            n_splits=settings.borji_splits,
                            step=settings.borji_step,
                            rng=rng,
                        )
                    else:
                        scores[i, m, k, c] = functions[name](s, means[i])
    ceil = np.full((n_images, len(columns)), np.nan)
    floor = np.full((n_images, len(columns)), np.nan)
    for c, name in enumerate(columns):
        if name not in settings.ceiling_metrics:
            continue
        for i in range(n_images):
            ceil[i, c] = ceiling.split_half(
                list(human_maps[i]),
                n_splits=settings.n_splits,
                rng=_rng(settings, _CEILING, i),
                metric=functions[name],
                normalise=settings.normalise,
                include=include[i],
                blur=settings.blur,
            )[0]
        floor[:, c] = ceiling.mismatched_floor(
            means, n_partners=settings.floor_partners, rng=_rng(settings, _FLOOR), metric=functions[name]
        )
    timings["scores_ceilings_floors"] = time.perf_counter() - started
    result = StudyAnalysis(
        settings=settings,
        models=_names(models, n_models, "model"),
        methods=_names(methods, n_methods, "method"),
        image_ids=list(image_ids) if image_ids is not None else list(range(n_images)),
        columns=columns,
        scores=scores,
        ceiling=ceil,
        ceiling_spearman_brown=ceiling.spearman_brown(ceil),
        floor=floor,
        n_participants=include.sum(axis=1),
        timings=timings,
    )
    started = time.perf_counter()
    _summarise(result, fast=False)
    timings["statistics"] = time.perf_counter() - started
    return result


# --- across images -------------------------------------------------------------------------


def _scipy_ci(values: np.ndarray, settings: Settings) -> tuple[float, float]:
    kept = values[np.isfinite(values)]
    if kept.size < 2:
        return float("nan"), float("nan")
    result = scipy_stats.bootstrap(
        (kept,),
        np.mean,
        n_resamples=settings.n_bootstrap,
        confidence_level=settings.confidence,
        method="percentile",
        rng=_rng(settings, _BOOTSTRAP),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _scipy_pvalue(differences: np.ndarray, settings: Settings) -> tuple[float, float]:
    kept = differences[np.isfinite(differences)]
    if kept.size == 0:
        return float("nan"), float("nan")
    result = scipy_stats.permutation_test(
        (kept,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=settings.n_permutations,
        alternative="two-sided",
        rng=_rng(settings, _PERMUTATION),
    )
    return float(result.statistic), float(result.pvalue)


def _summarise(result: StudyAnalysis, *, fast: bool) -> None:
    """Fill ``summary`` (per model x method x metric) and ``comparisons`` (per metric x pair)."""
    settings = result.settings
    n_images, n_models, n_methods, n_columns = result.scores.shape
    groups = [(m, k) for m in range(n_models) for k in range(n_methods)]
    values = result.scores.reshape(n_images, len(groups), n_columns)
    series = values.transpose(1, 2, 0).reshape(len(groups) * n_columns, n_images)
    if fast:
        low, high = stats.bootstrap_ci(
            series,
            n_resamples=settings.n_bootstrap,
            confidence=settings.confidence,
            rng=[settings.seed, _BOOTSTRAP],
        )
    else:
        low, high = np.array([_scipy_ci(row, settings) for row in series]).T.reshape(2, -1)
    finite = np.isfinite(series)
    counts = finite.sum(axis=1)
    mean = np.where(counts > 0, np.where(finite, series, 0).sum(axis=1) / np.maximum(counts, 1), np.nan)
    use_sb = settings.normalise_by == "spearman_brown"
    result.summary = []
    for g, (m, k) in enumerate(groups):
        for c, name in enumerate(result.columns):
            j = g * n_columns + c
            row = {
                "model": result.models[m],
                "method": result.methods[k],
                "metric": name,
                "higher_is_better": name not in LOWER_IS_BETTER,
                "n_images": int(counts[j]),
                "mean": float(mean[j]),
                "ci_low": float(low[j]),
                "ci_high": float(high[j]),
            }
            if name in settings.ceiling_metrics:
                top = _nanmean(result.ceiling_spearman_brown[:, c] if use_sb else result.ceiling[:, c])
                bottom = _nanmean(result.floor[:, c])
                row.update(
                    ceiling=_nanmean(result.ceiling[:, c]),
                    ceiling_spearman_brown=_nanmean(result.ceiling_spearman_brown[:, c]),
                    floor=bottom,
                    normalised_by=settings.normalise_by,
                    above_floor=(row["mean"] - bottom) / (top - bottom) if top != bottom else float("nan"),
                )
                if name not in LOWER_IS_BETTER:
                    row.update(
                        normalised=row["mean"] / top,
                        normalised_ci_low=row["ci_low"] / top,
                        normalised_ci_high=row["ci_high"] / top,
                    )
            result.summary.append(row)

    pairs, differences = pairwise_differences(result.scores)
    if fast:
        observed, pvalues = stats.permutation_pvalues(
            differences, n_resamples=settings.n_permutations, rng=[settings.seed, _PERMUTATION]
        )
    else:
        observed, pvalues = np.array([_scipy_pvalue(column, settings) for column in differences.T]).T.reshape(
            2, -1
        )
    result.comparisons = []
    for c, name in enumerate(result.columns):
        block = slice(c * len(pairs), (c + 1) * len(pairs))
        adjusted = stats.holm(pvalues[block])
        for (a, b), diff, p, p_holm in zip(pairs, observed[block], pvalues[block], adjusted):
            (ma, ka), (mb, kb) = groups[a], groups[b]
            result.comparisons.append(
                {
                    "metric": name,
                    "model_a": result.models[ma],
                    "method_a": result.methods[ka],
                    "model_b": result.models[mb],
                    "method_b": result.methods[kb],
                    "mean_difference": float(diff),
                    "p": float(p),
                    "p_holm": float(p_holm),
                }
            )


def pairwise_differences(scores: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(pairs of model x method groups, per-image differences (images, columns x pairs)),
    metric-major: column c's pairs are the block c * len(pairs) ... (c + 1) * len(pairs)."""
    n_images, n_models, n_methods, n_columns = scores.shape
    values = scores.reshape(n_images, n_models * n_methods, n_columns)
    pairs = stats.all_pairs(n_models * n_methods)
    if not pairs:
        return pairs, np.zeros((n_images, 0))
    columns = [values[:, a, c] - values[:, b, c] for c in range(n_columns) for a, b in pairs]
    return pairs, np.stack(columns, axis=1)


def _nanmean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


# --- hierarchical bootstrap ----------------------------------------------------------------


def _hierarchical(human_maps, model_maps, include, shape, settings: Settings, workers: int) -> dict:
    """Percentile CIs of each model x method's mean when both images and, within each drawn
    image, participants are resampled with replacement (the human mean recomputed from the
    drawn participants each time). Costs about ``hierarchical_resamples`` x images x (one
    ranking + scoring): minutes for a few hundred images, hours for thousands.

    The image indices are those ``bootstrap_ci`` draws for the same seed, so with one
    participant per image the interval equals the image-level one."""
    columns = [c for c in settings.columns() if c in settings.hierarchical_metrics]
    needed = _needed(columns)
    n_images = len(include)
    n_models, n_methods = np.shape(model_maps)[1:3]
    resamples = settings.hierarchical_resamples
    drawn = _rng(settings, _BOOTSTRAP).integers(0, n_images, (resamples, n_images))
    rng = _rng(settings, _HIERARCHICAL)
    draws = []  # per image: (resample of each draw, participant indices)
    for i in range(n_images):
        which = np.nonzero(drawn == i)[0]
        kept = int(include[i].sum())
        draws.append((which, rng.integers(0, kept, (which.size, kept))))
    sums = np.zeros((resamples, n_models * n_methods, len(columns)))

    def image(i):
        which, participants = draws[i]
        if not which.size:
            return None
        xn = _normalised(human_maps[i], include[i], settings)
        maps = _Maps(np.asarray(model_maps[i]).reshape(n_models * n_methods, -1), shape, settings, needed)
        out = []
        for r, chosen in zip(which, participants):
            weights = np.bincount(chosen, minlength=len(xn)) / len(xn)
            mean = weights @ xn
            if settings.blur:
                mean = harmonization_blur(mean.reshape(shape)).ravel()
            ref = _Reference(mean.astype(np.float32), shape, settings, needed)
            out.append((r, _score(maps, ref, settings, columns)))
        return out

    counts = np.zeros_like(sums)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for out in pool.map(image, range(n_images)):
            for r, values in out or ():
                finite = np.isfinite(values)
                sums[r] += np.where(finite, values, 0.0)
                counts[r] += finite
    with np.errstate(invalid="ignore"):
        boot = sums / counts  # images where a score is undefined are left out of that mean
    alpha = (1 - settings.confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return {"columns": columns, "low": low, "high": high}


def _attach_hierarchical(result: StudyAnalysis) -> None:
    info = result.hierarchical_ci
    n_methods = len(result.methods)
    for row in result.summary:
        if row["metric"] in info["columns"]:
            g = result.models.index(row["model"]) * n_methods + result.methods.index(row["method"])
            c = info["columns"].index(row["metric"])
            row["hierarchical_ci_low"] = float(info["low"][g, c])
            row["hierarchical_ci_high"] = float(info["high"][g, c])
